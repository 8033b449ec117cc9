// The dashboard's build: `npm run build` runs `vite build ui`, which writes dist/ui (served at /ui).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/ui/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // the whole page is one small script and one stylesheet; no inline script (the CSP forbids it)
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
