// The per-command-type model, learned online from telemetry events: time in the service (a decayed histogram:
// p50, p90, mean), error rate, and how time in the service grows with the number running (the knee).
//
// Fed every event in order (Telemetry.onEvent, or a log read back): O(1) per event and bounded memory (at
// most MAX_TYPES types of 4.5 KB each, and one small record per command in flight). The number running when
// a command starts is not in the events: it is reconstructed per window session (`user.sessionId`) by
// counting STARTs against their COMPLETE, ERROR or CANCEL. Commands that hold no admission slot (control-plane
// operations, rule records, terminal commands) are not counted as running.
//
// Time in the service is durationMs - waitMs of a COMPLETE or ERROR whose START was seen: the time it held
// its slot, without its backoff and queueing. Errors without a START (blocked, invalid, queue_full) never
// reached the service and are not learned from.
//
// Honesty: when a command starts, the model's prediction for it (p50 and p90 of its time in the service) is
// kept, and scored when it ends, before what it teaches is learned (PredictionScorer).
import { readTelemetry } from '../telemetry';
import type { TelemetryEvent } from '../types';
import { CONTROL_PREFIX, RULE_PREFIX } from '../types';
import { ConcurrencyProfile, type Knee } from './knee';
import { PredictionScorer, type PredictionAccuracy } from './scoring';
import { DecayedHistogram } from './sketch';

/** Types learned at most; more are not modelled (and predict nothing). */
export const MAX_TYPES = 256;
/** Commands in flight followed at most (a log cut short leaves STARTs without an end): the oldest go first. */
const MAX_TRACKED = 50_000;
const TERMINAL_PREFIX = 'TERMINAL:';

export interface LearningOptions {
  /** Samples a type needs before it predicts anything (default 20). */
  minSamples?: number;
  /** After this many more samples of its type, one weighs half (default 500). */
  halfLife?: number;
  /** Scored predictions in the rolling window of the accuracy figures (default 500). */
  scoreWindow?: number;
  /** Whether a command type holds an admission slot while it runs (default: all but CONTROL:, RULE:, TERMINAL:). */
  holdsSlot?: (commandType: string) => boolean;
}

/** What the model knows of a command type. */
export interface TypeModel {
  commandType: string;
  /** Durations learned from (not decayed). */
  samples: number;
  /** Time in the service, decayed quantiles and mean (ms). */
  p50Ms: number;
  p90Ms: number;
  meanMs: number;
  /** Decayed share of ends that were ERROR. */
  errorRate: number;
  /** Undefined when time in the service did not grow with the number running as far as seen. */
  knee?: Knee;
  /** Highest number running at start seen for this type. */
  maxRunningSeen: number;
}

/** What the model knows and how its predictions fared: for the DETAILED report and as metrics. */
export interface LearningReport {
  /** Events fed in. */
  events: number;
  /** Every type that predicts. */
  models: TypeModel[];
  accuracy: PredictionAccuracy;
}

export interface RestoreOptions {
  /** Newest events read at most (default 20,000): bounded work however large the logs are. */
  maxEvents?: number;
  /** Only events newer than this many ms before `nowMs` (default 7 days; Infinity: all). */
  maxAgeMs?: number;
  nowMs?: number;
  /** Events of this session are skipped (the window's own, which arrive live). */
  excludeSessionId?: string;
}

export interface RestoreResult {
  /** Events fed to the model. */
  events: number;
  /** Valid events in the files (all of them, read or not). */
  totalEvents: number;
  skippedLines: number;
  files: number;
}

/** The p50 and p90 a starting command is scored against are read again after this many samples. */
const REFRESH_EVERY = 16;

class TypeState {
  readonly durations: DecayedHistogram;
  readonly profile = new ConcurrencyProfile();
  errorWeight = 0;
  maxRunning = 0;
  /** Cached p50 and p90 (a read is O(buckets)), and the sample count they were read at. */
  private p50 = NaN;
  private p90 = NaN;
  private readAt = -Infinity;

  constructor(halfLife: number) {
    this.durations = new DecayedHistogram(halfLife);
    this.durations.onRescale = (f) => {
      this.errorWeight *= f;
      this.profile.rescale(f);
    };
  }

  learn(serviceMs: number, error: boolean, running: number): void {
    this.durations.add(serviceMs);
    const w = this.durations.increment;
    if (error) this.errorWeight += w;
    if (running > 0) this.profile.add(running, serviceMs, w);
    if (running > this.maxRunning) this.maxRunning = running;
  }

