// How a command's time in the service grows with the number running: the knee. Samples are kept per number
// running at start (1..MAX_LEVEL, more lumped into the last), as a decayed weight and weighted sum, and fitted
// on demand to `serviceMs(n) = baseMs * max(1, n / capacity)`: flat up to `capacity` commands at once, then
// proportional (a service that does `capacity` commands' work at a time). The least-squares fit tries
// capacities in quarter steps; a knee is reported only when the data reach past it and show it (the fitted
// slowdown at the highest level seen is at least MIN_SLOWDOWN and the fit explains at least half of what a
// flat line leaves unexplained). Otherwise time in the service did not grow with concurrency, as far as seen.

export const MAX_LEVEL = 64;
/** A level counts only with this many samples. */
const MIN_LEVEL_SAMPLES = 5;
const MIN_SLOWDOWN = 1.15;

export interface Knee {
  /** Commands at once up to which the time in the service does not grow. */
  capacity: number;
  /** Time in the service below the knee (ms). */
  baseMs: number;
  /** Highest number running at start with enough samples (the fit's reach). */
  maxLevelSeen: number;
}

/** The slowdown with `running` commands at once: 1 up to the knee, then running / capacity. */
export function slowdown(knee: Knee | undefined, running: number): number {
  return knee && running > knee.capacity ? running / knee.capacity : 1;
}

export class ConcurrencyProfile {
  /** Decayed weight and weighted sum of times per level; index 0 unused. */
  private readonly weight = new Float64Array(MAX_LEVEL + 1);
  private readonly sum = new Float64Array(MAX_LEVEL + 1);
  private readonly count = new Uint32Array(MAX_LEVEL + 1);
  private fitted: Knee | undefined | null = null;

  /** `weight`: the sample's weight (a decayed increment; 1 when not decaying). */
  add(running: number, serviceMs: number, weight = 1): void {
    if (!(running >= 1) || !(serviceMs >= 0)) return;
    const level = running > MAX_LEVEL ? MAX_LEVEL : Math.floor(running);
    this.weight[level] += weight;
    this.sum[level] += serviceMs * weight;
    this.count[level]++;
    this.fitted = null;
  }

  rescale(factor: number): void {
    for (let i = 1; i <= MAX_LEVEL; i++) {
      this.weight[i] *= factor;
      this.sum[i] *= factor;
    }
  }

  /** The knee, or undefined when none is shown. Cached until the next sample. */
  knee(): Knee | undefined {
    if (this.fitted === null) this.fitted = fitKnee(this.weight, this.sum, this.count);
    return this.fitted;
  }
}

/** Least-squares fit of baseMs * max(1, n / capacity) to per-level means; see the file's comment. */
export function fitKnee(weight: ArrayLike<number>, sum: ArrayLike<number>, count: ArrayLike<number>): Knee | undefined {
  const levels: number[] = [];
  for (let n = 1; n < weight.length; n++) if (count[n] >= MIN_LEVEL_SAMPLES && weight[n] > 0) levels.push(n);
  if (levels.length < 2) return undefined;
  const maxLevel = levels[levels.length - 1];
  // Level weights normalised so that the mass of evidence at each level counts (decayed weights).
  const sse = (capacity: number): { sse: number; base: number } => {
    let num = 0;
    let den = 0;
    for (const n of levels) {
      const f = n > capacity ? n / capacity : 1;
      num += weight[n] * (sum[n] / weight[n]) * f;
      den += weight[n] * f * f;
    }
    const base = num / den;
    let e = 0;
    for (const n of levels) {
      const f = n > capacity ? n / capacity : 1;
      const d = sum[n] / weight[n] - base * f;
      e += weight[n] * d * d;
    }
    return { sse: e, base };
  };
  const flat = sse(Infinity);
  let best = { capacity: Infinity, sse: flat.sse, base: flat.base };
  for (let c = 1; c < maxLevel; c += 0.25) {
    const r = sse(c);
    if (r.sse < best.sse) best = { capacity: c, sse: r.sse, base: r.base };
  }
  if (!Number.isFinite(best.capacity)) return undefined;
  if (maxLevel / best.capacity < MIN_SLOWDOWN) return undefined;
  if (best.sse > 0.5 * flat.sse) return undefined;
  return { capacity: best.capacity, baseMs: best.base, maxLevelSeen: maxLevel };
}
