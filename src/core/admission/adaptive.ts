// The adaptive limit (aios.throttle.mode: adaptive): a concurrency limit that follows the service's latency,
// in the manner of Netflix concurrency-limits' Gradient2 (Gradient2Limit in a WindowedLimit): long against
// short latency, a tolerance, smoothing, a small queue allowance, no growth while the caller does not use
// the limit.
//
// Cost: sample() is O(1) on the command path (sums, a count, a max; no clock read outside a probe). The
// limit moves once per window (at least windowMs and minSamples samples), on the strategy's own timer:
//   short    = mean running time of the commands that ended in the window
//   long     = the no-load running time (below)
//   queueing = short > tolerance * long + twice the standard error of the two means
//   used     = min(limit, most commands in flight in the window)
//   target   = used * clamp(long / short, 0.5, 1) + queueSize                when queueing
//            = limit + queueSize, or limit * (1 + growth) after calmWindows  otherwise
//            = limit                                                         otherwise, when under half the
//                                                                            limit was in use
//   limit    = clamp(limit + (target - limit) * (target < limit ? smoothingDown : smoothing), min, max)
// Admission enforces the integer part. The gradient reported is Gradient2's clamp(tolerance * long / short,
// 0.5, 1) when queueing, else 1.
//
// Where this departs from Gradient2, and why, with the figures behind it: docs/ADMISSION.md.
import type { AdaptiveState, AdmissionLimits, LimitHost, LimitStrategy } from './types';
import { DEFAULT_CONFIG } from '../config';

export interface AdaptiveOptions {
  /** Shortest window; a window also waits for minSamples samples. */
  windowMs: number;
  minSamples: number;
  /** Latency may grow this many times over the no-load latency before the limit comes down. */
  tolerance: number;
  /** Weight of a window's target when it is above the limit (0..1). */
  smoothing: number;
  /** The same when the target is below: latency that grew is answered faster than room that appeared. */
  smoothingDown: number;
  /** Slots allowed above the concurrency that showed no queueing (Gradient2's queueSize). */
  queueSize: number;
  /** Relative growth target per window once latency has been calm (scaled by smoothing: 0.5 -> +10 %). */
  growth: number;
  /** Windows in a row without queueing after which growth is relative again. */
  calmWindows: number;
  /** Commands a probe measures. */
  probeSamples: number;
  /** Shortest time between probes that were not asked for by the previous one. */
  probeIntervalMs: number;
  /** Probes take at most about this share of the time (the interval stretches, up to 4x probeIntervalMs). */
  probeShare: number;
}

export const ADAPTIVE_DEFAULTS: Readonly<AdaptiveOptions> = Object.freeze({
  windowMs: 1000,
  minSamples: 10,
  tolerance: 1.1,
  smoothing: 0.2,
  smoothingDown: 0.5,
  queueSize: 0.25,
  growth: 0.5,
  calmWindows: 5,
  probeSamples: 30,
  probeIntervalMs: 30_000,
  probeShare: 0.01,
});

/** The probe interval stretches (to keep probes to probeShare of the time) up to this many probeIntervalMs. */
const MAX_PROBE_STRETCH = 4;
/** A probe at most HALVED of the mean concurrency before it that kept SATURATED of the throughput found
 *  the service saturated. */
const SATURATED = 0.85;
const HALVED = 0.75;
/** Weight of a new no-load measurement in `long` (one significantly lower is taken as is). */
const LONG_WEIGHT = 0.5;

const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);
/** Standard error of the mean of n samples with this sum and sum of squares. */
const standardError = (sum: number, sumSq: number, n: number): number => (n > 1 ? Math.sqrt(Math.max(0, sumSq / n - (sum / n) ** 2) / (n - 1)) : 0);
/** 41 ms, 2.35 ms, 0.0123 ms: three significant digits. */
const ms = (v: number): string => `${Number(v.toPrecision(3))} ms`;

export class AdaptiveLimit implements LimitStrategy {
  readonly mode = 'adaptive' as const;
  readonly wantsSamples = true;
  private readonly o: AdaptiveOptions;
  private host: LimitHost | undefined;
  private timer: unknown;
  private minLimit = 1;
  private maxLimit = 1;
  private startLimit = 1;
  /** The fractional limit; its integer part is `applied` (except while probing). */
  private estimate = 1;
  private applied = 1;

  // The current window: O(1) per sample.
  private windowSum = 0;
  /** Sum of squares: the window mean's standard error, so that noise is not taken for queueing. */
  private windowSumSq = 0;
  private windowCount = 0;
  private windowMaxInFlight = 0;
  /** Completions counted in windows since the last probe (its first window after excluded), and since when:
   *  the throughput a probe compares with. */
  private rateCount = 0;
  private rateSum = 0;
  private rateSince = 0;
  /** Windows to drop after a probe: they hold commands started at the probe's low limit. */
  private skipWindows = 0;

