// Command statistics: O(1) per event, bounded memory (a fixed histogram per command type and source it came
// from, a cap on the number of types, a closed list of sources), and a snapshot form that survives restarts.
import { LatencyHistogram } from './histogram';
import { round3 } from '../numbers';
import { CONTROL_PREFIX, RULE_PREFIX } from '../types';
import { COMMAND_SOURCE_KINDS, inHeadline, isSourceKind, SOURCE_INDEX, SOURCE_KINDS, type SourceKind } from './sources';

const PERCENTILES = [0.5, 0.95, 0.99] as const;

/** Command types beyond this many share one '(other)' entry, so random types cannot grow memory. */
export const MAX_COMMAND_TYPES = 500;
export const OTHER_TYPE = '(other)';

export type Outcome = 'success' | 'error' | 'cancelled';

/**
 * ERROR codes of a command that never ran: refused before its executor (validation, the security policy, a
 * full queue, a closed middleware) or by it because it does not know the type. A type with nothing but
 * these is a typo or a refusal, not a command type that runs (the tree lists such types apart).
 */
export const REFUSED_CODES: ReadonlySet<unknown> = new Set(['invalid_request', 'blocked', 'queue_full', 'closed', 'unknown_command_type']);

/** How commands ended, and how long they took: per command type, per source, overall. */
export interface OutcomeStats {
  count: number;
  successCount: number;
  /** ERROR outcomes: refused ones (blocked included) among them. */
  errorCount: number;
  cancelledCount: number;
  blockedCount: number;
  /** ERRORs of commands that never ran (REFUSED_CODES), blocked ones included. */
  refusedCount: number;
  throttledCount: number;
  totalDurationMs: number;
  /** Mean duration of commands that reached their executor. */
  averageDurationMs: number;
  lastExecuted: string | null;
  p50: number;
  p95: number;
  p99: number;
}

export interface TypeStatsReport extends OutcomeStats {
  /** The sources it was submitted from (SOURCE_KINDS order); its figures are theirs together. */
  sources: SourceKind[];
}

export interface SourceStatsReport extends OutcomeStats {
  /** successCount / (successCount + errorCount), 0..1; 0 when none. */
  successRate: number;
}

export interface OverallMetrics {
  /** Commands that ended: successfulCommands + failedCommands + cancelledCommands. Without a filter, the
   *  commands of the headline sources (HEADLINE_SOURCE_KINDS: not terminal commands, which AIOS only
   *  observes); with one, of the sources chosen. Control operations (CONTROL:*) are never among them: see
   *  controlOperations. */
  totalCommands: number;
  successfulCommands: number;
  /** ERROR outcomes, blocked and other refused requests included. */
  failedCommands: number;
  cancelledCommands: number;
  blockedCommands: number;
  /** Never ran (REFUSED_CODES): part of failedCommands. */
  refusedCommands: number;
  throttledCommands: number;
  /** successfulCommands / (successfulCommands + failedCommands), 0..1; 0 when none. */
  successRate: number;
  averageDurationMs: number;
  p50: number;
  p95: number;
  p99: number;
  /** The control plane's operations, counted apart from commands (empty when a filter leaves `control` out). */
  controlOperations: SourceStatsReport;
}

/** Which sources a report covers; undefined: all (the headline for the overall figures). */
export type SourceFilter = ReadonlySet<SourceKind> | undefined;

class Counters {
  count = 0;
  successCount = 0;
  errorCount = 0;
  cancelledCount = 0;
  blockedCount = 0;
  refusedCount = 0;
  throttledCount = 0;
  totalDurationMs = 0;
  timedCount = 0;
  lastExecuted = 0;
  readonly latency = new LatencyHistogram();