  /** p50 and p90, read at most once per REFRESH_EVERY samples: O(1) per event amortised. */
  quantiles(): [number, number] {
    if (this.durations.count - this.readAt >= REFRESH_EVERY) {
      this.p50 = this.durations.quantile(0.5);
      this.p90 = this.durations.quantile(0.9);
      this.readAt = this.durations.count;
    }
    return [this.p50, this.p90];
  }
}

interface Tracked {
  session: string;
  commandType: string;
  counted: boolean;
  running: number;
  waitMs: number;
  /** The prediction made at its start, when its type was known. */
  p50Ms: number;
  p90Ms: number;
}

/** The session of an event (its window), '' when it has none. */
export function sessionOf(e: TelemetryEvent): string {
  const s = (e.user as Record<string, unknown> | undefined)?.sessionId;
  return typeof s === 'string' ? s : '';
}

function waitOf(e: TelemetryEvent): number {
  const w = e.metadata?.waitMs;
  return typeof w === 'number' && w > 0 ? w : 0;
}

export function defaultHoldsSlot(commandType: string): boolean {
  return !commandType.startsWith(CONTROL_PREFIX) && !commandType.startsWith(RULE_PREFIX) && !commandType.startsWith(TERMINAL_PREFIX);
}

export class LearningModel {
  readonly scorer: PredictionScorer;
  private readonly types = new Map<string, TypeState>();
  private readonly tracked = new Map<string, Tracked>();
  private readonly running = new Map<string, number>();
  /** Wait predictions waiting for their command's START: predicted remaining wait and when it was made. */
  private readonly waits = new Map<string, { session: string; predictedMs: number; atMs: number }>();
  private readonly minSamples: number;
  private readonly halfLife: number;
  private readonly holdsSlot: (commandType: string) => boolean;
  /** Events fed in. */
  events = 0;

  constructor(options: LearningOptions = {}) {
    this.minSamples = Math.max(1, options.minSamples ?? 20);
    this.halfLife = options.halfLife ?? 500;
    this.holdsSlot = options.holdsSlot ?? defaultHoldsSlot;
    this.scorer = new PredictionScorer(options.scoreWindow ?? 500);
  }

  /** Feeds one event (in the order they happened); O(1). A listener for Telemetry.onEvent. */
  observe(e: TelemetryEvent): void {
    this.events++;
    switch (e.eventType) {
      case 'START':
        this.started(e);
        break;
      case 'COMPLETE':
      case 'ERROR':
      case 'CANCEL':
        this.ended(e);
        break;
    }
  }

  /** Bound to this model, to pass as a listener. */
  readonly listener = (e: TelemetryEvent): void => this.observe(e);

  private started(e: TelemetryEvent): void {
    const session = sessionOf(e);
    const counted = this.holdsSlot(e.commandType);
    let running = 0;
    if (counted) {
      running = (this.running.get(session) ?? 0) + 1;
      this.running.set(session, running);
    }
    const t = this.types.get(e.commandType);
    const [p50Ms, p90Ms] = t !== undefined && t.durations.count >= this.minSamples ? t.quantiles() : [NaN, NaN];
    // Keyed by id alone (a window's ids start with its own random prefix); the session is checked at the end.
    const key = e.commandId;
    const wait = this.waits.get(key);
    if (wait && wait.session === session) {
      this.waits.delete(key);
      const startedAt = Date.parse(e.timestamp);
      if (Number.isFinite(startedAt)) this.scorer.scoreWait(wait.predictedMs, Math.max(0, startedAt - wait.atMs));
    }
    if (this.tracked.size >= MAX_TRACKED) {
      const oldest = this.tracked.keys().next().value as string;
      this.forget(oldest, this.tracked.get(oldest)!);
    }
    this.tracked.set(key, {
      session,
      commandType: e.commandType,
      counted,
      running,
      waitMs: waitOf(e),
      p50Ms,
      p90Ms,
    });
  }

  private forget(key: string, r: Tracked): void {
    this.tracked.delete(key);
    if (r.counted) {
      const n = (this.running.get(r.session) ?? 1) - 1;
      if (n > 0) this.running.set(r.session, n);
      else this.running.delete(r.session);
    }
  }

