// Telemetry: events with user, system and service context, O(1) stats per event, a bounded ring of recent
// events, queries at three detail levels, live subscribers, and a sink for persistence.
import { redactValue } from './redact';
import type { AdmissionState } from '../admission';
import type { Clock } from '../clock';
import { Listeners } from '../listeners';
import { RingBuffer } from '../../shared/ringBuffer';
import { round3 } from '../numbers';
import { CommandStats, REFUSED_CODES, type OverallMetrics, type SourceFilter, type SourceStatsReport, type TypeStatsReport } from './stats';
import { sourceKindOf, SOURCE_KINDS, type SourceKind } from './sources';
import type { DetailLevel, Disposable, EventType, Priority, ServiceContext, SystemContext, SystemSample, TelemetryEvent, UserContext } from '../types';

/** Stats listeners hear at most this often; the event stream itself is not coalesced. */
export const STATS_NOTIFY_MS = 250;

export interface StorageReport {
  enabled: boolean;
  directory?: string;
  writtenEvents: number;
  droppedEvents: number;
  restored: boolean;
}

export interface SummaryReport {
  level: DetailLevel;
  generatedAt: string;
  /** The sources this report covers, when it was asked for some only (see Telemetry.query). */
  filter?: { sources: SourceKind[] };
  overall: OverallMetrics;
  /** Per source kind seen: the same outcomes and latency as `overall`, for each source (terminal included). */
  bySource: Partial<Record<SourceKind, SourceStatsReport>>;
  storage: StorageReport;
}

/** Also holds the sections other parts add (Middleware.addDetailedSection): the learning's accuracy. */
export interface DetailedReport extends SummaryReport {
  byType: Record<string, TypeStatsReport>;
  recentEvents: TelemetryEvent[];
}

export interface RealtimeState {
  system: SystemSample;
  admission: AdmissionState;
  service: ServiceContext;
  /** Sections other parts add (Middleware.addRealtimeSection): exporters' health, rules, the control server. */
  [section: string]: unknown;
}

export interface RealtimeReport extends DetailedReport, RealtimeState {}

export type TelemetryReport = SummaryReport | DetailedReport | RealtimeReport;

export interface TelemetryOptions {
  clock: Clock;
  maxRecentEvents: number;
  user: UserContext;
  /** Current system context; return the same object until it changes (its JSON is cached by identity). */
  system: () => SystemContext;
  /** Current service context; same caching rule. */
  service: () => ServiceContext;
  realtime: () => RealtimeState;
  /** Sections added to DETAILED (and REALTIME) reports. */
  detailed?: () => Record<string, unknown>;
  storage: () => StorageReport;
  /** Receives each event as one JSON line. */
  sink?: LineSink;
}

/** Where persisted events go (a JsonlWriter): one JSON line per event, without its newline. */
export interface LineSink {
  /** `droppable`: the line may be given up when the sink is far behind (a refused command's event). */
  append(line: string, droppable?: boolean): void;
}

/** The public face of telemetry on a Middleware. */
export interface TelemetryApi {
  /** The report at `level`; with `filter`, of those sources only (figures, per-type stats and recent events). */
  query(level: 'SUMMARY', filter?: SourceFilter): SummaryReport;
  query(level: 'DETAILED', filter?: SourceFilter): DetailedReport;
  query(level: 'REALTIME', filter?: SourceFilter): RealtimeReport;
  query(level: DetailLevel, filter?: SourceFilter): TelemetryReport;
  /** Called synchronously for every event; batch in the listener if forwarding is costly. */
  onEvent(listener: (event: TelemetryEvent) => void): Disposable;
  /** Called at most every 250 ms while events flow, with the SUMMARY report. */
  onStatsChanged(listener: (summary: SummaryReport) => void): Disposable;
  /** Resets stats and recent events (the persisted event files are kept). */
  clear(): void;
  /** Recent events, oldest first. */
  recentEvents(): TelemetryEvent[];
  /** Puts events from before this extension host before the recent ones (see Telemetry.seedRecentEvents). */
  seedRecentEvents(older: readonly TelemetryEvent[]): void;
  /** Per-command-type stats alone (DETAILED's byType, without copying the recent events); `filter` as in query. */
  byType(filter?: SourceFilter): Record<string, TypeStatsReport>;
}

