// The figures remediation rules watch: the sampler's latest CPU and memory, the admission queue, and, from
// telemetry events, throttles, the error rate and p95 latency over the last minute (not all time: a rule must
// see the load going away). The event listener is O(1) and allocation-free: per-second counters in a ring of
// 60 slots, durations in a fixed ring of numbers, and no clock read (a clock read costs 60-400 ns on a busy VM,
// as much as the rest of the listener): an event's second comes from its own timestamp, parsed once per
// second. The work (summing, one sort) happens in read(), which the rule engine calls on the sampler's tick,
// about once a second.
import type { AdmissionState } from '../admission';
import type { Clock } from '../clock';
import type { Sampler } from '../system';
import { inHeadline, sourceKindOf, type TelemetryApi } from '../telemetry';
import type { Disposable, TelemetryEvent } from '../types';

export const METRICS = ['cpuPercent', 'memoryPercent', 'queueDepth', 'throttledPerMinute', 'errorRate', 'p95Ms'] as const;
export type MetricName = (typeof METRICS)[number];

/** One value per metric; undefined = no data yet (no sample taken, no command ended in the window). */
export type MetricValues = Readonly<Record<MetricName, number | undefined>>;

/** What the rule engine reads on each tick. */
export interface MetricReader {
  read(): MetricValues;
}

/** The window of the event-based metrics: throttledPerMinute, errorRate and p95Ms. */
export const METRIC_WINDOW_SECONDS = 60;
/** Durations kept for p95Ms: past this many commands in a minute, p95Ms covers the newest this many. */
export const METRIC_MAX_DURATIONS = 4096;

/**
 * ERRORs the pipeline gives before a command reaches its executor (src/core/pipeline/pipeline.ts, fail()): they have no
 * latency, as in the core's stats, so p95Ms leaves them out. They do count as errors in errorRate.
 */
const NOT_STARTED_CODES: ReadonlySet<unknown> = new Set(['invalid_request', 'blocked', 'queue_full', 'closed']);

/**
 * The headline's commands only, as in the stats: control operations, rule records and commands typed in a
 * terminal (the user's programs, only observed) move none of these figures.
 */
export function countsForRules(e: TelemetryEvent): boolean {
  return inHeadline(sourceKindOf(e.commandType, e.metadata));
}

export interface MetricSourceOptions {
  /** cpuPercent and memoryPercent: its latest sample (undefined until the first). */
  sampler: Pick<Sampler, 'latest'>;
  /** The events the windowed metrics count. */
  telemetry: Pick<TelemetryApi, 'onEvent'>;
  /** queueDepth: commands waiting, delayed ones included (e.g. () => middleware.admission). */
  admission: () => Pick<AdmissionState, 'queued'>;
  /** The telemetry's clock: its epochMs() is the end of the window, as events' timestamps come from it. */
  clock: Clock;
}

export class MetricSource implements MetricReader, Disposable {
  // Per-second counters; slot i holds the epoch second secs[i] (-Infinity: never used).
  private readonly secs = new Float64Array(METRIC_WINDOW_SECONDS).fill(-Infinity);
  private readonly throttled = new Uint32Array(METRIC_WINDOW_SECONDS);
  private readonly succeeded = new Uint32Array(METRIC_WINDOW_SECONDS);
  private readonly failed = new Uint32Array(METRIC_WINDOW_SECONDS);
  // Durations of commands that reached their executor, with the second they ended in: a ring of numbers.
  private readonly durations = new Float64Array(METRIC_MAX_DURATIONS);
  private readonly endedAt = new Float64Array(METRIC_MAX_DURATIONS);
  /** The last event's timestamp, its part up to the seconds ("2026-01-01T00:00:05") and that epoch second. */
  private lastStamp = '';
  private lastPrefix = '\u0000';
  private lastSec = -Infinity;
  private readonly scratch = new Float64Array(METRIC_MAX_DURATIONS);
  private durationHead = 0;
  private durationCount = 0;
  private readonly subscription: Disposable;

  constructor(private readonly opts: MetricSourceOptions) {
    this.subscription = opts.telemetry.onEvent((e) => this.onEvent(e));
  }

