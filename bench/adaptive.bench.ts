// The adaptive limit against fixed limits, through the whole pipeline, on a simulated service whose latency
// grows past a knee: with `inFlight` commands running, each takes base * max(1, inFlight / C) (times a
// seeded ±10 % jitter), so throughput is flat at C / base beyond C and only latency grows. A closed loop of
// CLIENTS callers (more than the largest C) keeps it loaded. Time is simulated (SimClock, the deterministic
// event loop of src/core/learning/simulator.ts that the tuner shares: no real timer), so every figure is the
// same on every run and machine.
//
// For each C in {2, 8, 32}: where the adaptive limit settles (time-weighted mean over the measured part; target
// within ±30 % of C), its goodput (completions per simulated second; target >= 90 % of the best fixed limit of
// {1, 4, 16, 64} in the same run) and its p99 command latency, queue wait included (target <= 1.5x that fixed
// limit's). The best fixed limit is the one with the highest goodput; within 1 % of it, the lowest p99.
import { createMiddleware, type Middleware } from '../src/core/pipeline/pipeline';
import { SimClock, seeded } from '../src/core/learning';
import { StaticSampler } from '../src/core/system/sampler';
import type { Executor } from '../src/core/types';
import { higherIsBetter, log, lowerIsBetter, round, type Bench, type BenchResult } from './types';

const BASE_MS = 50;
const CLIENTS = 64;
const CAPACITIES = [2, 8, 32];
const FIXED = [1, 4, 16, 64];
/** The adaptive limit starts from the default aios.maxConcurrency. */
const START = 4;

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
