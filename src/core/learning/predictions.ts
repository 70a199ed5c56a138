// Predictions for the commands in flight, as structured values plus the words to show:
// - running: how much longer, "~4 s left (p90 11 s)": the p50 and p90 of the time left given how long it has
//   run (the type's distribution above the elapsed time);
// - queued (or in its backoff delay): the expected wait, the work ahead of it (the expected time left of the
//   running commands and the mean time of those ahead in the queue) spread over the limit's slots; for
//   commands of one type that is queue position × mean time in the service / limit;
// - the queue: when the last waiting command is expected to start.
// A command whose type the model does not know gets no prediction, and neither does anything whose wait
// depends on it (a queued command behind an unknown one, the drain time): nothing rather than a guess.
import type { Priority } from '../types';
import type { LearningModel } from './model';

/** What the prediction needs of a command in flight: Middleware.inFlight()'s entries fit. */
export interface FlightLike {
  readonly commandId: string;
  readonly commandType: string;
  readonly priority: Priority;
  readonly stage: 'queued' | 'delayed' | 'running' | 'waiting';
  /** Epoch ms. */
  readonly submittedAt: number;
  /** Epoch ms it started running. */
  readonly startedAt?: number;
}

export interface RunningPrediction {
  kind: 'running';
  commandId: string;
  elapsedMs: number;
  /** Median and p90 of the time left (ms). */
  remainingMs: number;
  remainingP90Ms: number;
  /** Expected time left (the mean, used for the waits behind it). */
  expectedRemainingMs: number;
  /** It has run longer than the type's p90. */
  overdue: boolean;
  text: string;
}

export interface QueuedPrediction {
  kind: 'queued';
  commandId: string;
  /** 1-based place in the admission order (HIGH, NORMAL, LOW; oldest first in each). */
  queuePosition: number;
  /** Expected time until it starts (ms). */
  waitMs: number;
  text: string;
}

export type CommandPrediction = RunningPrediction | QueuedPrediction;

export interface QueueForecast {
  /** By command id; commands without a prediction are absent. */
  commands: Map<string, CommandPrediction>;
  waiting: number;
  /** Expected time until the last waiting command starts (0 when none wait); undefined when unknown. */
  drainMs?: number;
  /** "queue drains in ~30 s"; undefined when unknown or nothing waits. */
  drainText?: string;
}

export interface ForecastOptions {
  /** The window's session id: given, the waits predicted are kept to be scored when their commands start. */
  sessionId?: string;
}

const PRIORITY_ORDER: Record<Priority, number> = { HIGH: 0, NORMAL: 1, LOW: 2 };

/** The predictions for every command in flight, with a concurrency limit of `limit`, at epoch ms `nowMs`. */
export function forecastQueue(
  model: LearningModel,
  inFlight: readonly FlightLike[],
  limit: number,
  nowMs: number,
  options: ForecastOptions = {},
): QueueForecast {
  const commands = new Map<string, CommandPrediction>();
  let workAhead = 0;
  let known = true;
  const waiting: FlightLike[] = [];
  for (const f of inFlight) {
    if (f.stage === 'queued' || f.stage === 'delayed') {
      waiting.push(f);
      continue;
    }
    const p = predictRunning(model, f, nowMs);
    if (p) {
      commands.set(f.commandId, p);
      workAhead += p.expectedRemainingMs;
    } else known = false;
  }
  waiting.sort((a, b) => PRIORITY_ORDER[a.priority] - PRIORITY_ORDER[b.priority] || a.submittedAt - b.submittedAt);
  const slots = Math.max(1, limit);
  let drainMs: number | undefined = waiting.length === 0 ? 0 : undefined;
  for (let i = 0; i < waiting.length; i++) {
    const f = waiting[i];
    const mean = model.meanMs(f.commandType);
    if (known) {
      const waitMs = workAhead / slots;
      commands.set(f.commandId, { kind: 'queued', commandId: f.commandId, queuePosition: i + 1, waitMs, text: formatWait(waitMs) });
      if (options.sessionId !== undefined) model.noteWaitPrediction(options.sessionId, f.commandId, waitMs, nowMs);
      if (i === waiting.length - 1) drainMs = waitMs;
    }
    if (mean === undefined) known = false;
    else workAhead += mean;
  }
  return {
    commands,
    waiting: waiting.length,
    ...(drainMs !== undefined ? { drainMs } : {}),
    ...(drainMs !== undefined && waiting.length > 0 ? { drainText: formatDrain(drainMs) } : {}),
  };
}

/** The time left of one running command; undefined when its type is unknown. */
export function predictRunning(
  model: LearningModel,
  f: Pick<FlightLike, 'commandId' | 'commandType' | 'startedAt' | 'submittedAt'>,
  nowMs: number,
): RunningPrediction | undefined {
  const elapsedMs = Math.max(0, nowMs - (f.startedAt ?? f.submittedAt));
  const p50 = model.durationQuantile(f.commandType, 0.5, elapsedMs);
  const p90 = model.durationQuantile(f.commandType, 0.9, elapsedMs);
  const typeP90 = model.durationQuantile(f.commandType, 0.9);
  const expected = model.meanRemainingMs(f.commandType, elapsedMs);
  if (p50 === undefined || p90 === undefined || typeP90 === undefined || expected === undefined) return undefined;
  const remainingMs = Math.max(0, p50 - elapsedMs);
  const remainingP90Ms = Math.max(remainingMs, p90 - elapsedMs);
  const overdue = elapsedMs > typeP90;
  return {
    kind: 'running',
    commandId: f.commandId,
    elapsedMs,
    remainingMs,
    remainingP90Ms,
    expectedRemainingMs: expected,
    overdue,
    text: formatRemaining(remainingMs, remainingP90Ms, overdue),
  };
}

/** 850 → "<1 s", 4200 → "4 s", 83000 → "1 min 23 s", 7_500_000 → "2 h 5 min". */
export function formatDuration(ms: number): string {
  if (!(ms >= 0)) return '?';
  const s = Math.round(ms / 1000);
  if (s < 1) return '<1 s';
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const r = s % 60;
    return r === 0 || m >= 10 ? `${m} min` : `${m} min ${r} s`;
  }
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return m === 0 ? `${h} h` : `${h} h ${m} min`;
}

/** "~4 s left (p90 11 s)"; past the type's p90: "longer than usual, ~2 s left (p90 9 s)". */
export function formatRemaining(remainingMs: number, remainingP90Ms: number, overdue = false): string {
  const text = `~${formatDuration(remainingMs)} left (p90 ${formatDuration(remainingP90Ms)})`;
  return overdue ? `longer than usual, ${text}` : text;
}

/** "starts in ~12 s". */
export function formatWait(waitMs: number): string {
  return `starts in ~${formatDuration(waitMs)}`;
}

/** "queue drains in ~30 s". */
export function formatDrain(drainMs: number): string {
  return `queue drains in ~${formatDuration(drainMs)}`;
}
