// Tuning by replay: the recorded arrivals and times in the service of a period, replayed through the shared
// simulator (the real AdmissionController on simulated time) for a grid of settings, one row per setting.
//
// Each window session is replayed on its own (each window has its own limit and service), with the recorded
// priorities and CPU. A command's time in the service is rescaled for the number running in the replay with
// the service's knee, fitted to the whole workload (each sample relative to its type's median): recorded
// time / slowdown(running as recorded) * slowdown(running in the replay). Without a knee (time in the service
// did not grow with concurrency as far as recorded) the recorded times are replayed as they are.
//
// The objective, in this order:
//   1. goodput: commands completed per second of the period (refused ones lost; a setting that cannot keep
//      up ends later): rows within 1 % of the best qualify;
//   2. among those, the lowest p99 latency (submission to end: backoff, queueing and time in the service);
//   3. within 2 % of that p99 (no change for a gain that small): the current settings, else the one that
//      changes fewest settings, then a fixed limit before the adaptive one, then the lower limit.
// A row that ran more commands at once than the recording ever did is extrapolated (its times in the service
// past that are the knee's guess, or the recorded ones when no knee was seen): such a row is recommended only
// when no row that stays within the recording qualifies.
import type { MiddlewareConfig, PartialConfig, ThrottleConfig } from '../config';
import { ConcurrencyProfile, slowdown, type Knee } from './knee';
import { simulateSession, type SimArrival } from './simulator';
import type { RecordedCommand, RecordedWorkload } from './workload';

/** The settings the tuner varies: the same names as the aios.* settings. */
export type TunableSettings = Pick<MiddlewareConfig, 'maxConcurrency' | 'baseDelayMs' | 'maxDelayMs' | 'cpuThreshold' | 'maxQueueSize' | 'agingMs'> & {
  throttle: ThrottleConfig;
};

export interface TuningGrid {
  /** Fixed limits to try (default 1, 2, 4, 8, 16, 32, 64 and the current one). */
  limits?: number[];
  /** Also try the adaptive limit, with the current bounds (default true). */
  adaptive?: boolean;
  /** Default: the current one and 0 (or 100 when the current is 0). */
  baseDelayMs?: number[];
  /** Default: the current one, and 100 (never doubling) when the recorded CPU ever exceeded it. */
  cpuThreshold?: number[];
  /** Default: the current one, and 10x it when commands were refused in the recording. */
  maxQueueSize?: number[];
}

export interface TuningRow {
  /** "fixed 8, delay 0 ms, CPU 85 %, queue 1000". */
  label: string;
  settings: TunableSettings;
  /** What to apply to get these settings from the current ones (updateConfig / aios.* names); {} for the current. */
  changes: PartialConfig;
  current: boolean;
  /** Commands completed per second of the period. */
  goodput: number;
  completed: number;
  p50WaitMs: number;
  p99WaitMs: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  /** Time in the service: mean and p99 per command, and the total (s). */
  meanServiceMs: number;
  p99ServiceMs: number;
  serviceSeconds: number;
  throttled: number;
  refused: number;
  peakRunning: number;
  /** Ran more commands at once than the recording did (see above). */
  extrapolated: boolean;
}

export interface TuningResult {
  rows: TuningRow[];
  current: TuningRow;
  recommended: TuningRow;
  /** The objective, in words. */
  objective: string;
  /** The service's knee the replay used, if one was seen (pooled over types: no time of its own). */
  knee?: Pick<Knee, 'capacity' | 'maxLevelSeen'>;
  commands: number;
  sessions: number;
  periodMs: number;
  /** Commands simulated over all rows, and the time the replay took (ms). */
  simulatedCommands: number;
  elapsedMs: number;
}

export interface TuneOptions {
  current: TunableSettings;
  grid?: TuningGrid;
  signal?: AbortSignal;
  /** After each row: rows done, rows in all. */
  onProgress?: (done: number, total: number) => void;
}

export const TUNING_OBJECTIVE =
  'highest goodput (commands completed per second; within 1 % counts as equal), then lowest p99 latency ' +
  '(submission to end; within 2 % counts as equal), then fewest changes to the current settings';

/** Prepared once per workload: sessions' arrivals and each command's work at no load. */
interface Prepared {
  sessions: Array<{ arrivals: SimArrival[]; work: Float64Array }>;
  knee: Knee | undefined;
  maxRunning: number;
  fromMs: number;
  periodMs: number;
  commands: number;
  maxCpu: number;
  refused: number;
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[s.length >> 1];
}

/** The service's knee over every type: samples relative to their type's median time in the service (so its
 *  baseMs is relative too: 1 = the median). */
export function workloadKnee(commands: readonly RecordedCommand[]): Knee | undefined {
  const byType = new Map<string, number[]>();
  for (const c of commands) {
    if (!(c.serviceMs >= 0) || c.running < 1) continue;
    let list = byType.get(c.commandType);
    if (!list) byType.set(c.commandType, (list = []));
    list.push(c.serviceMs);
  }
  const medians = new Map<string, number>();
  for (const [t, xs] of byType) medians.set(t, median(xs));
  const profile = new ConcurrencyProfile();
  for (const c of commands) {
    const m = medians.get(c.commandType);
    if (m === undefined || !(m > 0) || !(c.serviceMs >= 0) || c.running < 1) continue;
    profile.add(c.running, c.serviceMs / m);
  }
  return profile.knee();
}

