// The middleware's metrics for exporters, counted from telemetry events: O(1) and allocation-free per event
// (after a command type's first), bounded memory (the core's cap on command types), no OpenTelemetry
// import. The OpenTelemetry SDK's own instruments cost 2-3 µs per add() here (attribute hashing), more than
// a whole command; so the middleware keeps its own cumulative counts and the SDK reads them at collection
// time through a MetricProducer (src/export/otel.ts), for OTLP and Prometheus alike.
import { countsAsCommand, MAX_COMMAND_TYPES, OTHER_TYPE, SOURCE_INDEX, SOURCE_KINDS, sourceKindOf, type SourceKind } from '../core/telemetry';
import type { AdmissionState } from '../core/admission';
import type { PredictionAccuracy } from '../core/learning';
import { PRIORITIES, type Priority, type TelemetryEvent } from '../core/types';

/** How a command ended, as the `outcome` attribute. `error` excludes `blocked` (the core counts both as failed). */
export const OUTCOMES = ['success', 'error', 'blocked', 'cancelled'] as const;
export type CommandOutcome = (typeof OUTCOMES)[number];
/** Outcomes of commands that reached their executor: the ones with a latency. */
export const TIMED_OUTCOMES = ['success', 'error'] as const;

/** Upper bounds (ms) of the latency histogram's buckets; one more bucket holds everything above. */
const BOUNDS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000, 300_000];
export const DURATION_BOUNDARIES_MS: readonly number[] = Object.freeze([...BOUNDS]);

/** HIGH 0, NORMAL 1, LOW 2 (anything else counts as NORMAL); comparisons, cheaper than a keyed lookup. */
function priorityIndex(p: string): number {
  return p === 'NORMAL' ? 1 : p === 'HIGH' ? 0 : p === 'LOW' ? 2 : 1;
}
const SUCCESS = 0;
const ERROR = 1;
const BLOCKED = 2;
const CANCELLED = 3;
/**
 * The codes of the ERRORs the pipeline gives before a command reaches its executor (src/core/pipeline/pipeline.ts,
 * fail()): those have no latency, as in the core's stats. Tracking START events per commandId instead cost
 * ~1 µs per command in a Set (its table shrinks and grows as ids come and go).
 */
const NOT_STARTED_CODES: ReadonlySet<unknown> = new Set(['invalid_request', 'blocked', 'queue_full', 'closed']);

export class LatencySeries {
  /** counts[i]: values <= DURATION_BOUNDARIES_MS[i] (and > the previous bound); the last: above all. */
  readonly counts = new Float64Array(BOUNDS.length + 1);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  record(ms: number): void {
    let i = 0;
    while (i < BOUNDS.length && ms > BOUNDS[i]) i++;
    this.counts[i]++;
    this.count++;
    this.sum += ms;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }
}

export class TypeSeries {
  /** [priority * 4 + outcome] */
  readonly ends = new Float64Array(PRIORITIES.length * OUTCOMES.length);
  readonly throttles = new Float64Array(PRIORITIES.length);
  /** [priority * 2 + timed outcome], made on first use. */
  readonly latency: (LatencySeries | undefined)[] = new Array<LatencySeries | undefined>(PRIORITIES.length * TIMED_OUTCOMES.length).fill(undefined);
}

/** What the gauges read, at collection time only (never on the command path). */
export interface ExportState {
  readonly admission: Pick<AdmissionState, 'active' | 'queued' | 'delayed'>;
  /** The Python service's status ('healthy', 'unhealthy', 'starting', 'crashed', 'stopped'); health gauge = 1 only for 'healthy'. Omitted: no health gauge. */
  readonly serviceStatus?: string;
  /** The backoff delay in force now. Omitted: the last THROTTLE event's delay while commands wait, else 0. */
  readonly throttleDelayMs?: number;
  /** How the learning's predictions fared (LearningModel.accuracy()), for the prediction gauges. Omitted: none. */
  readonly predictionAccuracy?: Pick<PredictionAccuracy, 'byType'>;
}

export interface GaugeValues {
  queued: Record<Priority, number>;
  running: number;
  throttleDelayMs: number;
  serviceHealth: number | undefined;
}

/** A command type's series, one per source kind (SOURCE_INDEX) it came from. */
type SeriesBySource = (TypeSeries | undefined)[];

