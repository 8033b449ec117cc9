/**
 * Whether this agent is drained, kept in a file in its home so a drained node stays drained when
 * its agent restarts (an operator drains a node to take it down; a restart must not undo that).
 */
import { unlinkSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const FILE = 'node-drained';

export class DrainState {
  private constructor(
    private readonly file: string,
    private drained: boolean,
  ) {}

  static async load(home: string): Promise<DrainState> {
    const file = join(home, FILE);
    const drained = await readFile(file, 'utf8').then(
      () => true,
      (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return false;
        throw e;
      },
    );
    return new DrainState(file, drained);
  }

  state(): 'ready' | 'draining' {
    return this.drained ? 'draining' : 'ready';
  }

  async drain(): Promise<void> {
    if (this.drained) return;
    await mkdir(join(this.file, '..'), { recursive: true });
    // Written whole then renamed: a crash mid-write leaves no half-drained file.
    await writeFile(`${this.file}.tmp`, `drained at ${new Date().toISOString()}\n`);
    await rename(`${this.file}.tmp`, this.file);
    this.drained = true;
  }

  resume(): void {
    this.drained = false;
    try {
      unlinkSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}