function prepare(w: RecordedWorkload): Prepared {
  const knee = workloadKnee(w.commands);
  // A refused command's work: its type's median work (or all types').
  const works = new Map<string, number[]>();
  const all: number[] = [];
  for (const c of w.commands) {
    if (!(c.serviceMs >= 0)) continue;
    const work = c.serviceMs / slowdown(knee, c.running);
    let list = works.get(c.commandType);
    if (!list) works.set(c.commandType, (list = []));
    list.push(work);
    all.push(work);
  }
  const typical = new Map<string, number>();
  for (const [t, xs] of works) typical.set(t, median(xs));
  const fallback = all.length ? median(all) : 0;
  const bySession = new Map<string, RecordedCommand[]>();
  let maxCpu = 0;
  let refused = 0;
  for (const c of w.commands) {
    let list = bySession.get(c.session);
    if (!list) bySession.set(c.session, (list = []));
    list.push(c);
    if (c.cpuPercent > maxCpu) maxCpu = c.cpuPercent;
    if (c.outcome === 'refused') refused++;
  }
  const sessions: Prepared['sessions'] = [];
  for (const list of bySession.values()) {
    const arrivals: SimArrival[] = [];
    const work = new Float64Array(list.length);
    const t0 = list[0].arrivalMs;
    list.forEach((c, i) => {
      arrivals.push({ atMs: c.arrivalMs - t0, priority: c.priority, cpuPercent: c.cpuPercent });
      work[i] = c.serviceMs >= 0 ? c.serviceMs / slowdown(knee, c.running) : (typical.get(c.commandType) ?? fallback);
    });
    sessions.push({ arrivals, work });
  }
  return { sessions, knee, maxRunning: w.maxRunning, fromMs: w.fromMs, periodMs: Math.max(1, w.toMs - w.fromMs), commands: w.commands.length, maxCpu, refused };
}

const uniq = (xs: number[]): number[] => [...new Set(xs)];

/** The settings the grid spans, the current ones first. */
export function gridSettings(
  current: TunableSettings,
  grid: TuningGrid = {},
  context: { maxCpu: number; refused: number } = { maxCpu: 0, refused: 0 },
): TunableSettings[] {
  const limits = uniq([current.maxConcurrency, ...(grid.limits ?? [1, 2, 4, 8, 16, 32, 64])]).filter((n) => Number.isInteger(n) && n >= 1);
  const delays = uniq(grid.baseDelayMs ?? [current.baseDelayMs, current.baseDelayMs === 0 ? 100 : 0]);
  const cpus = uniq(grid.cpuThreshold ?? (context.maxCpu > current.cpuThreshold ? [current.cpuThreshold, 100] : [current.cpuThreshold]));
  const queues = uniq(
    grid.maxQueueSize ?? (context.refused > 0 ? [current.maxQueueSize, Math.min(1_000_000, current.maxQueueSize * 10)] : [current.maxQueueSize]),
  );
  const modes: Array<{ mode: 'fixed' | 'adaptive'; limit: number }> = limits.map((limit) => ({ mode: 'fixed' as const, limit }));
  if (grid.adaptive ?? true) modes.push({ mode: 'adaptive', limit: current.maxConcurrency });
  const out: TunableSettings[] = [current];
  const key = (s: TunableSettings): string => JSON.stringify([s.throttle.mode, s.maxConcurrency, s.baseDelayMs, s.cpuThreshold, s.maxQueueSize]);
  const seen = new Set([key(current)]);
  for (const m of modes) {
    for (const baseDelayMs of delays) {
      for (const cpuThreshold of cpus) {
        for (const maxQueueSize of queues) {
          const s: TunableSettings = {
            ...current,
            maxConcurrency: m.limit,
            baseDelayMs,
            cpuThreshold,
            maxQueueSize,
            throttle: { ...current.throttle, mode: m.mode },
          };
          if (seen.has(key(s))) continue;
          seen.add(key(s));
          out.push(s);
        }
      }
    }
  }
  return out;
}

function label(s: TunableSettings): string {
  const limit =
    s.throttle.mode === 'adaptive'
      ? `adaptive ${s.throttle.minConcurrency}..${s.throttle.maxConcurrency} from ${s.maxConcurrency}`
      : `fixed ${s.maxConcurrency}`;
  return `${limit}, delay ${s.baseDelayMs} ms, CPU ${s.cpuThreshold} %, queue ${s.maxQueueSize}`;
}