  private shortRtt = 0;
  private longRtt = 0;
  /** Standard error of longRtt (from the measurements it came from). */
  private longSe = 0;
  /** How `longRtt` was learned: not yet, guessed from a first window that may have queued, or measured. */
  private longFrom: 'none' | 'guess' | 'measured' = 'none';
  private gradient = 1;
  /** Windows in a row without queueing; starts high so that growth is relative from the start. */
  private calm = Infinity;
  private nextProbeAt = 0;
  /** The last probe asked for another (it was the first, or found the service saturated): no queueing needed. */
  private followUp = false;

  private probing = false;
  private probeLevel = 0;
  private probeStartedAt = 0;
  private probeSum = 0;
  private probeSumSq = 0;
  private probeCount = 0;
  /** When the probe had probeSamples: commands started until then still count, later ones do not. NaN: open. */
  private probeFilledAt = NaN;
  private probeOutstanding = 0;
  /** Completions per ms since the last probe, when this one started: what its throughput is compared with. */
  private probeBaseline = 0;
  /** Mean commands in flight before the probe (Little's law: sum of running times / time). */
  private probeBaselineInFlight = 0;

  constructor(options: Partial<AdaptiveOptions> = {}) {
    this.o = { ...ADAPTIVE_DEFAULTS, ...options };
  }

  start(host: LimitHost, limits: AdmissionLimits): { limit: number; reason: string } {
    this.host = host;
    this.readBounds(limits);
    this.startLimit = limits.maxConcurrency;
    this.estimate = clamp(this.startLimit, this.minLimit, this.maxLimit);
    this.applied = Math.floor(this.estimate);
    this.arm();
    return { limit: this.applied, reason: `adaptive, starting from aios.maxConcurrency ${this.startLimit} within ${this.minLimit}..${this.maxLimit}` };
  }

  configure(limits: AdmissionLimits): void {
    const { minLimit, maxLimit } = this;
    this.readBounds(limits);
    const restart = limits.maxConcurrency !== this.startLimit;
    if (!restart && minLimit === this.minLimit && maxLimit === this.maxLimit) return;
    this.probing = false; // its level may be out of the new bounds; the limit is set again below
    this.resetWindow();
    let reason: string;
    if (restart) {
      this.startLimit = limits.maxConcurrency;
      this.estimate = clamp(this.startLimit, this.minLimit, this.maxLimit);
      this.calm = Infinity;
      reason = `aios.maxConcurrency is ${this.startLimit}: restarting from it`;
    } else {
      this.estimate = clamp(this.estimate, this.minLimit, this.maxLimit);
      reason = `bounds are ${this.minLimit}..${this.maxLimit}`;
    }
    this.apply(reason, true);
  }

  sample(rttMs: number, inFlight: number): void {
    if (!(rttMs >= 0 && rttMs < 1e12)) return; // NaN or a broken clock would poison every sum after it
    if (this.probing) {
      this.probeSample(rttMs);
      return;
    }
    this.windowSum += rttMs;
    this.windowSumSq += rttMs * rttMs;
    this.windowCount++;
    if (inFlight > this.windowMaxInFlight) this.windowMaxInFlight = inFlight;
  }

  stop(): void {
    if (this.timer !== undefined) this.host?.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.host = undefined;
    this.probing = false;
  }

  describe(): AdaptiveState {
    return {
      minLimit: this.minLimit,
      maxLimit: this.maxLimit,
      estimate: Number(this.estimate.toFixed(2)),
      shortRttMs: Number(this.shortRtt.toPrecision(4)),
      longRttMs: Number(this.longRtt.toPrecision(4)),
      gradient: Number(this.gradient.toFixed(3)),
      probing: this.probing,
    };
  }

  private readBounds(limits: AdmissionLimits): void {
    const t = limits.throttle ?? DEFAULT_CONFIG.throttle;
    this.minLimit = t.minConcurrency;
    this.maxLimit = Math.max(t.minConcurrency, t.maxConcurrency);
  }

  private arm(): void {
    const host = this.host;
    if (!host) return;
    this.timer = host.clock.setTimeout(() => this.tick(), this.o.windowMs);
    // A window timer alone must not keep Node (a test, a script) running.
    (this.timer as { unref?: () => void } | undefined)?.unref?.();
  }

  private resetWindow(): void {
    this.windowSum = 0;
    this.windowSumSq = 0;
    this.windowCount = 0;
    this.windowMaxInFlight = 0;
  }

