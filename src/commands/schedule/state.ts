import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The last run of each job, so that catch-up and `schedule list` survive restarts. */
export interface LastRun {
  slot: string;
  start: string;
  end?: string;
  outcome?: string;
}

export interface StateStore {
  lastRun(job: string): Promise<LastRun | undefined>;
  record(job: string, run: LastRun): Promise<void>;
}

/** A JSON file written atomically (temp file + rename): a crash leaves the old or the new state. */
export class FileStateStore implements StateStore {
  private cache: Record<string, LastRun> | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {}

  private async load(): Promise<Record<string, LastRun>> {
    if (this.cache) return this.cache;
    try {
      this.cache = JSON.parse(await readFile(this.path, 'utf8')) as Record<string, LastRun>;
    } catch {
      this.cache = {};
    }
    return this.cache;
  }

  async lastRun(job: string): Promise<LastRun | undefined> {
    return (await this.load())[job];
  }

  async record(job: string, run: LastRun): Promise<void> {
    const state = await this.load();
    state[job] = run;
    const text = `${JSON.stringify(state, null, 2)}\n`;
    this.writing = this.writing.then(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, this.path);
    });
    await this.writing;
  }
}

export class MemoryStateStore implements StateStore {
  readonly runs = new Map<string, LastRun>();
  async lastRun(job: string) {
    return this.runs.get(job);
  }
  async record(job: string, run: LastRun) {
    this.runs.set(job, run);
  }
}