function changes(s: TunableSettings, current: TunableSettings): PartialConfig {
  const out: PartialConfig = {};
  for (const k of ['maxConcurrency', 'baseDelayMs', 'maxDelayMs', 'cpuThreshold', 'maxQueueSize', 'agingMs'] as const) if (s[k] !== current[k]) out[k] = s[k];
  if (s.throttle.mode !== current.throttle.mode) out.throttle = { mode: s.throttle.mode };
  return out;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** Replays one setting over the prepared workload. */
async function replayRow(p: Prepared, settings: TunableSettings, current: TunableSettings): Promise<TuningRow> {
  const waits: number[] = [];
  const latencies: number[] = [];
  const services: number[] = [];
  let completed = 0;
  let throttled = 0;
  let refused = 0;
  let peakRunning = 0;
  let endMs = 0;
  for (const s of p.sessions) {
    const knee = p.knee;
    const r = await simulateSession({ arrivals: s.arrivals, limits: settings, serviceMs: (i, running) => s.work[i] * slowdown(knee, running) });
    completed += r.completed;
    throttled += r.throttled;
    refused += r.refused;
    if (r.peakRunning > peakRunning) peakRunning = r.peakRunning;
    const start = s.arrivals.length ? s.arrivals[0].atMs : 0;
    for (let i = 0; i < s.arrivals.length; i++) {
      const w = r.waitMs[i];
      if (w !== w) continue;
      waits.push(w);
      services.push(r.serviceMs[i]);
      latencies.push(w + r.serviceMs[i]);
      const end = s.arrivals[i].atMs + w + r.serviceMs[i] - start;
      if (end > endMs) endMs = end;
    }
  }
  const sortedWaits = Float64Array.from(waits).sort();
  const sortedLat = Float64Array.from(latencies).sort();
  const sortedSvc = Float64Array.from(services).sort();
  let serviceTotal = 0;
  for (const v of services) serviceTotal += v;
  const period = Math.max(p.periodMs, endMs);
  const isCurrent = settings === current;
  return {
    label: label(settings),
    settings,
    changes: isCurrent ? {} : changes(settings, current),
    current: isCurrent,
    goodput: completed / (period / 1000),
    completed,
    p50WaitMs: quantile(sortedWaits, 0.5),
    p99WaitMs: quantile(sortedWaits, 0.99),
    p50LatencyMs: quantile(sortedLat, 0.5),
    p99LatencyMs: quantile(sortedLat, 0.99),
    meanServiceMs: services.length ? serviceTotal / services.length : NaN,
    p99ServiceMs: quantile(sortedSvc, 0.99),
    serviceSeconds: serviceTotal / 1000,
    throttled,
    refused,
    peakRunning,
    extrapolated: peakRunning > Math.max(1, p.maxRunning),
  };
}

/** The recommended row by TUNING_OBJECTIVE. */
export function recommend(rows: readonly TuningRow[]): TuningRow {
  if (rows.length === 0) throw new Error('no rows to recommend from');
  const pick = (pool: readonly TuningRow[]): TuningRow | undefined => {
    if (pool.length === 0) return undefined;
    const top = Math.max(...rows.map((r) => r.goodput));
    const good = pool.filter((r) => r.goodput >= 0.99 * top);
    if (good.length === 0) return undefined;
    const lowest = Math.min(...good.map((r) => r.p99LatencyMs));
    const close = good.filter((r) => r.p99LatencyMs <= 1.02 * lowest);
    const n = (r: TuningRow): number => Object.keys(r.changes).length;
    return [...close].sort(
      (a, b) =>
        Number(b.current) - Number(a.current) ||
        n(a) - n(b) ||
        Number(a.settings.throttle.mode === 'adaptive') - Number(b.settings.throttle.mode === 'adaptive') ||
        a.settings.maxConcurrency - b.settings.maxConcurrency ||
        a.p99LatencyMs - b.p99LatencyMs,
    )[0];
  };
  return pick(rows.filter((r) => !r.extrapolated)) ?? pick(rows)!;
}

/** Replays `workload` for every setting of the grid (the current one included) and recommends one. */
export async function tune(workload: RecordedWorkload, options: TuneOptions): Promise<TuningResult> {
  const t0 = performance.now();
  if (workload.commands.length === 0) throw new Error('no commands were recorded in the chosen period: nothing to replay');
  const p = prepare(workload);
  const settings = gridSettings(options.current, options.grid, p);
  const rows: TuningRow[] = [];
  for (const s of settings) {
    options.signal?.throwIfAborted();
    rows.push(await replayRow(p, s, options.current));
    options.onProgress?.(rows.length, settings.length);
  }
  return {
    rows,
    current: rows[0],
    recommended: recommend(rows),
    objective: TUNING_OBJECTIVE,
    ...(p.knee ? { knee: { capacity: p.knee.capacity, maxLevelSeen: p.knee.maxLevelSeen } } : {}),
    commands: p.commands,
    sessions: p.sessions.length,
    periodMs: p.periodMs,
    simulatedCommands: p.commands * rows.length,
    elapsedMs: performance.now() - t0,
  };
}

/** The tunable part of a full configuration. */
export function tunableSettings(config: Readonly<MiddlewareConfig>): TunableSettings {
  const { maxConcurrency, baseDelayMs, maxDelayMs, cpuThreshold, maxQueueSize, agingMs, throttle } = config;
  return { maxConcurrency, baseDelayMs, maxDelayMs, cpuThreshold, maxQueueSize, agingMs, throttle: { ...throttle } };
}
