import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const CLI = resolve('dist/src/cli/main.js');

export interface AgniUp {
  p: ChildProcess;
  url: string;
  /** everything the server printed so far, stdout and stderr */
  out(): string;
}

/** Runs a real `agni up` on a free port with `home`; resolves once its start banner (URL and backend) is out. */
export function spawnAgniUp(home: string, extra: string[] = []): Promise<AgniUp> {
  const p = spawn(process.execPath, [CLI, 'up', '--port', '0', '--home', home, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`agni up did not start: ${out}`)), 15000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && /agni up: backend /.test(out)) {
        clearTimeout(timer);
        res({ p, url: m[1]!, out: () => out });
      }
    };
    p.stdout!.on('data', onData);
    p.stderr!.on('data', onData);
    p.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`agni up exited ${code}: ${out}`));
    });
  });
}