  private tick(): void {
    const host = this.host;
    if (!host) return;
    this.arm();
    const now = host.clock.now();
    if (this.probing) {
      if (now - this.probeStartedAt >= this.probeTimeoutMs()) this.endProbe(now);
      return;
    }
    if (this.windowCount < this.o.minSamples) return; // the window goes on until it has enough
    const short = this.windowSum / this.windowCount;
    const shortSe = standardError(this.windowSum, this.windowSumSq, this.windowCount);
    const count = this.windowCount;
    const sum = this.windowSum;
    const maxInFlight = this.windowMaxInFlight;
    this.resetWindow();
    if (this.skipWindows > 0) {
      this.skipWindows--;
      this.rateCount = 0;
      this.rateSum = 0;
      this.rateSince = now;
      return;
    }
    this.rateCount += count;
    this.rateSum += sum;
    this.update(short, shortSe, maxInFlight, now);
  }

  /** One window: learn what it tells of the no-load latency, then move the limit. */
  private update(short: number, shortSe: number, maxInFlight: number, now: number): void {
    const { tolerance, queueSize, growth } = this.o;
    const limit = this.estimate;
    this.shortRtt = short;
    // At most minConcurrency at once: as unloaded as a probe could make it.
    const quiet = maxInFlight <= this.minLimit;
    if (this.longFrom === 'none' || (quiet && this.longFrom === 'guess')) {
      this.longRtt = short;
      this.longSe = shortSe;
      this.longFrom = quiet ? 'measured' : 'guess';
    } else if (quiet) {
      this.learn(short, shortSe);
    } else if (short * tolerance < this.longRtt - 2 * Math.hypot(shortSe, this.longSe)) {
      // Clearly faster than thought: no probe needed to know that.
      this.longRtt += LONG_WEIGHT * (short - this.longRtt);
      this.longSe = Math.hypot(this.longSe, shortSe) * LONG_WEIGHT;
    }
    if (quiet) this.nextProbeAt = now + this.probeIntervalMs();
    const long = this.longRtt;
    // Queueing only when latency is over the tolerance by more than twice the noise of the two means:
    // with few or scattered samples (heavy-tailed latencies) precision drops, but noise never cuts the limit.
    const queueing = short > tolerance * long + 2 * Math.hypot(shortSe, tolerance * this.longSe);
    this.gradient = queueing ? clamp((tolerance * long) / short, 0.5, 1) : 1;
    const used = Math.min(this.applied, maxInFlight);
    let target: number;
    if (queueing) {
      this.calm = 0;
      target = used * clamp(long / short, 0.5, 1) + queueSize;
    } else {
      this.calm++;
      // Gradient2: no growth while the caller is not using the limit (it says nothing about a higher one).
      target = maxInFlight < limit / 2 ? limit : this.calm > this.o.calmWindows ? limit * (1 + growth) : limit + queueSize;
    }
    if (target !== limit) {
      const weight = target < limit ? this.o.smoothingDown : this.o.smoothing;
      this.estimate = clamp(limit + (target - limit) * weight, this.minLimit, this.maxLimit);
      this.apply(`short RTT ${ms(short)} vs long ${ms(long)}, gradient ${Number(this.gradient.toFixed(2))}`);
    }
    // A probe only when its answer matters: to measure the baseline at all, after a probe that asked for
    // another, or when latency says "queueing" and the baseline may have moved (a slower service looks the
    // same); otherwise it would only hold back commands the service had room for. And not before the
    // throughput it will be compared with has settled: three latencies after the last probe (the commands
    // let in at once when it ended end together, a burst that would inflate it).
    const settled = now - this.rateSince >= 3 * short;
    if (!quiet && (this.longFrom !== 'measured' || ((queueing || this.followUp) && settled && now >= this.nextProbeAt))) this.startProbe(now, used);
  }

  /** A no-load measurement: one significantly lower is taken as is (latency never drops below the no-load
   *  latency, so it is news), any other moves `long` half-way (noise must not drag it down). */
  private learn(measured: number, se: number): void {
    if (this.longFrom !== 'measured' || measured < this.longRtt - 2 * Math.hypot(se, this.longSe)) {
      this.longRtt = measured;
      this.longSe = se;
    } else {
      this.longRtt += LONG_WEIGHT * (measured - this.longRtt);
      this.longSe = Math.hypot(this.longSe, se) * LONG_WEIGHT;
    }
    this.longFrom = 'measured';
  }

  /** Sets the integer part of the estimate as the limit, when it changed (or always). */
  private apply(reason: string, always = false): void {
    const next = Math.floor(this.estimate);
    if (next === this.applied && !always) return;
    this.applied = next;
    this.host?.setLimit(next, reason);
  }

