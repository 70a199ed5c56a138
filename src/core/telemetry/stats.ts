// Command statistics: O(1) per event, bounded memory (a fixed histogram per command type, a cap on the
// number of types), and a snapshot form that survives restarts.
import { LatencyHistogram } from './histogram';
import { round3 } from '../numbers';
import { CONTROL_PREFIX, RULE_PREFIX } from '../types';

const PERCENTILES = [0.5, 0.95, 0.99] as const;

/** Command types beyond this many share one '(other)' entry, so random types cannot grow memory. */
export const MAX_COMMAND_TYPES = 500;
export const OTHER_TYPE = '(other)';

export type Outcome = 'success' | 'error' | 'cancelled';

export interface TypeStatsReport {
  count: number;
  successCount: number;
  errorCount: number;
  cancelledCount: number;
  blockedCount: number;
  throttledCount: number;
  totalDurationMs: number;
  /** Mean duration of commands that reached their executor. */
  averageDurationMs: number;
  lastExecuted: string | null;
  p50: number;
  p95: number;
  p99: number;
}

export interface OverallMetrics {
  /** Commands that ended: successfulCommands + failedCommands + cancelledCommands. Control operations
   *  (command types CONTROL:*) are not among them: see controlOperations. */
  totalCommands: number;
  successfulCommands: number;
  /** ERROR outcomes, blocked and invalid requests included. */
  failedCommands: number;
  cancelledCommands: number;
  blockedCommands: number;
  throttledCommands: number;
  /** successfulCommands / (successfulCommands + failedCommands), 0..1; 0 when none. */
  successRate: number;
  averageDurationMs: number;
  p50: number;
  p95: number;
  p99: number;
  /** The control plane's operations, counted apart from commands. */
  controlOperations: TypeStatsReport;
}

class Counters {
  count = 0;
  successCount = 0;
  errorCount = 0;
  cancelledCount = 0;
  blockedCount = 0;
  throttledCount = 0;
  totalDurationMs = 0;
  timedCount = 0;
  lastExecuted = 0;
  readonly latency = new LatencyHistogram();

  end(outcome: Outcome, blocked: boolean, durationMs: number, timed: boolean, epochMs: number): void {
    this.count++;
    if (outcome === 'success') this.successCount++;
    else if (outcome === 'error') this.errorCount++;
    else this.cancelledCount++;
    if (blocked) this.blockedCount++;
    if (timed) {
      this.totalDurationMs += durationMs;
      this.timedCount++;
      this.latency.record(durationMs);
    }
    this.lastExecuted = epochMs;
  }

  /** The outcome counters, shared by the report and the persisted form. */
  private counters() {
    return {
      count: this.count,
      successCount: this.successCount,
      errorCount: this.errorCount,
      cancelledCount: this.cancelledCount,
      blockedCount: this.blockedCount,
      throttledCount: this.throttledCount,
    };
  }

  report(): TypeStatsReport {
    return {
      ...this.counters(),
      totalDurationMs: round3(this.totalDurationMs),
      averageDurationMs: this.timedCount ? round3(this.totalDurationMs / this.timedCount) : 0,
      lastExecuted: this.lastExecuted ? new Date(this.lastExecuted).toISOString() : null,
      ...this.percentiles(),
    };
  }

  /** p50, p95 and p99 of the recorded durations, in one pass over the histogram. */
  percentiles(): { p50: number; p95: number; p99: number } {
    const [p50, p95, p99] = this.latency.quantiles(PERCENTILES);
    return { p50, p95, p99 };
  }

  toJSON(): Record<string, unknown> {
    return {
      ...this.counters(),
      totalDurationMs: this.totalDurationMs,
      timedCount: this.timedCount,
      lastExecuted: this.lastExecuted,
      latency: this.latency.toJSON(),
      latencyMin: this.latency.min,
      latencyMax: this.latency.max,
    };
  }

  merge(s: Record<string, unknown>): void {
    const num = (k: string): number => {
      const v = s[k];
      return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
    };
    this.count += num('count');
    this.successCount += num('successCount');
    this.errorCount += num('errorCount');
    this.cancelledCount += num('cancelledCount');
    this.blockedCount += num('blockedCount');
    this.throttledCount += num('throttledCount');
    this.totalDurationMs += num('totalDurationMs');
    this.timedCount += num('timedCount');
    this.lastExecuted = Math.max(this.lastExecuted, num('lastExecuted'));
    this.latency.merge(s.latency, s.latencyMin, s.latencyMax);
  }
}

