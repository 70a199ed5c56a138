// Telemetry: events with user, system and service context, O(1) stats per event, a bounded ring of recent
// events, queries at three detail levels, live subscribers, and a sink for persistence.
import type { AdmissionState } from './admission';
import type { Clock } from './clock';
import { Listeners } from './listeners';
import { RingBuffer } from '../shared/ringBuffer';
import { round3 } from './numbers';
import { CommandStats, type OverallMetrics, type TypeStatsReport } from './stats';
import type { DetailLevel, Disposable, EventType, Priority, ServiceContext, SystemContext, SystemSample, TelemetryEvent, UserContext } from './types';

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
  overall: OverallMetrics;
  storage: StorageReport;
}

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
  storage: () => StorageReport;
  /** Receives each event as one JSON line. */
  sink?: LineSink;
}

/** Where persisted events go (a JsonlWriter): a line as a string, or as head + shared bytes + tail. */
export interface LineSink {
  append(line: string): void;
  appendPieces(head: string, middle: Uint8Array | undefined, tail: string | undefined): void;
}

/** The public face of telemetry on a Middleware. */
export interface TelemetryApi {
  query(level: 'SUMMARY'): SummaryReport;
  query(level: 'DETAILED'): DetailedReport;
  query(level: 'REALTIME'): RealtimeReport;
  query(level: DetailLevel): TelemetryReport;
  /** Called synchronously for every event; batch in the listener if forwarding is costly. */
  onEvent(listener: (event: TelemetryEvent) => void): Disposable;
  /** Called at most every 250 ms while events flow, with the SUMMARY report. */
  onStatsChanged(listener: (summary: SummaryReport) => void): Disposable;
  /** Resets stats and recent events (the persisted event files are kept). */
  clear(): void;
  /** Recent events, oldest first. */
  recentEvents(): TelemetryEvent[];
  /** Per-command-type stats alone (DETAILED's byType, without copying the recent events). */
  byType(): Record<string, TypeStatsReport>;
}

/**
 * The `,"user":…,"system":…,"service":…` part of an event line, serialised and UTF-8 encoded once per
 * identity of the three context objects (they change about once a second, events come far more often).
 */
class ContextCache {
  private user: object | undefined;
  private system: object | undefined;
  private service: object | undefined;
  private bytes: Uint8Array = new Uint8Array(0);

  private refresh(user: object, system: object, service: object): void {
    if (user === this.user && system === this.system && service === this.service) return;
    this.user = user;
    this.system = system;
    this.service = service;
    this.bytes = new TextEncoder().encode(`,"user":${JSON.stringify(user)},"system":${JSON.stringify(system)},"service":${JSON.stringify(service)}`);
  }

  encoded(e: TelemetryEvent): Uint8Array {
    this.refresh(e.user, e.system, e.service);
    return this.bytes;
  }
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
   * metadata.code is 'blocked'), CANCEL = cancelled, THROTTLE = throttled. `timed` = the command reached its
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
  ): TelemetryEvent {
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
        this.stats.end(commandType, 'success', false, durationMs ?? 0, timed, epoch);
        break;
      case 'ERROR':
        this.stats.end(commandType, 'error', metadata?.code === 'blocked', durationMs ?? 0, timed, epoch);
        break;
      case 'CANCEL':
        this.stats.end(commandType, 'cancelled', false, durationMs ?? 0, false, epoch);
        break;
      case 'THROTTLE':
        this.stats.throttled(commandType);
        break;
    }
    this.dirty = true;
    this.ring?.push(event);
    if (this.opts.sink) this.opts.sink.appendPieces(this.lineHead(event), this.context.encoded(event), this.lineTail(event));
    if (this.events.size > 0) this.events.fire(event);
    if (this.statsListeners.size > 0 && this.statsTimer === undefined) {
      this.statsTimer = this.opts.clock.setTimeout(() => {
        this.statsTimer = undefined;
        this.statsListeners.fire(this.query('SUMMARY'));
      }, STATS_NOTIFY_MS);
    }
    return event;
  }

  private lineHead(e: TelemetryEvent): string {
    const head = `{"timestamp":"${e.timestamp}","eventType":"${e.eventType}","commandId":${JSON.stringify(e.commandId)},"commandType":${JSON.stringify(
      e.commandType,
    )},"priority":"${e.priority}"`;
    return e.durationMs === undefined ? head : `${head},"durationMs":${e.durationMs}`;
  }

  private lineTail(e: TelemetryEvent): string {
    return e.metadata === undefined ? '}' : `,"metadata":${JSON.stringify(e.metadata)}}`;
  }

  recentEvents(): TelemetryEvent[] {
    return this.ring?.toArray() ?? [];
  }

  query(level: 'SUMMARY'): SummaryReport;
  query(level: 'DETAILED'): DetailedReport;
  query(level: 'REALTIME'): RealtimeReport;
  query(level: DetailLevel): TelemetryReport;
  query(level: DetailLevel): TelemetryReport {
    const summary: SummaryReport = {
      level,
      generatedAt: new Date(this.opts.clock.epochMs()).toISOString(),
      overall: this.stats.overall(),
      storage: this.opts.storage(),
    };
    if (level === 'SUMMARY') return summary;
    const detailed: DetailedReport = { ...summary, byType: this.byType(), recentEvents: this.recentEvents() };
    if (level === 'DETAILED') return detailed;
    return { ...detailed, ...this.opts.realtime() };
  }

  byType(): Record<string, TypeStatsReport> {
    return this.stats.byType();
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
