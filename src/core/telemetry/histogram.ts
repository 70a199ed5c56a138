// Bounded latency histogram: log-linear buckets over microseconds (16 per power of two, so a percentile is
// within ~3% of the true value), from 1 µs to ~71 minutes. Fixed memory (4 KB), O(1) record, and
// mergeable, so it can be persisted in the stats snapshot and restored.
import { round3 } from '../numbers';

const SUB_BITS = 4;
const SUB = 1 << SUB_BITS;
const MAX_EXP = 32;
export const HISTOGRAM_BUCKETS = 1 + MAX_EXP * SUB;

function bucketOf(ms: number): number {
  const us = ms * 1000;
  if (!(us >= 1)) return 0;
  if (us >= 2 ** MAX_EXP) return HISTOGRAM_BUCKETS - 1;
  const v = Math.floor(us) >>> 0;
  const e = 31 - Math.clz32(v);
  const sub = e >= SUB_BITS ? (v >>> (e - SUB_BITS)) & (SUB - 1) : (v << (SUB_BITS - e)) & (SUB - 1);
  return 1 + e * SUB + sub;
}

/** Midpoint of a bucket, in ms. */
function valueOf(bucket: number): number {
  if (bucket === 0) return 0;
  const e = Math.floor((bucket - 1) / SUB);
  const sub = (bucket - 1) % SUB;
  return (2 ** e * (1 + (sub + 0.5) / SUB)) / 1000;
}

/** The smallest and largest value (ms) a bucket holds. */
function lowerEdge(bucket: number): number {
  if (bucket === 0) return 0;
  const e = Math.floor((bucket - 1) / SUB);
  return (2 ** e * (1 + ((bucket - 1) % SUB) / SUB)) / 1000;
}

function upperEdge(bucket: number): number {
  if (bucket === 0) return 0.001;
  const e = Math.floor((bucket - 1) / SUB);
  return (2 ** e * (1 + (((bucket - 1) % SUB) + 1) / SUB)) / 1000;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(HISTOGRAM_BUCKETS);
  private total = 0;
  /** Exact extremes: a bucket's midpoint can lie outside what was seen, a percentile never may. */
  private lo = Infinity;
  private hi = -Infinity;

  get count(): number {
    return this.total;
  }

  /** The smallest and largest value recorded, in ms (0 when empty). */
  get min(): number {
    return this.total ? this.lo : 0;
  }

  get max(): number {
    return this.total ? this.hi : 0;
  }

  record(ms: number): void {
    this.counts[bucketOf(ms)]++;
    this.total++;
    if (ms < this.lo) this.lo = ms;
    if (ms > this.hi) this.hi = ms;
  }

  /** The value at quantile q (0..1), in ms rounded to µs; 0 when empty. */
  quantile(q: number): number {
    return this.quantiles([q])[0];
  }

  /**
   * The values at quantiles `qs` (ascending, each 0..1) in one pass over the buckets; 0s when empty. Each lies
   * within [min, max] of what was recorded (one sample: every quantile is that sample).
   */
  quantiles(qs: readonly number[]): number[] {
    const out = new Array<number>(qs.length).fill(0);
    if (this.total === 0) return out;
    const clamp = (v: number) => round3(Math.min(this.hi, Math.max(this.lo, v)));
    let k = 0;
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS && k < qs.length; i++) {
      seen += this.counts[i];
      while (k < qs.length && seen >= Math.max(1, Math.ceil(qs[k] * this.total))) out[k++] = clamp(valueOf(i));
    }
    while (k < qs.length) out[k++] = clamp(valueOf(HISTOGRAM_BUCKETS - 1));
    return out;
  }

  clear(): void {
    this.counts.fill(0);
    this.total = 0;
    this.lo = Infinity;
    this.hi = -Infinity;
  }

  /** Adds another histogram's counts (figures over several sources). */
  add(other: LatencyHistogram): void {
    if (other.total === 0) return;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    this.lo = Math.min(this.lo, other.lo);
    this.hi = Math.max(this.hi, other.hi);
  }

  /** Sparse form for snapshots: [bucket, count] pairs. */
  toJSON(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) if (this.counts[i] > 0) out.push([i, this.counts[i]]);
    return out;
  }

  /**
   * Adds counts from toJSON() output; malformed pairs are ignored. `min`/`max` are the extremes saved with them
   * (snapshots from before they were saved have none: then the merged buckets' own ranges bound them).
   */
  merge(pairs: unknown, min?: unknown, max?: unknown): void {
    if (!Array.isArray(pairs)) return;
    const before = this.total;
    for (const p of pairs) {
      if (!Array.isArray(p)) continue;
      const [i, n] = p as unknown[];
      if (Number.isInteger(i) && (i as number) >= 0 && (i as number) < HISTOGRAM_BUCKETS && Number.isFinite(n) && (n as number) > 0) {
        this.counts[i as number] += n as number;
        this.total += n as number;
        if (typeof min !== 'number' || typeof max !== 'number') {
          this.lo = Math.min(this.lo, lowerEdge(i as number));
          this.hi = Math.max(this.hi, upperEdge(i as number));
        }
      }
    }
    if (this.total > before && typeof min === 'number' && typeof max === 'number' && Number.isFinite(min) && Number.isFinite(max) && min <= max) {
      this.lo = Math.min(this.lo, min);
      this.hi = Math.max(this.hi, max);
    }
  }
}