  end(outcome: Outcome, blocked: boolean, refused: boolean, durationMs: number, timed: boolean, epochMs: number): void {
    this.count++;
    if (outcome === 'success') this.successCount++;
    else if (outcome === 'error') this.errorCount++;
    else this.cancelledCount++;
    if (blocked) this.blockedCount++;
    if (refused) this.refusedCount++;
    if (timed) {
      this.totalDurationMs += durationMs;
      this.timedCount++;
      this.latency.record(durationMs);
    }
    this.lastExecuted = epochMs;
  }

  /** Adds another's counts (figures over several sources). */
  add(o: Counters): void {
    this.count += o.count;
    this.successCount += o.successCount;
    this.errorCount += o.errorCount;
    this.cancelledCount += o.cancelledCount;
    this.blockedCount += o.blockedCount;
    this.refusedCount += o.refusedCount;
    this.throttledCount += o.throttledCount;
    this.totalDurationMs += o.totalDurationMs;
    this.timedCount += o.timedCount;
    this.lastExecuted = Math.max(this.lastExecuted, o.lastExecuted);
    this.latency.add(o.latency);
  }

  get successRate(): number {
    const decided = this.successCount + this.errorCount;
    return decided ? round3(this.successCount / decided) : 0;
  }

  /** The outcome counters, shared by the report and the persisted form. */
  private counters() {
    return {
      count: this.count,
      successCount: this.successCount,
      errorCount: this.errorCount,
      cancelledCount: this.cancelledCount,
      blockedCount: this.blockedCount,
      refusedCount: this.refusedCount,
      throttledCount: this.throttledCount,
    };
  }

  report(): OutcomeStats {
    return {
      ...this.counters(),
      totalDurationMs: round3(this.totalDurationMs),
      averageDurationMs: this.timedCount ? round3(this.totalDurationMs / this.timedCount) : 0,
      lastExecuted: this.lastExecuted ? new Date(this.lastExecuted).toISOString() : null,
      ...this.percentiles(),
    };
  }

  sourceReport(): SourceStatsReport {
    return { ...this.report(), successRate: this.successRate };
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
    // Snapshots from before refusals were counted: their blocked commands are the refusals known.
    this.refusedCount += num('refusedCount' in s ? 'refusedCount' : 'blockedCount');
    this.throttledCount += num('throttledCount');
    this.totalDurationMs += num('totalDurationMs');
    this.timedCount += num('timedCount');
    this.lastExecuted = Math.max(this.lastExecuted, num('lastExecuted'));
    this.latency.merge(s.latency, s.latencyMin, s.latencyMax);
  }
}

const EMPTY = new Counters();

/** One command type's counters, one per source kind it was submitted from (SOURCE_INDEX). */
type TypeEntry = (Counters | undefined)[];