export interface StatsSnapshot {
  version: 1;
  savedAt: string;
  overall: Record<string, unknown>;
  control?: Record<string, unknown>;
  byType: Record<string, Record<string, unknown>>;
}

export class CommandStats {
  private overallCounters = new Counters();
  /** Control operations (command types CONTROL:*) are counted apart: they do not move the commands' figures. */
  private controlCounters = new Counters();
  private types = new Map<string, Counters>();

  /** Rule records (RULE:*) have no totals: they are counted in their own per-type entry only. */
  private totals(commandType: string): Counters | undefined {
    if (commandType.startsWith(RULE_PREFIX)) return undefined;
    return commandType.startsWith(CONTROL_PREFIX) ? this.controlCounters : this.overallCounters;
  }

  private entry(commandType: string): Counters {
    let c = this.types.get(commandType);
    if (c === undefined) {
      // The last place is kept for the shared '(other)' entry.
      const key = this.types.size >= MAX_COMMAND_TYPES - 1 && commandType !== OTHER_TYPE ? OTHER_TYPE : commandType;
      c = this.types.get(key);
      if (c === undefined) {
        c = new Counters();
        this.types.set(key, c);
      }
    }
    return c;
  }

  /** Records the one terminal outcome of a command. `timed` = it reached its executor. */
  end(commandType: string, outcome: Outcome, blocked: boolean, durationMs: number, timed: boolean, epochMs: number): void {
    this.totals(commandType)?.end(outcome, blocked, durationMs, timed, epochMs);
    this.entry(commandType).end(outcome, blocked, durationMs, timed, epochMs);
  }

  throttled(commandType: string): void {
    const totals = this.totals(commandType);
    if (totals) totals.throttledCount++;
    this.entry(commandType).throttledCount++;
  }

  overall(): OverallMetrics {
    const o = this.overallCounters;
    const decided = o.successCount + o.errorCount;
    return {
      totalCommands: o.count,
      successfulCommands: o.successCount,
      failedCommands: o.errorCount,
      cancelledCommands: o.cancelledCount,
      blockedCommands: o.blockedCount,
      throttledCommands: o.throttledCount,
      successRate: decided ? round3(o.successCount / decided) : 0,
      averageDurationMs: o.timedCount ? round3(o.totalDurationMs / o.timedCount) : 0,
      ...o.percentiles(),
      controlOperations: this.controlCounters.report(),
    };
  }

  byType(): Record<string, TypeStatsReport> {
    const out: Record<string, TypeStatsReport> = {};
    for (const [type, c] of this.types) out[type] = c.report();
    return out;
  }

  clear(): void {
    this.overallCounters = new Counters();
    this.controlCounters = new Counters();
    this.types = new Map();
  }

  snapshot(epochMs: number): StatsSnapshot {
    const byType: Record<string, Record<string, unknown>> = {};
    for (const [type, c] of this.types) byType[type] = c.toJSON();
    return { version: 1, savedAt: new Date(epochMs).toISOString(), overall: this.overallCounters.toJSON(), control: this.controlCounters.toJSON(), byType };
  }

  /** Adds a snapshot's counts to the current ones (events recorded before the restore are kept). */
  restore(snapshot: unknown): boolean {
    if (typeof snapshot !== 'object' || snapshot === null) return false;
    const s = snapshot as Partial<StatsSnapshot>;
    if (s.version !== 1 || typeof s.overall !== 'object' || s.overall === null) return false;
    this.overallCounters.merge(s.overall);
    // Snapshots from before control operations were counted apart have no `control`: their overall has both.
    if (typeof s.control === 'object' && s.control !== null) this.controlCounters.merge(s.control);
    if (typeof s.byType === 'object' && s.byType !== null) {
      for (const [type, c] of Object.entries(s.byType)) {
        if (typeof c === 'object' && c !== null) this.entry(type).merge(c);
      }
    }
    return true;
  }
}
