import { Transform, type TransformCallback } from 'node:stream';
import { Worker } from 'node:worker_threads';

import type { MaskKey } from '../keyed.js';
import type { Rule } from '../rules.js';
import type { ColumnType } from '../types.js';

export interface WorkerColumn {
  index: number;
  rule: Rule;
  type: ColumnType;
}
export interface WorkerInit {
  master: Uint8Array;
  deterministic: boolean;
}
export type WorkerRequest =
  | { type: 'table'; table: number; columns: WorkerColumn[] }
  | { type: 'block'; id: number; table: number; data: Uint8Array };
export type WorkerResponse = { id: number; data: Uint8Array; rows: number } | { id: number; error: string };

interface Pending {
  resolve: (r: { data: Uint8Array; rows: number }) => void;
  reject: (err: Error) => void;
}

/** Worker threads shared by every table of one masked copy. */
export class MaskWorkerPool {
  private readonly workers: { worker: Worker; busy: number; pending: Map<number, Pending> }[] = [];
  private nextId = 0;
  private nextTable = 0;
  private failure: Error | undefined;

  constructor(key: MaskKey, size: number) {
    const init: WorkerInit = { master: key.master, deterministic: key.deterministic };
    for (let i = 0; i < size; i++) {
      const worker = new Worker(new URL('./mask-worker.js', import.meta.url), { workerData: init });
      const slot = { worker, busy: 0, pending: new Map<number, Pending>() };
      worker.on('message', (r: WorkerResponse) => {
        const p = slot.pending.get(r.id);
        if (!p) return;
        slot.pending.delete(r.id);
        slot.busy--;
        if ('error' in r) p.reject(new Error(r.error));
        else p.resolve(r);
      });
      const fail = (err: Error) => {
        this.failure ??= err;
        for (const p of slot.pending.values()) p.reject(err);
        slot.pending.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (code !== 0) fail(new Error(`masking worker exited with code ${code}`));
      });
      worker.unref();
      this.workers.push(slot);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Declares a table's masked columns to every worker; returns its id for `mask`. */
  addTable(columns: WorkerColumn[]): number {
    const table = this.nextTable++;
    for (const w of this.workers)
      w.worker.postMessage({ type: 'table', table, columns } satisfies WorkerRequest);
    return table;
  }

  mask(table: number, data: Uint8Array): Promise<{ data: Uint8Array; rows: number }> {
    if (this.failure) return Promise.reject(this.failure);
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.busy++;
      // A fresh buffer, transferred: no second copy, and never a view into a pooled allocation.
      const own = new Uint8Array(data);
      slot.worker.postMessage({ type: 'block', id, table, data: own } satisfies WorkerRequest, [own.buffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}

/**
 * Cuts the COPY text stream at line ends (0x0A never occurs inside a UTF-8 sequence), masks the
 * blocks in the pool's workers, and emits the results in input order. At most `window` blocks are
 * in flight, which is the backpressure towards the source.
 */
export class PooledRowMasker extends Transform {
  rows = 0;
  private rest: Buffer = Buffer.alloc(0);
  private seq = 0;
  private nextOut = 0;
  private inflight = 0;
  private readonly done = new Map<number, { data: Uint8Array; rows: number }>();
  private onRoom: TransformCallback | undefined;
  private flushed: TransformCallback | undefined;

  constructor(
    private readonly pool: MaskWorkerPool,
    private readonly table: number,
    private readonly window = Math.max(2, pool.size * 2),
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const data = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const end = data.lastIndexOf(10);
    if (end < 0) {
      this.rest = Buffer.from(data);
      cb();
      return;
    }
    this.rest = Buffer.from(data.subarray(end + 1));
    this.dispatch(data.subarray(0, end + 1));
    if (this.inflight < this.window) cb();
    else this.onRoom = cb;
  }

  override _flush(cb: TransformCallback): void {
    if (this.rest.length) {
      this.dispatch(Buffer.concat([this.rest, Buffer.from('\n')]));
      this.rest = Buffer.alloc(0);
    }
    if (this.inflight === 0) cb();
    else this.flushed = cb;
  }

  private dispatch(block: Buffer): void {
    const id = this.seq++;
    this.inflight++;
    this.pool.mask(this.table, block).then(
      (r) => {
        this.done.set(id, r);
        this.drain();
      },
      (err: Error) => this.destroy(err),
    );
  }

  private drain(): void {
    for (let r = this.done.get(this.nextOut); r; r = this.done.get(this.nextOut)) {
      this.done.delete(this.nextOut++);
      this.inflight--;
      this.rows += r.rows;
      if (r.data.byteLength) this.push(r.data);
    }
    if (this.onRoom && this.inflight < this.window) {
      const cb = this.onRoom;
      this.onRoom = undefined;
      cb();
    }
    if (this.flushed && this.inflight === 0) {
      const cb = this.flushed;
      this.flushed = undefined;
      cb();
    }
  }
}