  private probeIntervalMs(): number {
    const stretched = this.expectedProbeMs(Math.max(this.minLimit, Math.floor(this.applied / 2))) / this.o.probeShare;
    return clamp(stretched, this.o.probeIntervalMs, MAX_PROBE_STRETCH * this.o.probeIntervalMs);
  }

  /** At `level` at once, probeSamples commands of about long RTT each, plus one to drain and one to fill. */
  private expectedProbeMs(level: number): number {
    return (this.o.probeSamples / level + 2) * this.longRtt;
  }

  private probeTimeoutMs(): number {
    return 3 * this.expectedProbeMs(this.probeLevel) + 2 * this.o.windowMs;
  }

  private startProbe(now: number, used: number): void {
    const level = Math.max(this.minLimit, Math.floor(used / 2));
    if (level >= used) return; // nothing to hold back: its windows are quiet ones
    this.probing = true;
    this.probeLevel = level;
    this.probeStartedAt = now;
    this.probeSum = 0;
    this.probeSumSq = 0;
    this.probeCount = 0;
    this.probeFilledAt = NaN;
    this.probeOutstanding = 0;
    const span = Math.max(1e-9, now - this.rateSince);
    this.probeBaseline = this.rateCount / span;
    this.probeBaselineInFlight = this.rateSum / span;
    this.host?.setLimit(level, `probing the no-load latency at ${level} (long RTT ${ms(this.longRtt)})`);
  }

  /** Only commands that started after the probe began count: they ran at most probeLevel at once. */
  private probeSample(rttMs: number): void {
    const host = this.host;
    if (!host) return;
    const now = host.clock.now();
    const startedAt = now - rttMs;
    if (startedAt < this.probeStartedAt) return;
    const filled = !Number.isNaN(this.probeFilledAt);
    if (filled && startedAt > this.probeFilledAt) return;
    this.probeSum += rttMs;
    this.probeSumSq += rttMs * rttMs;
    this.probeCount++;
    if (filled) this.probeOutstanding--;
    else if (this.probeCount >= this.o.probeSamples) {
      this.probeFilledAt = now;
      this.probeOutstanding = host.inFlight; // all started before now: wait for each
    } else return;
    if (this.probeOutstanding <= 0) this.endProbe(now);
  }

  private endProbe(now: number): void {
    this.probing = false;
    this.resetWindow();
    this.skipWindows = 1;
    let reason: string;
    if (this.probeCount >= Math.min(3, this.o.probeSamples)) {
      const measured = this.probeSum / this.probeCount;
      const se = standardError(this.probeSum, this.probeSumSq, this.probeCount);
      const before = this.longRtt;
      const firstMeasurement = this.longFrom !== 'measured';
      this.learn(measured, se);
      // The probe held well under the concurrency in use before it (the mean, by Little's law: sum of running
      // times / time) and kept (nearly) all the throughput (level / latency, latency taken high by its noise):
      // the service was saturated at the probe's level too, so the knee is there or lower and `measured`
      // still holds queueing. Probe lower soon. (Under light load the mean in flight is low, the probe does
      // not hold it back, and nothing is concluded.)
      const throughput = this.probeLevel / (measured + 2 * se);
      const saturated =
        this.probeLevel > this.minLimit && this.probeLevel <= HALVED * this.probeBaselineInFlight && throughput >= SATURATED * this.probeBaseline;
      if (saturated) {
        // The slots above the probe's level bought no throughput: they were queueing. Drop them at once.
        this.estimate = clamp(Math.min(this.estimate, this.probeLevel + this.o.queueSize), this.minLimit, this.maxLimit);
        this.calm = 0;
      }
      // Probe again soon, whatever the latency says: after a saturated probe (the limit sits at its level,
      // where latency matches it), and after the first one (it was compared with start-up's rate, which is no
      // baseline, and one probe of scattered latencies can be 30 % off; a second halves that).
      this.followUp = saturated || firstMeasurement;
      this.nextProbeAt = now + (this.followUp ? 2 * this.o.windowMs : this.probeIntervalMs());
      reason = `probe at ${this.probeLevel}: no-load latency ${ms(measured)} (long RTT ${ms(before)} -> ${ms(this.longRtt)})${saturated ? ', still saturated' : ''}`;
    } else {
      this.followUp = false;
      this.nextProbeAt = now + this.probeIntervalMs();
      reason = `probe at ${this.probeLevel} ended with ${this.probeCount} samples; long RTT stays ${ms(this.longRtt)}`;
    }
    this.applied = Math.floor(this.estimate);
    this.host?.setLimit(this.applied, reason);
  }
}