export class CommandMetrics {
  /** Epoch ms the counts start from (the start time of every cumulative point). */
  readonly startEpochMs = Date.now();
  readonly types = new Map<string, SeriesBySource>();
  private lastType: string | undefined;
  private lastSeries: SeriesBySource | undefined;
  private lastThrottleDelayMs = 0;

  /**
   * O(1); never throws on any event the core emits. Control operations (CONTROL:*) and rule records (RULE:*)
   * are not commands: the commands' metrics leave them out, as the core's figures do.
   */
  record(e: TelemetryEvent): void {
    if (!countsAsCommand(e.commandType)) return;
    switch (e.eventType) {
      case 'START':
        return;
      case 'THROTTLE': {
        this.series(e).throttles[priorityIndex(e.priority)]++;
        const d = e.metadata?.delayMs;
        if (typeof d === 'number') this.lastThrottleDelayMs = d;
        return;
      }
      case 'COMPLETE':
        return this.end(e, SUCCESS, true);
      case 'ERROR': {
        const code = e.metadata?.code;
        return this.end(e, code === 'blocked' ? BLOCKED : ERROR, !NOT_STARTED_CODES.has(code));
      }
      case 'CANCEL':
        return this.end(e, CANCELLED, false);
    }
  }

  /** `timed`: the command reached its executor, so its duration is a latency (as in the core's stats). */
  private end(e: TelemetryEvent, outcome: number, timed: boolean): void {
    const s = this.series(e);
    const p = priorityIndex(e.priority);
    s.ends[p * OUTCOMES.length + outcome]++;
    if (timed && e.durationMs !== undefined) {
      const i = p * TIMED_OUTCOMES.length + outcome;
      (s.latency[i] ??= new LatencySeries()).record(e.durationMs);
    }
  }

  /** The series of the event's type and source (the `source` attribute: its kind, on every event; older events: `other`). */
  private series(e: TelemetryEvent): TypeSeries {
    const commandType = e.commandType;
    let bySource: SeriesBySource | undefined;
    // Commands of one type tend to come in runs: the same string object skips the map.
    if (commandType === this.lastType) bySource = this.lastSeries!;
    else {
      bySource = this.types.get(commandType);
      if (bySource === undefined) {
        // The core's rule, so per-type figures match its stats: the last place is kept for '(other)'.
        const key = this.types.size >= MAX_COMMAND_TYPES - 1 && commandType !== OTHER_TYPE ? OTHER_TYPE : commandType;
        bySource = this.types.get(key);
        if (bySource === undefined) {
          bySource = [];
          this.types.set(key, bySource);
        }
      }
      this.lastType = commandType;
      this.lastSeries = bySource;
    }
    const s = e.metadata?.source;
    const i = (typeof s === 'string' ? SOURCE_INDEX[s] : undefined) ?? SOURCE_INDEX[sourceKindOf(commandType, e.metadata)]!;
    return (bySource[i] ??= new TypeSeries());
  }

  /** Each command type's series per source, for collection. */
  *entries(): IterableIterator<[commandType: string, source: SourceKind, series: TypeSeries]> {
    for (const [commandType, bySource] of this.types) {
      for (let i = 0; i < bySource.length; i++) {
        const s = bySource[i];
        if (s !== undefined) yield [commandType, SOURCE_KINDS[i], s];
      }
    }
  }

  /** One command type's series from one source (tests and reports). */
  seriesOf(commandType: string, source: SourceKind): TypeSeries | undefined {
    return this.types.get(commandType)?.[SOURCE_INDEX[source]!];
  }

  /** Ended commands with these attributes, from one source or all (tests and reports). */
  ended(commandType: string, priority: Priority, outcome: CommandOutcome, source?: SourceKind): number {
    let n = 0;
    for (const [type, kind, s] of this.entries()) {
      if (type === commandType && (source === undefined || kind === source)) n += s.ends[priorityIndex(priority) * OUTCOMES.length + OUTCOMES.indexOf(outcome)];
    }
    return n;
  }

  gauges(state: ExportState): GaugeValues {
    const a = state.admission;
    const waiting = a.delayed + a.queued.HIGH + a.queued.NORMAL + a.queued.LOW;
    const status = state.serviceStatus;
    return {
      queued: { HIGH: a.queued.HIGH, NORMAL: a.queued.NORMAL, LOW: a.queued.LOW },
      running: a.active,
      throttleDelayMs: state.throttleDelayMs ?? (waiting > 0 ? this.lastThrottleDelayMs : 0),
      serviceHealth: status === undefined ? undefined : status === 'healthy' ? 1 : 0,
    };
  }
}