export interface StatsSnapshot {
  version: 1;
  savedAt: string;
  /** The headline figures (before sources were kept: every command's). */
  overall: Record<string, unknown>;
  control?: Record<string, unknown>;
  /** Per command source kind; absent in snapshots from before sources were kept. */
  bySource?: Record<string, Record<string, unknown>>;
  /** Each type's counters over all its sources, with `source` (its one kind) or `sources` (per kind); older
   *  snapshots have neither. */
  byType: Record<string, Record<string, unknown>>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export class CommandStats {
  /** The headline sources' commands (HEADLINE_SOURCE_KINDS). */
  private overallCounters = new Counters();
  /** Control operations (command types CONTROL:*) are counted apart: they do not move the commands' figures. */
  private controlCounters = new Counters();
  /** Per command source kind (SOURCE_INDEX; control and rule slots stay empty). */
  private sourceCounters: (Counters | undefined)[] = [];
  private types = new Map<string, TypeEntry>();

  /** The kind a command of `commandType` counts under: control operations and rule records by their type. */
  private static kindOf(commandType: string, kind: SourceKind): SourceKind {
    if (commandType.startsWith(CONTROL_PREFIX)) return 'control';
    if (commandType.startsWith(RULE_PREFIX)) return 'rule';
    return kind === 'control' || kind === 'rule' ? 'other' : kind;
  }

  private entry(commandType: string): TypeEntry {
    let c = this.types.get(commandType);
    if (c === undefined) {
      // The last place is kept for the shared '(other)' entry.
      const key = this.types.size >= MAX_COMMAND_TYPES - 1 && commandType !== OTHER_TYPE ? OTHER_TYPE : commandType;
      c = this.types.get(key);
      if (c === undefined) {
        c = [];
        this.types.set(key, c);
      }
    }
    return c;
  }

  /**
   * Records the one terminal outcome of a command. `timed` = it reached its executor; `kind` = its source
   * (sourceKindOf); `refused` = it never ran (REFUSED_CODES; blocked ones are). Rule records (RULE:*) have no
   * totals; control operations count in their own.
   */
  end(
    commandType: string,
    outcome: Outcome,
    blocked: boolean,
    durationMs: number,
    timed: boolean,
    epochMs: number,
    kind: SourceKind = 'other',
    refused = blocked,
  ): void {
    const k = CommandStats.kindOf(commandType, kind);
    const i = SOURCE_INDEX[k]!;
    (this.entry(commandType)[i] ??= new Counters()).end(outcome, blocked, refused, durationMs, timed, epochMs);
    if (k === 'rule') return;
    if (k === 'control') return this.controlCounters.end(outcome, blocked, refused, durationMs, timed, epochMs);
    (this.sourceCounters[i] ??= new Counters()).end(outcome, blocked, refused, durationMs, timed, epochMs);
    if (inHeadline(k)) this.overallCounters.end(outcome, blocked, refused, durationMs, timed, epochMs);
  }

  throttled(commandType: string, kind: SourceKind = 'other'): void {
    const k = CommandStats.kindOf(commandType, kind);
    const i = SOURCE_INDEX[k]!;
    (this.entry(commandType)[i] ??= new Counters()).throttledCount++;
    if (k === 'rule') return;
    if (k === 'control') {
      this.controlCounters.throttledCount++;
      return;
    }
    (this.sourceCounters[i] ??= new Counters()).throttledCount++;
    if (inHeadline(k)) this.overallCounters.throttledCount++;
  }

  /** The overall figures: of the headline sources, or of the sources in `filter` (terminal included when chosen). */
  overall(filter?: SourceFilter): OverallMetrics {
    let o = this.overallCounters;
    if (filter) {
      o = new Counters();
      for (const kind of COMMAND_SOURCE_KINDS) {
        const c = this.sourceCounters[SOURCE_INDEX[kind]!];
        if (c && filter.has(kind)) o.add(c);
      }
    }
    const control = !filter || filter.has('control') ? this.controlCounters : EMPTY;
    return {
      totalCommands: o.count,
      successfulCommands: o.successCount,
      failedCommands: o.errorCount,
      cancelledCommands: o.cancelledCount,
      blockedCommands: o.blockedCount,
      refusedCommands: o.refusedCount,
      throttledCommands: o.throttledCount,
      successRate: o.successRate,
      averageDurationMs: o.timedCount ? round3(o.totalDurationMs / o.timedCount) : 0,
      ...o.percentiles(),
      controlOperations: control.sourceReport(),
    };
  }

  /** Per source kind seen (SOURCE_KINDS order, control operations as `control`), those in `filter` only. */
  bySource(filter?: SourceFilter): Partial<Record<SourceKind, SourceStatsReport>> {
    const out: Partial<Record<SourceKind, SourceStatsReport>> = {};
    for (const kind of SOURCE_KINDS) {
      if (filter && !filter.has(kind)) continue;
      const c = kind === 'control' ? this.controlCounters : this.sourceCounters[SOURCE_INDEX[kind]!];
      if (c && (c.count > 0 || c.throttledCount > 0)) out[kind] = c.sourceReport();
    }
    return out;
  }

  /** Per command type, in the order the types were first seen; with `filter`, its sources' figures (types without any left out). */
  byType(filter?: SourceFilter): Record<string, TypeStatsReport> {
    const out: Record<string, TypeStatsReport> = {};
    for (const [type, entry] of this.types) {
      const sources: SourceKind[] = [];
      let one: Counters | undefined;
      let sum: Counters | undefined;
      for (let i = 0; i < entry.length; i++) {
        const c = entry[i];
        if (c === undefined || (filter && !filter.has(SOURCE_KINDS[i]))) continue;
        sources.push(SOURCE_KINDS[i]);
        if (one === undefined) one = c;
        else {
          if (sum === undefined) {
            sum = new Counters();
            sum.add(one);
          }
          sum.add(c);
        }
      }
      if (one !== undefined) out[type] = { ...(sum ?? one).report(), sources };
    }
    return out;
  }

  clear(): void {
    this.overallCounters = new Counters();
    this.controlCounters = new Counters();
    this.sourceCounters = [];
    this.types = new Map();
  }

  snapshot(epochMs: number): StatsSnapshot {
    const byType: Record<string, Record<string, unknown>> = {};
    for (const [type, entry] of this.types) {
      const kinds = SOURCE_KINDS.filter((_, i) => entry[i] !== undefined);
      if (kinds.length === 1) {
        byType[type] = { ...entry[SOURCE_INDEX[kinds[0]]!]!.toJSON(), source: kinds[0] };
        continue;
      }
      const sum = new Counters();
      const sources: Record<string, Record<string, unknown>> = {};
      for (const kind of kinds) {
        const c = entry[SOURCE_INDEX[kind]!]!;
        sum.add(c);
        sources[kind] = c.toJSON();
      }
      byType[type] = { ...sum.toJSON(), sources };
    }
    const bySource: Record<string, Record<string, unknown>> = {};
    for (const kind of COMMAND_SOURCE_KINDS) {
      const c = this.sourceCounters[SOURCE_INDEX[kind]!];
      if (c) bySource[kind] = c.toJSON();
    }
    return {
      version: 1,
      savedAt: new Date(epochMs).toISOString(),
      overall: this.overallCounters.toJSON(),
      control: this.controlCounters.toJSON(),
      bySource,
      byType,
    };
  }

  /**
   * Adds a snapshot's counts to the current ones (events recorded before the restore are kept). A snapshot
   * from before sources were kept puts its figures under `other`: the headline stays what it was, and the
   * per-source figures still add up to it.
   */
  restore(snapshot: unknown): boolean {
    if (!isRecord(snapshot)) return false;
    const s = snapshot as Partial<StatsSnapshot>;
    if (s.version !== 1 || !isRecord(s.overall)) return false;
    this.overallCounters.merge(s.overall);
    // Snapshots from before control operations were counted apart have no `control`: their overall has both.
    if (isRecord(s.control)) this.controlCounters.merge(s.control);
    if (isRecord(s.bySource)) {
      for (const [kind, c] of Object.entries(s.bySource)) {
        if (isSourceKind(kind) && COMMAND_SOURCE_KINDS.includes(kind) && isRecord(c)) (this.sourceCounters[SOURCE_INDEX[kind]!] ??= new Counters()).merge(c);
      }
    } else {
      (this.sourceCounters[SOURCE_INDEX.other!] ??= new Counters()).merge(s.overall);
    }
    if (isRecord(s.byType)) {
      for (const [type, c] of Object.entries(s.byType)) {
        if (!isRecord(c)) continue;
        const entry = this.entry(type);
        const slot = (kind: SourceKind) => (entry[SOURCE_INDEX[CommandStats.kindOf(type, kind)]!] ??= new Counters());
        if (isRecord(c.sources)) {
          for (const [kind, k] of Object.entries(c.sources)) if (isSourceKind(kind) && isRecord(k)) slot(kind).merge(k);
        } else {
          slot(isSourceKind(c.source) ? c.source : 'other').merge(c);
        }
      }
    }
    return true;
  }
}
