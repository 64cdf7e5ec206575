import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

import { ToolError } from '../../errors.js';
import { zstdLevelFlag } from '../../streams/compression-spec.js';

/** Runs `zstd -q -c LEVEL -- file > out`; resolves when `out` is complete. */
export type ZstdRunner = (file: string, out: string, level: number) => Promise<void>;

/*
 * The background worker compresses segment after segment, and starting a child process from Node
 * costs its main thread ~18 ms (measured with --cpu-prof: 0.7 s of 4.5 s for 40 segments), the
 * thread that also reads and hashes every segment and so sets the worker's pace. A lane is one
 * long-lived /bin/sh that starts zstd for each request it reads on stdin (a fork of a small shell
 * instead of one of Node), and answers one line per request.
 */
const LANE_SCRIPT = `z=$1
while IFS= read -r level && IFS= read -r f && IFS= read -r out; do
  if "$z" -q -c "$level" -- "$f" > "$out"; then echo ok; else echo "fail $?"; fi
done`;

interface Lane {
  child: ChildProcessWithoutNullStreams;
  busy: boolean;
  pending?: { resolve: () => void; reject: (e: Error) => void; file: string };
  stderr: string;
  buffered: string;
}

export class ZstdLanes {
  private readonly lanes: Lane[] = [];
  private readonly queue: {
    file: string;
    out: string;
    level: number;
    resolve: () => void;
    reject: (e: Error) => void;
  }[] = [];

  constructor(
    private readonly binary: string,
    private readonly size: number,
  ) {}

  readonly run: ZstdRunner = (file, out, level) =>
    new Promise<void>((resolve, reject) => {
      this.queue.push({ file, out, level, resolve, reject });
      this.dispatch();
    });

  /** Ends every lane (their shells exit when stdin closes). */
  close(): void {
    for (const lane of this.lanes) lane.child.stdin.end();
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let lane = this.lanes.find((l) => !l.busy && l.child.exitCode === null);
      if (!lane && this.lanes.length < this.size) lane = this.startLane();
      if (!lane) return;
      const job = this.queue.shift()!;
      lane.busy = true;
      lane.pending = { resolve: job.resolve, reject: job.reject, file: job.file };
      lane.stderr = '';
      // WAL file and spool paths never contain a newline (PostgreSQL's names, our own paths).
      lane.child.stdin.write(`${zstdLevelFlag(job.level)}\n${job.file}\n${job.out}\n`);
    }
  }

  private startLane(): Lane {
    const child = spawn('/bin/sh', ['-c', LANE_SCRIPT, 'zstd-lane', this.binary], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const lane: Lane = { child, busy: false, stderr: '', buffered: '' };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      lane.buffered += d;
      let nl;
      while ((nl = lane.buffered.indexOf('\n')) >= 0) {
        const line = lane.buffered.slice(0, nl);
        lane.buffered = lane.buffered.slice(nl + 1);
        this.finish(lane, line === 'ok' ? undefined : line);
      }
    });
    child.stderr.on('data', (d: Buffer) => (lane.stderr = (lane.stderr + d.toString()).slice(-2000)));
    const fail = (why: string) => {
      const i = this.lanes.indexOf(lane);
      if (i >= 0) this.lanes.splice(i, 1);
      if (lane.pending) this.finish(lane, why);
      // Whatever waits gets a new lane.
      this.dispatch();
    };
    child.on('error', (e) => fail(e.message));
    child.on('close', (code) => fail(`lane exited (${code})`));
    this.lanes.push(lane);
    return lane;
  }

  private finish(lane: Lane, failure: string | undefined): void {
    const p = lane.pending;
    lane.pending = undefined;
    lane.busy = false;
    if (p) {
      if (failure === undefined) p.resolve();
      else
        p.reject(
          new ToolError(`zstd failed on ${p.file}: ${lane.stderr.trim() || failure}`, { tool: 'zstd' }),
        );
    }
    this.dispatch();
  }
}
