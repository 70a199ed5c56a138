// The adaptive limit against fixed limits, through the whole pipeline, on a simulated service whose latency
// grows past a knee: with `inFlight` commands running, each takes base * max(1, inFlight / C) (times a
// seeded ±10 % jitter), so throughput is flat at C / base beyond C and only latency grows. A closed loop of
// CLIENTS callers (more than the largest C) keeps it loaded. Time is simulated (a deterministic event loop
// implementing the core's Clock: no real timer), so every figure is the same on every run and machine.
//
// For each C in {2, 8, 32}: where the adaptive limit settles (time-weighted mean over the measured part; target
// within ±30 % of C), its goodput (completions per simulated second; target >= 90 % of the best fixed limit of
// {1, 4, 16, 64} in the same run) and its p99 command latency, queue wait included (target <= 1.5x that fixed
// limit's). The best fixed limit is the one with the highest goodput; within 1 % of it, the lowest p99.
import { createMiddleware, type Middleware } from '../src/core/pipeline/pipeline';
import type { Clock } from '../src/core/clock';
import { StaticSampler } from '../src/core/system/sampler';
import type { Executor } from '../src/core/types';
import { higherIsBetter, log, lowerIsBetter, round, type Bench, type BenchResult } from './types';

const BASE_MS = 50;
const CLIENTS = 64;
const CAPACITIES = [2, 8, 32];
const FIXED = [1, 4, 16, 64];
/** The adaptive limit starts from the default aios.maxConcurrency. */
const START = 4;

interface SimEvent {
  at: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

/** A binary heap of timers ordered by (time, arrival): a deterministic event loop behind the Clock interface. */
class SimClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly heap: SimEvent[] = [];

  now(): number {
    return this.time;
  }

  epochMs(): number {
    return Date.UTC(2026, 0, 1) + this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const e: SimEvent = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, live: true };
    const h = this.heap;
    h.push(e);
    for (let i = h.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
    return e;
  }

  clearTimeout(handle: unknown): void {
    (handle as SimEvent).live = false;
  }

  /** Runs events in order until `done()`; between instants, lets every promise reaction run (setImmediate). */
  async run(done: () => boolean): Promise<void> {
    for (;;) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (done()) return;
      const first = this.pop();
      if (!first) throw new Error('the simulation ran out of events before it was done');
      this.time = first.at;
      first.fn();
      while (this.heap.length > 0 && this.heap[0].at === this.time) this.pop()!.fn();
    }
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    while (h.length > 0) {
      const top = h[0];
      const last = h.pop()!;
      if (h.length > 0) {
        h[0] = last;
        for (let i = 0; ;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < h.length && before(h[l], h[m])) m = l;
          if (r < h.length && before(h[r], h[m])) m = r;
          if (m === i) break;
          [h[i], h[m]] = [h[m], h[i]];
          i = m;
        }
      }
      if (top.live) return top;
    }
    return undefined;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** mulberry32: a small seeded generator, so the jitter is the same on every run. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface RunResult {
  goodput: number;
  p99: number;
  serviceP99: number;
  meanLimit: number;
  minLimit: number;
  maxLimit: number;
  limitChanges: number;
}

function p99(xs: number[]): number {
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)];
}

