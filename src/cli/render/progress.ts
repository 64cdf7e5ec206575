import type { Progress } from '../../logger.js';
import { noProgress } from '../../logger.js';
import { formatBytes } from './table.js';

/** A one-line progress display on stderr, only when stderr is a terminal. */
export function stderrProgress(enabled: boolean, unit: 'bytes' | 'rows' = 'bytes'): Progress {
  if (!enabled || !process.stderr.isTTY) return noProgress;
  let label = '';
  let started = 0;
  let last = 0;
  const fmt = (n: number) => (unit === 'bytes' ? formatBytes(n) : `${n.toLocaleString('en-US')} rows`);
  return {
    start(l) {
      label = l;
      started = Date.now();
    },
    update(done, total) {
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      const secs = Math.max((now - started) / 1000, 0.001);
      const rate = done / secs;
      const pct = total ? ` ${((done / total) * 100).toFixed(0)}%` : '';
      const eta = total && rate > 0 ? ` eta ${Math.max(0, Math.round((total - done) / rate))}s` : '';
      process.stderr.write(`\r\x1b[2K${label} ${fmt(done)}${pct} ${fmt(rate)}/s${eta}`);
    },
    stop() {
      process.stderr.write('\r\x1b[2K');
    },
  };
}
