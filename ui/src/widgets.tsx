/** Small pieces every page uses. */
import type { ComponentChildren } from 'preact';
import { ApiError } from './api.js';

export function Status(p: { status: string | null | undefined }) {
  const s = p.status ?? 'unknown';
  return <span class={`status status-${s}`}>{s}</span>;
}

export function ErrorBox(p: { error: Error | undefined }) {
  if (!p.error) return null;
  const hint = p.error instanceof ApiError ? p.error.hint : undefined;
  return (
    <div class="error" role="alert">
      {p.error.message}
      {hint && <div class="hint">{hint}</div>}
    </div>
  );
}

export function Loading(p: { what: string }) {
  return <p class="muted">Loading {p.what}…</p>;
}

export function Section(p: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section>
      <header class="section-head">
        <h2>{p.title}</h2>
        {p.actions}
      </header>
      {p.children}
    </section>
  );
}

export function Pre(p: { text: string; label: string }) {
  return (
    <figure class="tail">
      <figcaption>{p.label}</figcaption>
      <pre data-tail={p.label}>{p.text || <span class="muted">(empty)</span>}</pre>
    </figure>
  );
}