async function simulate(capacity: number, config: object, warmupMs: number, measureMs: number): Promise<RunResult> {
  const clock = new SimClock();
  const random = seeded(capacity * 7919 + 17);
  let running = 0;
  const serviceTimes: number[] = [];
  const latencies: number[] = [];
  const endAt = warmupMs + measureMs;
  const executor: Executor = () =>
    new Promise((resolve) => {
      running++;
      const ms = BASE_MS * Math.max(1, running / capacity) * (0.9 + 0.2 * random());
      const startedAt = clock.now();
      clock.setTimeout(() => {
        running--;
        if (startedAt >= warmupMs && clock.now() < endAt) serviceTimes.push(ms);
        resolve(undefined);
      }, ms);
    });
  const mw: Middleware = createMiddleware({
    clock,
    sampler: new StaticSampler({ cpuPercent: 10, memoryPercent: 40, pythonProcesses: 0, sampledAt: 0 }),
    // No backoff delay: the limit alone is compared. The queue holds every client.
    config: { maxConcurrency: START, baseDelayMs: 0, maxQueueSize: 10_000, ...config },
  });
  if (mw.configErrors.length > 0) throw new Error(mw.configErrors.join('; '));
  // Time-weighted limit over the measured part.
  let limit = mw.admission.limit;
  let since = 0;
  let weighted = 0;
  let minLimit = Infinity;
  let maxLimit = 0;
  let changes = 0;
  const account = (now: number): void => {
    const from = Math.max(since, warmupMs);
    const to = Math.min(now, endAt);
    if (to > from) {
      weighted += limit * (to - from);
      minLimit = Math.min(minLimit, limit);
      maxLimit = Math.max(maxLimit, limit);
    }
    since = now;
  };
  mw.onLimitChange((c) => {
    account(clock.now());
    limit = c.to;
    if (clock.now() >= warmupMs && clock.now() < endAt) changes++;
  });
  let completed = 0;
  let clientsLeft = CLIENTS;
  const request = { commandType: 'WORK', priority: 'NORMAL' as const };
  for (let i = 0; i < CLIENTS; i++) {
    void (async () => {
      while (clock.now() < endAt) {
        const r = await mw.execute(request, executor);
        if (!r.success) throw new Error(`a simulated command failed: ${r.error?.message}`);
        const now = clock.now();
        if (now >= warmupMs && now < endAt) {
          completed++;
          latencies.push(r.durationMs);
        }
      }
      clientsLeft--;
    })();
  }
  await clock.run(() => clientsLeft === 0);
  account(endAt);
  await mw.close();
  return {
    goodput: completed / (measureMs / 1000),
    p99: p99(latencies),
    serviceP99: p99(serviceTimes),
    meanLimit: weighted / measureMs,
    minLimit,
    maxLimit,
    limitChanges: changes,
  };
}

export const adaptiveBench: Bench = {
  name: 'adaptive',
  async *run({ quick }): AsyncIterable<BenchResult> {
    const warmupMs = quick ? 45_000 : 60_000;
    const measureMs = quick ? 60_000 : 180_000;
    for (const c of CAPACITIES) {
      const fixed: Array<{ limit: number; r: RunResult }> = [];
      for (const limit of FIXED) fixed.push({ limit, r: await simulate(c, { maxConcurrency: limit }, warmupMs, measureMs) });
      const ours = await simulate(c, { throttle: { mode: 'adaptive', minConcurrency: 1, maxConcurrency: 256 } }, warmupMs, measureMs);
      const top = Math.max(...fixed.map((f) => f.r.goodput));
      const best = fixed.filter((f) => f.r.goodput >= 0.99 * top).sort((a, b) => a.r.p99 - b.r.p99)[0];
      for (const f of fixed) log(`C=${c} fixed ${f.limit}: ${round(f.r.goodput)} ops/s, p99 ${round(f.r.p99)} ms, service p99 ${round(f.r.serviceP99)} ms`);
      log(
        `C=${c} adaptive: limit ${round(ours.meanLimit)} (${ours.minLimit}..${ours.maxLimit}, ${ours.limitChanges} changes), ` +
          `${round(ours.goodput)} ops/s, p99 ${round(ours.p99)} ms, service p99 ${round(ours.serviceP99)} ms; best fixed ${best.limit}`,
      );
      const settled = ours.meanLimit / c;
      const goodput = ours.goodput / best.r.goodput;
      const latency = ours.p99 / best.r.p99;
      const missed = [
        settled < 0.7 || settled > 1.3 ? `limit ${round(ours.meanLimit)} is not within ±30 % of ${c}` : '',
        goodput < 0.9 ? `goodput ${round(goodput * 100)} % of the best fixed limit's (< 90 %)` : '',
        latency > 1.5 ? `p99 ${round(latency)}x the best fixed limit's (> 1.5x)` : '',
      ].filter(Boolean);
      if (missed.length > 0) log(`C=${c}: TARGET MISSED: ${missed.join('; ')}`);
      const peer = `fixed limit ${best.limit} (best of ${FIXED.join(', ')})`;
      yield { bench: `adaptive.c${c}.settled-limit`, value: round(ours.meanLimit), unit: 'slots', peer: `capacity C`, peerValue: c, ratio: round(settled) };
      yield higherIsBetter(`adaptive.c${c}.goodput`, ours.goodput, 'ops/s', peer, best.r.goodput);
      yield lowerIsBetter(`adaptive.c${c}.p99`, ours.p99, 'ms', peer, best.r.p99);
      yield lowerIsBetter(`adaptive.c${c}.service-p99`, ours.serviceP99, 'ms', peer, best.r.serviceP99);
    }
  },
};