  private ended(e: TelemetryEvent): void {
    const key = e.commandId;
    const r = this.tracked.get(key);
    if (!r || r.session !== sessionOf(e)) {
      this.waits.delete(key); // never started: blocked, invalid, refused, or cancelled while waiting
      return;
    }
    this.forget(key, r);
    if (e.eventType === 'CANCEL' || typeof e.durationMs !== 'number') return;
    const serviceMs = Math.max(0, e.durationMs - (waitOf(e) || r.waitMs));
    if (r.p90Ms === r.p90Ms) this.scorer.scoreDuration(e.commandType, r.p50Ms, r.p90Ms, serviceMs);
    let t = this.types.get(e.commandType);
    if (!t) {
      if (this.types.size >= MAX_TYPES) return;
      t = new TypeState(this.halfLife);
      this.types.set(e.commandType, t);
    }
    t.learn(serviceMs, e.eventType === 'ERROR', r.running);
  }

  /** What is known of a type; undefined while it has fewer than minSamples samples. */
  model(commandType: string): TypeModel | undefined {
    const t = this.types.get(commandType);
    if (!t || t.durations.count < this.minSamples) return undefined;
    const d = t.durations;
    const knee = t.profile.knee();
    return {
      commandType,
      samples: d.count,
      p50Ms: d.quantile(0.5),
      p90Ms: d.quantile(0.9),
      meanMs: d.mean(),
      errorRate: d.totalWeight > 0 ? t.errorWeight / d.totalWeight : 0,
      ...(knee ? { knee } : {}),
      maxRunningSeen: t.maxRunning,
    };
  }

  /** Every type that predicts, by name. */
  models(): TypeModel[] {
    const out: TypeModel[] = [];
    for (const name of [...this.types.keys()].sort()) {
      const m = this.model(name);
      if (m) out.push(m);
    }
    return out;
  }

  /** The total time in the service of a type at quantile q, given it has run `elapsedMs`; undefined if unknown. */
  durationQuantile(commandType: string, q: number, elapsedMs = 0): number | undefined {
    const t = this.types.get(commandType);
    if (!t || t.durations.count < this.minSamples) return undefined;
    return t.durations.quantileFrom(elapsedMs, q);
  }

  /** Expected time a command of this type still runs after `elapsedMs` (ms); undefined if unknown. */
  meanRemainingMs(commandType: string, elapsedMs: number): number | undefined {
    const t = this.types.get(commandType);
    if (!t || t.durations.count < this.minSamples) return undefined;
    const m = t.durations.meanRemaining(elapsedMs);
    // Past every value seen: it has run longer than any before; say what the p90 of the rest would be.
    return m === m ? m : t.durations.quantileFrom(elapsedMs, 0.5) - elapsedMs;
  }

  /** Mean time in the service of a type (ms); undefined if unknown. */
  meanMs(commandType: string): number | undefined {
    const t = this.types.get(commandType);
    if (!t || t.durations.count < this.minSamples) return undefined;
    return t.durations.mean();
  }

  /**
   * Keeps a wait prediction shown for a queued command (its remaining wait, predicted at epoch ms `atMs`), to
   * be scored when it starts. The first one per command counts; bounded (the oldest are dropped).
   */
  noteWaitPrediction(sessionId: string, commandId: string, predictedMs: number, atMs: number): void {
    if (this.waits.has(commandId) || !(predictedMs >= 0)) return;
    if (this.waits.size >= MAX_TRACKED) this.waits.delete(this.waits.keys().next().value as string);
    this.waits.set(commandId, { session: sessionId, predictedMs, atMs });
  }

  /** Commands of a session running now, as reconstructed from its events. */
  runningIn(sessionId: string): number {
    return this.running.get(sessionId) ?? 0;
  }

  accuracy(): PredictionAccuracy {
    return this.scorer.report();
  }

  report(): LearningReport {
    return { events: this.events, models: this.models(), accuracy: this.accuracy() };
  }

  /**
   * Learns from the telemetry on disk (every window's files): the newest maxEvents within maxAgeMs, in time
   * order, through the same observe() as live events. Read with readTelemetry (bounded memory).
   */
  async restore(dir: string, options: RestoreOptions = {}): Promise<RestoreResult> {
    const read = await readTelemetry(dir, { maxEvents: options.maxEvents ?? 20_000 });
    const since = (options.nowMs ?? Date.now()) - (options.maxAgeMs ?? 7 * 24 * 3600_000);
    const sinceIso = Number.isFinite(since) ? new Date(Math.max(0, since)).toISOString() : '';
    let fed = 0;
    for (const e of read.events) {
      if (e.timestamp < sinceIso) continue;
      if (options.excludeSessionId !== undefined && sessionOf(e) === options.excludeSessionId) continue;
      this.observe(e);
      fed++;
    }
    return { events: fed, totalEvents: read.totalEvents, skippedLines: read.skippedLines, files: read.files };
  }
}