  /** The epoch second of an ISO 8601 UTC timestamp; parsed only when the second changes. */
  private secondOf(stamp: string): number {
    if (stamp === this.lastStamp) return this.lastSec;
    this.lastStamp = stamp;
    if (stamp.startsWith(this.lastPrefix)) return this.lastSec;
    const ms = Date.parse(stamp);
    this.lastPrefix = Number.isNaN(ms) ? '\u0000' : stamp.slice(0, 19);
    this.lastSec = Math.floor((Number.isNaN(ms) ? this.opts.clock.epochMs() : ms) / 1000);
    return this.lastSec;
  }

  private slot(sec: number): number {
    const i = sec % METRIC_WINDOW_SECONDS;
    if (this.secs[i] !== sec) {
      this.secs[i] = sec;
      this.throttled[i] = 0;
      this.succeeded[i] = 0;
      this.failed[i] = 0;
    }
    return i;
  }

  /** Called synchronously for every event: O(1), no allocation. */
  private onEvent(e: TelemetryEvent): void {
    const type = e.eventType;
    if (type === 'START' || type === 'CANCEL' || !countsForRules(e)) return;
    const sec = this.secondOf(e.timestamp);
    const i = this.slot(sec);
    if (type === 'THROTTLE') {
      this.throttled[i]++;
      return;
    }
    if (type === 'COMPLETE') this.succeeded[i]++;
    else {
      this.failed[i]++;
      if (NOT_STARTED_CODES.has(e.metadata?.code)) return;
    }
    if (e.durationMs === undefined) return;
    const at = (this.durationHead + this.durationCount) % METRIC_MAX_DURATIONS;
    this.durations[at] = e.durationMs;
    this.endedAt[at] = sec;
    if (this.durationCount < METRIC_MAX_DURATIONS) this.durationCount++;
    else this.durationHead = (this.durationHead + 1) % METRIC_MAX_DURATIONS;
  }

  read(): MetricValues {
    const nowSec = Math.floor(this.opts.clock.epochMs() / 1000);
    const sample = this.opts.sampler.latest();
    const sampled = sample.sampledAt > 0;
    const q = this.opts.admission().queued;
    let throttled = 0;
    let succeeded = 0;
    let failed = 0;
    const oldest = nowSec - METRIC_WINDOW_SECONDS; // exclusive: the current second and the 59 before it
    for (let i = 0; i < METRIC_WINDOW_SECONDS; i++) {
      if (this.secs[i] <= oldest) continue;
      throttled += this.throttled[i];
      succeeded += this.succeeded[i];
      failed += this.failed[i];
    }
    const ended = succeeded + failed;
    return {
      cpuPercent: sampled ? sample.cpuPercent : undefined,
      memoryPercent: sampled ? sample.memoryPercent : undefined,
      queueDepth: q.HIGH + q.NORMAL + q.LOW,
      throttledPerMinute: throttled,
      // As the core's successRate: errors / (successes + errors); cancelled commands are neither.
      errorRate: ended > 0 ? failed / ended : undefined,
      p95Ms: this.p95(oldest),
    };
  }

  /** Nearest-rank p95 of the durations of commands that ended after the epoch second `oldest`. */
  private p95(oldest: number): number | undefined {
    let n = 0;
    for (let k = 0; k < this.durationCount; k++) {
      const at = (this.durationHead + k) % METRIC_MAX_DURATIONS;
      if (this.endedAt[at] > oldest) this.scratch[n++] = this.durations[at];
    }
    if (n === 0) return undefined;
    const window = this.scratch.subarray(0, n).sort();
    return window[Math.ceil(0.95 * n) - 1];
  }

  /** Forgets the windowed counts (e.g. when the user clears telemetry). */
  clear(): void {
    this.secs.fill(-Infinity);
    this.throttled.fill(0);
    this.succeeded.fill(0);
    this.failed.fill(0);
    this.durationHead = 0;
    this.durationCount = 0;
  }

  dispose(): void {
    this.subscription.dispose();
  }
}
