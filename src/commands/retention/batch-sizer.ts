/**
 * Adapts the batch size to a bound on one batch's duration: shrink at once when a batch is slow,
 * grow while batches are fast. It aims at 30 % of the bound: a batch of the same size took twice
 * as long under load (a checkpoint, a busy disk, another backend's burst), and its commit (the
 * batch's WAL flush, not covered by statement_timeout, which cancels the statement at 70 %) took
 * up to 150 ms on a shared 2-core machine. Batch cost is close to linear in rows once past ~1k
 * rows (see the research measurements), so scaling by the time ratio is sound, and batches of
 * 30k rows instead of 50k cost no throughput: per-batch overhead is a few ms.
 */
const TARGET_SHARE = 0.3;

export class BatchSizer {
  private size: number;

  constructor(
    initial: number,
    private readonly min: number,
    private max: number,
    private readonly boundMs: number,
  ) {
    this.size = clamp(initial, min, max);
  }

  get current(): number {
    return this.size;
  }

  /** A committed batch of `rows` (asked: `asked`) took `ms`. */
  record(rows: number, asked: number, ms: number): void {
    const target = this.boundMs * TARGET_SHARE;
    if (ms > target) {
      // Slow: shrink at once, proportionally, and a little more to get back under the target.
      this.size = clamp(Math.floor((this.size * target * 0.8) / Math.max(ms, 1)), this.min, this.max);
    } else if (rows >= asked && ms < target * 0.8) {
      // Fast and full: grow by at most 2× per batch (a partial batch says nothing about speed).
      const factor = Math.min(2, (target * 0.8) / Math.max(ms, 1));
      this.size = clamp(Math.floor(this.size * Math.max(1, factor)), this.min, this.max);
    }
  }

  /** Moves the upper bound (a page walk's limit follows the density of eligible rows). */
  setMax(max: number): void {
    this.max = Math.max(max, this.min);
    this.size = clamp(this.size, this.min, this.max);
  }

  /** A batch was cancelled by the duration bound before it committed. */
  timedOut(): void {
    this.size = clamp(Math.floor(this.size / 4), this.min, this.max);
  }

  get atMinimum(): boolean {
    return this.size <= this.min;
  }
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(Math.max(Math.round(n), min), max);
}