/**
 * The `,"user":…,"system":…,"service":…` part of an event line, serialised once per identity of the three
 * context objects (they change about once a second, events come far more often).
 */
class ContextCache {
  private user: object | undefined;
  private system: object | undefined;
  private service: object | undefined;
  private json = '';

  of(e: TelemetryEvent): string {
    if (e.user !== this.user || e.system !== this.system || e.service !== this.service) {
      this.user = e.user;
      this.system = e.system;
      this.service = e.service;
      this.json = `,"user":${JSON.stringify(e.user)},"system":${JSON.stringify(e.system)},"service":${JSON.stringify(e.service)}`;
    }
    return this.json;
  }
}

const constants = new WeakSet<object>();

/**
 * Marks metadata that never changes (frozen, primitives only), so its JSON is reused when the same object
 * comes again: the pipeline passes the same few over and over.
 */
export function constantMetadata<T extends Record<string, string | number | boolean>>(metadata: T): Readonly<T> {
  constants.add(Object.freeze(metadata));
  return metadata;
}

/**
 * The metadata of a command that waited for its slot: `waitMs`, its `source` kind and `caller`. A class so that
 * a line writes it without JSON.stringify (printing the double was a fifth of a queued command's telemetry);
 * it serialises, spreads and clones as the plain object `{ waitMs, source, caller }`.
 */
export class WaitMetadata {
  readonly waitMs: number;
  declare readonly source?: string;
  declare readonly caller?: string;
  [key: string]: unknown;

  constructor(waitMs: number, source: string | undefined, caller?: string) {
    this.waitMs = round3(waitMs);
    if (source !== undefined) (this as { source?: string }).source = source;
    if (caller !== undefined) (this as { caller?: string }).caller = caller;
  }
}

/** Command types seen, with their line fragment; cleared past this many (terminal programs are open-ended). */
const MAX_TYPE_FRAGMENTS = 1024;

/** Whether JSON.stringify would write the string as it is between quotes (ids and types do). */
function plainJson(s: string): boolean {
  if (s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return false;
  }
  return true;
}

/** The JSON of a string, at a fraction of JSON.stringify's cost per event for ids and command types. */
export function jsonString(s: string): string {
  return plainJson(s) ? `"${s}"` : JSON.stringify(s);
}

/**
 * The JSON of a duration already rounded to 3 decimals, as JSON.stringify writes it: from the integer
 * thousandths (printing a double is the costliest step of an event line). A thousandth apart is far above
 * a double's spacing below 1e9, so the trimmed decimal is also the shortest one that reads back the same.
 */
