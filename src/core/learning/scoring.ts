// Honesty of the predictions: each one is scored against what then happened. A duration prediction (p50 and
// p90 of a command's time in the service, made as it starts) is scored when it ends: covered when it took at
// most the p90, and its error is |actual - p50|. A wait prediction (made while a command is queued) is scored
// when it starts. Figures over a rolling window of the last `window` predictions of each kind, and since the
// start; per type for durations.

export interface DurationAccuracy {
  /** Scored predictions in the window (and since the start). */
  predictions: number;
  total: number;
  /** Share of outcomes at or below their p90, in the window (NaN when none). Well calibrated: ~0.9. */
  p90Coverage: number;
  /** Share at or below their p50 (calibrated: ~0.5). */
  p50Coverage: number;
  /** Mean |actual - p50| (ms) in the window. */
  meanAbsErrorMs: number;
  /** Median of |actual - p50| / actual in the window (0.2: typically off by 20 %). */
  medianRelativeError: number;
}

export interface WaitAccuracy {
  predictions: number;
  total: number;
  /** Mean |actual - predicted| of the remaining wait (ms), in the window. */
  meanAbsErrorMs: number;
  /** Mean of (actual - predicted) (ms): > 0 when waits are longer than said. */
  meanBiasMs: number;
}

/** One command type's duration predictions, since the start. */
export interface TypeAccuracy {
  predictions: number;
  p90Coverage: number;
  /** Mean |actual - p50| (ms). */
  meanAbsErrorMs: number;
}

export interface PredictionAccuracy {
  durations: DurationAccuracy;
  /** Per command type, since the start. */
  byType: Record<string, TypeAccuracy>;
  waits: WaitAccuracy;
}

/** A fixed-size ring of numbers. */
class Ring {
  readonly values: Float64Array;
  size = 0;
  private at = 0;

  constructor(capacity: number) {
    this.values = new Float64Array(capacity);
  }

  push(v: number): void {
    this.values[this.at] = v;
    this.at = (this.at + 1) % this.values.length;
    if (this.size < this.values.length) this.size++;
  }

  *[Symbol.iterator](): IterableIterator<number> {
    for (let i = 0; i < this.size; i++) yield this.values[i];
  }
}

const MAX_SCORED_TYPES = 256;

export class PredictionScorer {
  private readonly covered90: Ring;
  private readonly covered50: Ring;
  private readonly absError: Ring;
  private readonly relError: Ring;
  private durationTotal = 0;
  private readonly types = new Map<string, { n: number; covered: number; absError: number }>();
  private readonly waitError: Ring;
  private waitTotal = 0;

  constructor(window = 500) {
    const n = Math.max(1, Math.floor(window));
    this.covered90 = new Ring(n);
    this.covered50 = new Ring(n);
    this.absError = new Ring(n);
    this.relError = new Ring(n);
    this.waitError = new Ring(n);
  }

  scoreDuration(commandType: string, p50Ms: number, p90Ms: number, actualMs: number): void {
    const covered = actualMs <= p90Ms ? 1 : 0;
    this.covered90.push(covered);
    this.covered50.push(actualMs <= p50Ms ? 1 : 0);
    const err = Math.abs(actualMs - p50Ms);
    this.absError.push(err);
    this.relError.push(actualMs > 0 ? err / actualMs : 0);
    this.durationTotal++;
    let t = this.types.get(commandType);
    if (!t && this.types.size < MAX_SCORED_TYPES) this.types.set(commandType, (t = { n: 0, covered: 0, absError: 0 }));
    if (t) {
      t.n++;
      t.covered += covered;
      t.absError += err;
    }
  }

  /** `actualMs - predictedMs` of a remaining wait. */
  scoreWait(predictedMs: number, actualMs: number): void {
    this.waitError.push(actualMs - predictedMs);
    this.waitTotal++;
  }

  report(): PredictionAccuracy {
    const mean = (r: Ring, f: (v: number) => number = (v) => v): number => {
      if (r.size === 0) return NaN;
      let s = 0;
      for (const v of r) s += f(v);
      return s / r.size;
    };
    const rel = Float64Array.from(this.relError).sort();
    const byType: PredictionAccuracy['byType'] = {};
    for (const [name, t] of this.types) byType[name] = { predictions: t.n, p90Coverage: t.covered / t.n, meanAbsErrorMs: t.absError / t.n };
    return {
      durations: {
        predictions: this.covered90.size,
        total: this.durationTotal,
        p90Coverage: mean(this.covered90),
        p50Coverage: mean(this.covered50),
        meanAbsErrorMs: mean(this.absError),
        medianRelativeError: rel.length ? rel[rel.length >> 1] : NaN,
      },
      byType,
      waits: {
        predictions: this.waitError.size,
        total: this.waitTotal,
        meanAbsErrorMs: mean(this.waitError, Math.abs),
        meanBiasMs: mean(this.waitError),
      },
    };
  }
}
