import { parentPort, workerData } from 'node:worker_threads';

import { MaskKey } from '../keyed.js';
import { maskValue, type MaskContext } from '../mask.js';
import { maskCopyBlock, type FieldMasker } from './copy-text.js';
import type { WorkerInit, WorkerRequest, WorkerResponse, WorkerColumn } from './mask-pool.js';

/**
 * Worker thread of a masked copy: masks blocks of COPY text lines. The main thread only moves
 * bytes between the two COPY streams, so one busy table no longer stalls the others' pipes, and
 * masking runs on another core.
 */
const init = workerData as WorkerInit;
const ctx: MaskContext = {
  key: new MaskKey({ master: init.master, deterministic: init.deterministic }),
  mode: 'copy',
};
const tables = new Map<number, (FieldMasker | undefined)[]>();

function maskersOf(columns: WorkerColumn[]): (FieldMasker | undefined)[] {
  const out: (FieldMasker | undefined)[] = [];
  for (const c of columns) out[c.index] = (value, cx) => maskValue(c.rule, value, c.type, cx);
  return Array.from({ length: out.length }, (_, i) => out[i]);
}

parentPort!.on('message', (m: WorkerRequest) => {
  if (m.type === 'table') {
    tables.set(m.table, maskersOf(m.columns));
    return;
  }
  let reply: WorkerResponse;
  try {
    const maskers = tables.get(m.table);
    if (!maskers) throw new Error(`unknown table ${m.table}`);
    const block = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength).toString('utf8');
    const { text, rows } = maskCopyBlock(block, maskers, ctx);
    reply = { id: m.id, data: Buffer.from(text, 'utf8'), rows };
  } catch (err) {
    reply = { id: m.id, error: (err as Error).message };
  }
  parentPort!.postMessage(reply);
});
