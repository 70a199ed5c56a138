// The charts' data: a rolling window of points derived from successive snapshots, in fixed-size storage so a
// panel left open for days uses the same memory as one opened a minute ago. Pure (no DOM), unit-tested.
import { RingBuffer } from '../shared/ringBuffer';
import type { MetricsSnapshot } from './protocol';

/** The plotted values, in the column order of a Point's `values`. */
export const SERIES = [
  'throughput', // commands/s, from the change in totalCommands between points
  'errorRate', // failed commands/s, likewise
  'p50',
  'p95',
  'p99',
  'queuedHigh',
  'queuedNormal',
  'queuedLow',
  'active',
  'limit', // the concurrency limit in force (it moves in adaptive mode)
  'delayMs',
  'cpuPercent',
  'memoryPercent',
  'successPercent',
] as const;
export type SeriesKey = (typeof SERIES)[number];
const INDEX = Object.fromEntries(SERIES.map((k, i) => [k, i])) as Record<SeriesKey, number>;

export interface Point {
  /** Epoch ms. */
  t: number;
  /** One entry per SERIES key; null where unknown (a gap, no sampler, a counter reset). */
  values: (number | null)[];
  /** Cumulative counters at this point, to derive rates at the next one. */
  total: number;
  failed: number;
  /** The sources its counters cover (MetricsSnapshot.sources joined; '' for all); unknown for restored points. */
  sources?: string;
}

export interface HistoryOptions {
  /** How far back the charts reach. */
  windowMs: number;
  /** Snapshots closer than this to the last point update the counters only, not the charts. */
  minIntervalMs: number;
  /** A silence longer than this (e.g. the panel was hidden) breaks the lines instead of bridging it. */
  gapMs: number;
}

export const DEFAULT_HISTORY: HistoryOptions = { windowMs: 5 * 60_000, minIntervalMs: 1000, gapMs: 5000 };

/** What setState keeps: compact rows `[t, total, failed, ...values]`. */
export interface HistoryState {
  v: 1;
  rows: (number | null)[][];
}

export class MetricsHistory {
  readonly options: HistoryOptions;
  private readonly points: RingBuffer<Point>;

  constructor(options: Partial<HistoryOptions> = {}) {
    this.options = { ...DEFAULT_HISTORY, ...options };
    // +2: a gap marker and one point of slack beyond a full window at the minimum interval.
    this.points = new RingBuffer<Point>(Math.ceil(this.options.windowMs / this.options.minIntervalMs) + 2);
  }

  get length(): number {
    return this.points.length;
  }

  /** Adds a point for `s` unless the last point is too recent; returns whether the charts changed. */
  push(s: MetricsSnapshot): boolean {
    const prev = this.points.last();
    if (prev && s.at - prev.t < this.options.minIntervalMs && s.at >= prev.t) return false;
    if (prev && s.at < prev.t) this.points.clear(); // the clock went back: older points would plot in the future

    const values = new Array<number | null>(SERIES.length).fill(null);
    const total = s.overall.totalCommands;
    const failed = s.overall.failedCommands;
    const sources = s.sources?.join(',') ?? '';
    // Counters of other sources than the last point's (the filter changed): no rate between the two.
    const sameSources = prev?.sources === undefined || prev.sources === sources;
    const gap = prev !== undefined && s.at - prev.t > this.options.gapMs;
    if (gap) {
      // A null row just after the last point makes uPlot break the line across the silence.
      this.points.push({ t: prev.t + 1, values: new Array<number | null>(SERIES.length).fill(null), total: prev.total, failed: prev.failed });
    } else if (prev && sameSources) {
      values[INDEX.throughput] = rate(prev.total, total, s.at - prev.t);
      values[INDEX.errorRate] = rate(prev.failed, failed, s.at - prev.t);
    }
    values[INDEX.p50] = s.latency.p50;
    values[INDEX.p95] = s.latency.p95;
    values[INDEX.p99] = s.latency.p99;
    values[INDEX.queuedHigh] = s.admission.queued.HIGH;
    values[INDEX.queuedNormal] = s.admission.queued.NORMAL;
    values[INDEX.queuedLow] = s.admission.queued.LOW;
    values[INDEX.active] = s.admission.active;
    values[INDEX.limit] = s.admission.limit;
    values[INDEX.delayMs] = s.admission.lastDelayMs;
    values[INDEX.cpuPercent] = s.system ? s.system.cpuPercent : null;
    values[INDEX.memoryPercent] = s.system ? s.system.memoryPercent : null;
    // Before any command ends the rate is 0 by definition, which would plot as a scary drop: leave it blank.
    values[INDEX.successPercent] = s.overall.successfulCommands + s.overall.failedCommands > 0 ? s.overall.successRate * 100 : null;
    this.points.push({ t: s.at, values, total, failed, sources });
    this.prune(s.at);
    return true;
  }

  /** Drops points older than the window, measured from `now`. */
  prune(now: number): void {
    const oldest = now - this.options.windowMs;
    while (this.points.length > 0 && (this.points.at(0) as Point).t < oldest) this.points.shift();
  }

  /** uPlot's AlignedData for the given series: [x in seconds, ...y columns]. */
  columns(keys: readonly SeriesKey[]): [number[], ...(number | null)[][]] {
    const pts = this.points.toArray();
    const xs = pts.map((p) => p.t / 1000);
    return [xs, ...keys.map((k) => pts.map((p) => p.values[INDEX[k]] ?? null))];
  }

  /** The value of a series at the newest point (null when unknown there, e.g. the sampler stopped). */
  latest(key: SeriesKey): number | null {
    return this.points.last()?.values[INDEX[key]] ?? null;
  }

  /**
   * This history's points from before `newer` begins, then all of `newer`'s: the host's history (sampled since
   * the extension started, hidden panel or not) completed by what a restored panel had seen before it.
   */
  mergedWith(newer: MetricsHistory): MetricsHistory {
    const merged = new MetricsHistory(this.options);
    const first = newer.points.at(0)?.t ?? Infinity;
    for (const p of this.points.toArray()) if (p.t < first) merged.points.push(p);
    for (const p of newer.points.toArray()) merged.points.push(p);
    return merged;
  }

  toState(): HistoryState {
    return { v: 1, rows: this.points.toArray().map((p) => [p.t, p.total, p.failed, ...p.values]) };
  }

  /** Restores from setState; anything malformed is skipped (the state may come from another version). */
  static fromState(state: unknown, options: Partial<HistoryOptions> = {}): MetricsHistory {
    const h = new MetricsHistory(options);
    if (typeof state !== 'object' || state === null || (state as HistoryState).v !== 1 || !Array.isArray((state as HistoryState).rows)) return h;
    let lastT = -Infinity;
    for (const row of (state as HistoryState).rows) {
      if (!Array.isArray(row) || row.length !== 3 + SERIES.length) continue;
      const [t, total, failed, ...values] = row;
      if (!isFiniteNum(t) || !isFiniteNum(total) || !isFiniteNum(failed) || t <= lastT) continue;
      if (!values.every((v) => v === null || isFiniteNum(v))) continue;
      h.points.push({ t, total, failed, values });
      lastT = t;
    }
    return h;
  }
}

const isFiniteNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Per-second rate between two cumulative counter readings; null when a counter went back (a reset). */
export function rate(before: number, after: number, elapsedMs: number): number | null {
  if (after < before || elapsedMs <= 0) return null;
  return ((after - before) * 1000) / elapsedMs;
}
