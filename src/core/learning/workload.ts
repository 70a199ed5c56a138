// A recorded workload, read back from telemetry events: when each command arrived, what it was, how long it
// held its slot and how many of its window's commands were running as it started (reconstructed: START
// counts one more, its COMPLETE, ERROR or CANCEL one fewer, per window session).
// - arrival = START's time - its waitMs (the submission), or a queue_full ERROR's time (refused: it never
//   ran, so its time in the service is taken as its type's median);
// - time in the service = durationMs - waitMs of its COMPLETE or ERROR (a command cancelled while running
//   counts for the time it held its slot);
// - commands cancelled while waiting, blocked or invalid ones, and types that hold no slot (control-plane
//   operations, rule records, terminal commands) are left out and counted.
import { promises as fsp, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { exportTelemetry, parseTimeBound, type TimeBound } from '../telemetry';
import type { Priority, TelemetryEvent } from '../types';
import { defaultHoldsSlot, sessionOf } from './model';

export type RecordedOutcome = 'completed' | 'error' | 'cancelled' | 'refused';

export interface RecordedCommand {
  session: string;
  commandId: string;
  commandType: string;
  priority: Priority;
  /** Epoch ms of its submission. */
  arrivalMs: number;
  /** Time it held its slot (ms); NaN when it never ran (refused). */
  serviceMs: number;
  /** Its window's commands running as it started, itself included; 0 when it never ran. */
  running: number;
  /** Submission to start as recorded (ms); NaN when it never ran. */
  waitMs: number;
  outcome: RecordedOutcome;
  /** CPU percent in the event's system context. */
  cpuPercent: number;
}

export interface RecordedWorkload {
  /** By arrival time. */
  commands: RecordedCommand[];
  sessions: number;
  /** Epoch ms of the first arrival and the last end. */
  fromMs: number;
  toMs: number;
  /** Left out: cancelled while waiting, started but not ended in the events read, holding no slot. */
  abandoned: number;
  unfinished: number;
  bypassed: number;
  /** Highest number running at start seen. */
  maxRunning: number;
}

export interface WorkloadOptions {
  /** Commands that arrived at or after `from` and before `to`. */
  from?: TimeBound;
  to?: TimeBound;
  holdsSlot?: (commandType: string) => boolean;
}

const meta = (e: TelemetryEvent): Readonly<Record<string, unknown>> => e.metadata ?? {};
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Builds the workload from events in the order they were recorded (per session; sessions may interleave). */
export async function workloadFromEvents(
  events: Iterable<TelemetryEvent> | AsyncIterable<TelemetryEvent>,
  options: WorkloadOptions = {},
): Promise<RecordedWorkload> {
  const from = options.from === undefined ? -Infinity : parseTimeBound(options.from, 'from');
  const to = options.to === undefined ? Infinity : parseTimeBound(options.to, 'to');
  const holdsSlot = options.holdsSlot ?? defaultHoldsSlot;
  const open = new Map<string, RecordedCommand>();
  const running = new Map<string, number>();
  const sessions = new Set<string>();
  const commands: RecordedCommand[] = [];
  let abandoned = 0;
  let bypassed = 0;
  let maxRunning = 0;
  let toMs = -Infinity;
  for await (const e of events) {
    const session = sessionOf(e);
    const key = `${session}\n${e.commandId}`;
    const at = Date.parse(e.timestamp);
    if (!Number.isFinite(at)) continue;
    if (e.eventType === 'START') {
      if (!holdsSlot(e.commandType)) {
        bypassed++;
        continue;
      }
      const n = (running.get(session) ?? 0) + 1;
      running.set(session, n);
      const waitMs = num(meta(e).waitMs);
      open.set(key, {
        session,
        commandId: e.commandId,
        commandType: e.commandType,
        priority: e.priority,
        arrivalMs: at - waitMs,
        serviceMs: NaN,
        running: n,
        waitMs,
        outcome: 'completed',
        cpuPercent: num(e.system?.cpuPercent),
      });
      continue;
    }
    if (e.eventType !== 'COMPLETE' && e.eventType !== 'ERROR' && e.eventType !== 'CANCEL') continue;
    const c = open.get(key);
    if (!c) {
      if (e.eventType === 'ERROR' && meta(e).code === 'queue_full' && holdsSlot(e.commandType)) {
        const arrivalMs = at - num(e.durationMs);
        if (arrivalMs >= from && arrivalMs < to) {
          sessions.add(session);
          commands.push({
            session,
            commandId: e.commandId,
            commandType: e.commandType,
            priority: e.priority,
            arrivalMs,
            serviceMs: NaN,
            running: 0,
            waitMs: NaN,
            outcome: 'refused',
            cpuPercent: num(e.system?.cpuPercent),
          });
        }
      } else if (e.eventType === 'CANCEL') abandoned++;
      continue;
    }
    open.delete(key);
    running.set(session, (running.get(session) ?? 1) - 1);
    if (c.arrivalMs < from || c.arrivalMs >= to) continue;
    c.serviceMs = Math.max(0, num(e.durationMs) - c.waitMs);
    c.outcome = e.eventType === 'COMPLETE' ? 'completed' : e.eventType === 'ERROR' ? 'error' : 'cancelled';
    if (c.running > maxRunning) maxRunning = c.running;
    if (at > toMs) toMs = at;
    sessions.add(session);
    commands.push(c);
  }
  commands.sort((a, b) => a.arrivalMs - b.arrivalMs);
  return {
    commands,
    sessions: sessions.size,
    fromMs: commands.length ? commands[0].arrivalMs : 0,
    toMs: commands.length ? Math.max(toMs, commands[commands.length - 1].arrivalMs) : 0,
    abandoned,
    unfinished: open.size,
    bypassed,
    maxRunning,
  };
}

export interface LoadWorkloadOptions extends WorkloadOptions {
  signal?: AbortSignal;
  /**
   * Events up to this long after `to` are read too (default 1 h), so that a command that arrived before `to`
   * keeps its START and its end: one that waited or ran longer than this past `to` is left out (`unfinished`).
   */
  marginMs?: number;
}

/**
 * The workload of a period (commands that arrived in [from, to)) from the telemetry on disk: every window's
 * files merged by time (exportTelemetry, bounded memory, into a temporary JSON Lines file that is deleted
 * after), read back a line at a time.
 */
export async function loadWorkload(storageDir: string, options: LoadWorkloadOptions = {}): Promise<RecordedWorkload> {
  const tmp = join(tmpdir(), `aios-replay-${randomBytes(6).toString('hex')}.jsonl`);
  try {
    const to = options.to === undefined ? undefined : parseTimeBound(options.to, 'to') + (options.marginMs ?? 3600_000);
    await exportTelemetry({ storageDir, outputPath: tmp, format: 'jsonl', from: options.from, to, signal: options.signal });
    return await workloadFromEvents(readJsonl(tmp, options.signal), options);
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

async function* readJsonl(path: string, signal: AbortSignal | undefined): AsyncIterable<TelemetryEvent> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      signal?.throwIfAborted();
      if (line !== '') yield JSON.parse(line) as TelemetryEvent; // exportTelemetry wrote only valid events
    }
  } finally {
    stream.destroy();
  }
}
