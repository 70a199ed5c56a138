// A decayed log-bucket histogram of durations: the streaming quantile sketch of the learned model.
// 16 buckets per power of two from 0.01 ms to ~12 h (512 buckets, 4 KB), so a quantile read from it (by
// geometric interpolation inside its bucket) is within ~2 % of the sample's. O(1) per value: each new value
// weighs `growth` times the one before (an exponential decay by count: after `halfLife` values an old one
// weighs half), done by growing the increment rather than shrinking every bucket; the buckets are rescaled
// only when the increment gets large (once in ~1,000 half-lives).

const SUB = 16;
const OCTAVES = 32;
export const SKETCH_BUCKETS = SUB * OCTAVES;
/** The smallest duration told apart; shorter ones land in bucket 0. */
const FLOOR_MS = 0.01;
const RESCALE_AT = 1e100;

function bucketOf(ms: number): number {
  if (!(ms > FLOOR_MS)) return 0;
  const b = Math.floor(Math.log2(ms / FLOOR_MS) * SUB);
  return b >= SKETCH_BUCKETS ? SKETCH_BUCKETS - 1 : b;
}

/** Lower edges of the buckets (and the top one's upper edge): a power costs more than the rest of a read. */
const EDGES = Float64Array.from({ length: SKETCH_BUCKETS + 1 }, (_, i) => FLOOR_MS * 2 ** (i / SUB));

function edge(bucket: number): number {
  return EDGES[bucket];
}

export class DecayedHistogram {
  private readonly weights = new Float64Array(SKETCH_BUCKETS);
  private total = 0;
  private inc = 1;
  private readonly growth: number;
  /** Values ever added (not decayed): how much evidence there is. */
  count = 0;
  /** Decayed sum of the values, for the mean. */
  private sum = 0;

  /** `halfLife`: after this many more values, one weighs half as much. */
  constructor(readonly halfLife = 500) {
    if (!(halfLife >= 1)) throw new RangeError(`halfLife must be >= 1 (got ${halfLife})`);
    this.growth = 2 ** (1 / halfLife);
  }

  add(ms: number): void {
    if (!(ms >= 0 && ms < 1e12)) return;
    this.inc *= this.growth;
    if (this.inc > RESCALE_AT) this.rescale();
    this.weights[bucketOf(ms)] += this.inc;
    this.total += this.inc;
    this.sum += ms * this.inc;
    this.count++;
  }

  /** The weight the next value will have, relative to the decayed total (for companion decayed counters). */
  get increment(): number {
    return this.inc;
  }

  get totalWeight(): number {
    return this.total;
  }

  /** Called by companions that keep sums in the same units, when the buckets are rescaled. */
  onRescale: ((factor: number) => void) | undefined;

  private rescale(): void {
    const f = 1 / this.inc;
    for (let i = 0; i < SKETCH_BUCKETS; i++) this.weights[i] *= f;
    this.total *= f;
    this.sum *= f;
    this.inc = 1;
    this.onRescale?.(f);
  }

  mean(): number {
    return this.total > 0 ? this.sum / this.total : 0;
  }

  /**
   * The mean of the values above `fromMs`, minus fromMs: with fromMs the time a command has run, how much
   * longer it is expected to run. Each bucket counts at its geometric midpoint. NaN when none lie above.
   */
  meanRemaining(fromMs: number): number {
    if (this.total <= 0) return NaN;
    const b = fromMs > 0 ? bucketOf(fromMs) : 0;
    let w = 0;
    let s = 0;
    for (let i = b; i < SKETCH_BUCKETS; i++) {
      const wi = this.weights[i];
      if (wi === 0) continue;
      let lo = i === 0 ? 0 : edge(i);
      const hi = edge(i + 1);
      let share = 1;
      if (i === b && fromMs > lo) {
        share = fromMs >= hi ? 0 : i === 0 ? 1 - fromMs / hi : Math.log(hi / fromMs) / Math.log(hi / lo);
        lo = fromMs;
      }
      if (share <= 0) continue;
      const mid = lo > 0 ? Math.sqrt(lo * hi) : hi / 2;
      w += wi * share;
      s += wi * share * mid;
    }
    return w > 0 ? Math.max(0, s / w - fromMs) : NaN;
  }

  /** The decayed share of values at or below `ms` (0..1), interpolated inside its bucket. */
  cdf(ms: number): number {
    if (this.total <= 0) return 0;
    const b = bucketOf(ms);
    let below = 0;
    for (let i = 0; i < b; i++) below += this.weights[i];
    const lo = b === 0 ? 0 : edge(b);
    const hi = edge(b + 1);
    const frac = ms <= lo ? 0 : ms >= hi ? 1 : b === 0 ? ms / hi : Math.log(ms / lo) / Math.log(hi / lo);
    return Math.min(1, (below + this.weights[b] * frac) / this.total);
  }

  /** The duration at decayed quantile q (0..1), interpolated geometrically inside its bucket; 0 when empty. */
  quantile(q: number): number {
    return this.quantileFrom(0, q);
  }

  /**
   * The duration d at which a share q of the values above `fromMs` is at or below d: with fromMs the time a
   * command has run, the quantile of its total duration given it has not ended yet.
   */
  quantileFrom(fromMs: number, q: number): number {
    if (this.total <= 0) return 0;
    const f0 = fromMs > 0 ? this.cdf(fromMs) : 0;
    if (f0 >= 1 - 1e-12) return fromMs; // past every value seen
    const target = (f0 + Math.min(1, Math.max(0, q)) * (1 - f0)) * this.total;
    let seen = 0;
    let top = 0;
    for (let i = 0; i < SKETCH_BUCKETS; i++) {
      const w = this.weights[i];
      if (w === 0) continue;
      top = edge(i + 1);
      if (seen + w >= target) {
        const frac = (target - seen) / w;
        const lo = i === 0 ? 0 : edge(i);
        const v = i === 0 ? top * frac : lo * (top / lo) ** frac;
        return Math.max(v, fromMs);
      }
      seen += w;
    }
    return Math.max(top, fromMs); // rounding left the target a hair above the sum
  }
}