export function jsonMs(n: number): string {
  const m = Math.round(n * 1000);
  if (!(m >= 0 && m < 1e12)) return JSON.stringify(n);
  const whole = Math.floor(m / 1000);
  const frac = m - whole * 1000;
  if (frac === 0) return `${whole}`;
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${whole}.${frac < 100 ? '0' : ''}${frac / 10}`;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

export class Telemetry implements TelemetryApi {
  readonly stats = new CommandStats();
  /** Recent events; none kept when maxRecentEvents is 0. */
  private ring: RingBuffer<TelemetryEvent> | undefined;
  private readonly events = new Listeners<TelemetryEvent>();
  private readonly statsListeners = new Listeners<SummaryReport>();
  private statsTimer: unknown;
  private lastEpoch = -1;
  private lastIso = '';
  private readonly context = new ContextCache();
  /** `","commandType":…,"priority":"…"` by command type and priority. */
  private readonly typeFragments = new Map<string, Partial<Record<Priority, string>>>();
  /** `{"timestamp":…,"eventType":…,"commandId":"` by event type, for the current timestamp. */
  private readonly prefixes = new Map<EventType, string>();
  private prefixIso = '';
  /** The last constant metadata object (constantMetadata) and its line tail. */
  private lastMetadata: object | undefined;
  private lastTail = '';
  /** The last WaitMetadata's source and caller, and the line's end after its waitMs. */
  private waitSource: string | undefined;
  private waitCaller: string | undefined;
  private waitSuffix = '}}';
  /** Events since the last stats snapshot was taken. */
  dirty = false;

  constructor(private readonly opts: TelemetryOptions) {
    this.ring = opts.maxRecentEvents > 0 ? new RingBuffer(opts.maxRecentEvents) : undefined;
  }

  setMaxRecentEvents(n: number): void {
    const kept = n > 0 ? this.recentEvents().slice(-n) : [];
    this.ring = n > 0 ? new RingBuffer(n) : undefined;
    for (const e of kept) this.ring!.push(e);
  }

  /**
   * Records one event. Stats follow from the event: COMPLETE = success, ERROR = failure (blocked when
   * metadata.code is 'blocked', refused for REFUSED_CODES), CANCEL = cancelled, THROTTLE = throttled, each
   * under the source kind metadata.source names (sourceKindOf). `droppable` = a refused command's event, which the sink may give up when it is far behind (stats
   * still count it); every other event is kept. `timed` = the command reached its
   * executor, so its duration belongs in the latency figures.
   */
  emit(
    eventType: EventType,
    commandId: string,
    commandType: string,
    priority: Priority,
    durationMs: number | undefined,
    metadata: Readonly<Record<string, unknown>> | undefined,
    timed = false,
    droppable = false,
  ): TelemetryEvent {
    // Error messages, error data and ad-hoc metadata may carry secrets: redacted before anything keeps them.
    // The constant objects of the hot path (WaitMetadata, constantMetadata) hold none and skip this.
    if (metadata !== undefined && !(metadata instanceof WaitMetadata) && !constants.has(metadata)) metadata = redactValue(metadata);
    const epoch = this.opts.clock.epochMs();
    if (epoch !== this.lastEpoch) {
      this.lastEpoch = epoch;
      this.lastIso = new Date(epoch).toISOString();
    }
    const event: TelemetryEvent = {
      timestamp: this.lastIso,
      eventType,
      commandId,
      commandType,
      priority,
      durationMs: durationMs === undefined ? undefined : round3(durationMs),
      user: this.opts.user,
      system: this.opts.system(),
      service: this.opts.service(),
      metadata,
    };
    switch (eventType) {
      case 'COMPLETE':
        this.stats.end(commandType, 'success', false, durationMs ?? 0, timed, epoch, sourceKindOf(commandType, metadata));
        break;
      case 'ERROR': {
        const code = metadata?.code;
        this.stats.end(commandType, 'error', code === 'blocked', durationMs ?? 0, timed, epoch, sourceKindOf(commandType, metadata), REFUSED_CODES.has(code));
        break;
      }
      case 'CANCEL':
        this.stats.end(commandType, 'cancelled', false, durationMs ?? 0, false, epoch, sourceKindOf(commandType, metadata));
        break;
      case 'THROTTLE':
        this.stats.throttled(commandType, sourceKindOf(commandType, metadata));
        break;
    }
    this.dirty = true;
    this.ring?.push(event);
    if (this.opts.sink) this.opts.sink.append(this.lineHead(event) + this.context.of(event) + this.lineTail(event.metadata), droppable);
    if (this.events.size > 0) this.events.fire(event);
    if (this.statsListeners.size > 0 && this.statsTimer === undefined) {
      this.statsTimer = this.opts.clock.setTimeout(() => {
        this.statsTimer = undefined;
        this.statsListeners.fire(this.query('SUMMARY'));
      }, STATS_NOTIFY_MS);
    }
    return event;
  }

  /**
   * The line up to the contexts, exactly as JSON.stringify(event) writes it (a unit test holds them equal),
   * from fragments cached per millisecond and per command type: a line is a rope of a few pieces, and
   * encoding it later costs per piece as well as per byte.
   */
  private lineHead(e: TelemetryEvent): string {
    if (e.timestamp !== this.prefixIso) {
      this.prefixIso = e.timestamp;
      this.prefixes.clear();
    }
    let prefix = this.prefixes.get(e.eventType);
    if (prefix === undefined) {
      prefix = `{"timestamp":"${e.timestamp}","eventType":"${e.eventType}","commandId":"`;
      this.prefixes.set(e.eventType, prefix);
    }
    let byPriority = this.typeFragments.get(e.commandType);
    if (byPriority === undefined) {
      if (this.typeFragments.size >= MAX_TYPE_FRAGMENTS) this.typeFragments.clear();
      byPriority = {};
      this.typeFragments.set(e.commandType, byPriority);
    }
    const typed = (byPriority[e.priority] ??= `","commandType":${jsonString(e.commandType)},"priority":"${e.priority}"`);
    const id = plainJson(e.commandId) ? e.commandId : JSON.stringify(e.commandId).slice(1, -1);
    const head = prefix + id + typed;
    return e.durationMs === undefined ? head : head + ',"durationMs":' + jsonMs(e.durationMs);
  }

  private lineTail(metadata: object | undefined): string {
    if (metadata === undefined) return '}';
    if (metadata === this.lastMetadata) return this.lastTail;
    if (metadata instanceof WaitMetadata) {
      // What follows waitMs depends on the source alone, the same few over and over: kept for the last one.
      if (metadata.source !== this.waitSource || metadata.caller !== this.waitCaller) {
        this.waitSource = metadata.source;
        this.waitCaller = metadata.caller;
        const source = metadata.source === undefined ? '' : `,"source":${jsonString(metadata.source)}`;
        this.waitSuffix = `${source}${metadata.caller === undefined ? '' : `,"caller":${jsonString(metadata.caller)}`}}}`;
      }
      return ',"metadata":{"waitMs":' + jsonMs(metadata.waitMs) + this.waitSuffix;
    }
    const tail = `,"metadata":${JSON.stringify(metadata)}}`;
    if (constants.has(metadata)) {
      this.lastMetadata = metadata;
      this.lastTail = tail;
    }
    return tail;
  }

  recentEvents(): TelemetryEvent[] {
    return this.ring?.toArray() ?? [];
  }

  /**
   * Puts `older` (oldest first: events from before this extension host, read from disk) before the recent
   * events already kept, as many as fit. Stats are not touched (they come back from their own snapshot), and
   * no listener hears of them: they are not new events.
   */
  seedRecentEvents(older: readonly TelemetryEvent[]): void {
    if (!this.ring || older.length === 0) return;
    const kept = this.ring.toArray();
    const merged = [...older, ...kept].slice(-this.ring.capacity);
    this.ring.clear();
    for (const e of merged) this.ring.push(e);
  }

  query(level: 'SUMMARY', filter?: SourceFilter): SummaryReport;
  query(level: 'DETAILED', filter?: SourceFilter): DetailedReport;
  query(level: 'REALTIME', filter?: SourceFilter): RealtimeReport;
  query(level: DetailLevel, filter?: SourceFilter): TelemetryReport;
  query(level: DetailLevel, filter?: SourceFilter): TelemetryReport {
    const summary: SummaryReport = {
      level,
      generatedAt: new Date(this.opts.clock.epochMs()).toISOString(),
      ...(filter ? { filter: { sources: SOURCE_KINDS.filter((k) => filter.has(k)) } } : {}),
      overall: this.stats.overall(filter),
      bySource: this.stats.bySource(filter),
      storage: this.opts.storage(),
    };
    if (level === 'SUMMARY') return summary;
    const events = this.recentEvents();
    const recentEvents = filter ? events.filter((e) => filter.has(sourceKindOf(e.commandType, e.metadata))) : events;
    // The sections before the long lists, where a person reading the document finds them.
    const detailed: DetailedReport = { ...summary, ...this.opts.detailed?.(), byType: this.byType(filter), recentEvents };
    if (level === 'DETAILED') return detailed;
    return { ...detailed, ...this.opts.realtime() };
  }

  byType(filter?: SourceFilter): Record<string, TypeStatsReport> {
    return this.stats.byType(filter);
  }

  onEvent(listener: (event: TelemetryEvent) => void): Disposable {
    return this.events.add(listener);
  }

  onStatsChanged(listener: (summary: SummaryReport) => void): Disposable {
    return this.statsListeners.add(listener);
  }

  clear(): void {
    this.stats.clear();
    this.ring?.clear();
    this.dirty = true;
    if (this.statsListeners.size > 0) this.statsListeners.fire(this.query('SUMMARY'));
  }

  dispose(): void {
    if (this.statsTimer !== undefined) this.opts.clock.clearTimeout(this.statsTimer);
    this.statsTimer = undefined;
    this.events.clear();
    this.statsListeners.clear();
  }
}
