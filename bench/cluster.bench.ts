// The shared limit against the local one: what Redis (Debian's redis-server, started here on 127.0.0.1 with
// no persistence) adds to each admitted command. Two cases, each against the same load on a local limit:
// - one window, commands one after another: the slots it holds are reused without a call to Redis;
// - two windows contending for the limit (more callers than slots on each): every freed slot goes through
//   Redis's waiting room, so each handoff costs round trips.
// Skipped (with a note on stderr) where redis-server is not installed.
import { existsSync } from 'node:fs';
import { createMiddleware, type Middleware } from '../src/core/pipeline/pipeline';
import { StaticSampler } from '../src/core/system/sampler';
import { REDIS_SERVER, RedisServer } from '../test/support/redis';
import { log, lowerIsBetter, higherIsBetter, type Bench, type BenchResult } from './types';

const LIMIT = 4;
const request = { commandType: 'NOOP', priority: 'NORMAL' as const };
// A command that yields to the event loop once, as any real one does (I/O): one that only chains promises
// would never let the strategy's calls to Redis run, and would measure nothing of the shared limit.
const noop = (): Promise<void> => new Promise((r) => setImmediate(r));

function middleware(redisUrl: string | undefined, name: string): Middleware {
  return createMiddleware({
    sampler: new StaticSampler({ cpuPercent: 10, memoryPercent: 40, pythonProcesses: 0, sampledAt: Date.now() }),
    // No backoff: it would measure the delay, not admission.
    config: { maxConcurrency: LIMIT, baseDelayMs: 0, maxQueueSize: 1_000_000, ...(redisUrl ? { cluster: { redisUrl, name } } : {}) },
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/** Latency of each execute() (µs) from `callers` closed-loop callers on each middleware. */
async function latencies(mws: Middleware[], callers: number, perCaller: number): Promise<{ us: number[]; opsPerS: number }> {
  const us: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    mws.flatMap((mw) =>
      Array.from({ length: callers }, async () => {
        for (let i = 0; i < perCaller; i++) {
          const s = performance.now();
          const r = await mw.execute(request, noop);
          us.push((performance.now() - s) * 1000);
          if (!r.success) throw new Error(`bench command failed: ${r.error?.message}`);
        }
      }),
    ),
  );
  const opsPerS = us.length / ((performance.now() - t0) / 1000);
  us.sort((a, b) => a - b);
  return { us, opsPerS };
}

async function joined(mws: Middleware[]): Promise<void> {
  await Promise.all(mws.map((mw) => mw.execute(request, noop)));
  for (const mw of mws) if (mw.admission.shared?.status !== 'shared') throw new Error(`a bench middleware is ${mw.admission.shared?.status}, not shared`);
}

export const clusterBench: Bench = {
  name: 'cluster',
  async *run({ quick }): AsyncIterable<BenchResult> {
    if (!existsSync(REDIS_SERVER)) {
      log(`cluster: skipped, no redis-server at ${REDIS_SERVER} (apt-get install redis-server)`);
      return;
    }
    const redis = new RedisServer();
    try {
      await redis.start();
      const sequential = quick ? 5_000 : 20_000;
      const contended = quick ? 2_000 : 10_000;

      // One window, one caller: slots stay here, the fast path needs no Redis.
      const local1 = middleware(undefined, '');
      const shared1 = middleware(redis.url, 'bench-seq');
      await joined([shared1]);
      await latencies([local1], 1, 1000); // warm up both
      await latencies([shared1], 1, 1000);
      const l1 = await latencies([local1], 1, sequential);
      const s1 = await latencies([shared1], 1, sequential);
      await Promise.all([local1.close(), shared1.close()]);
      yield lowerIsBetter('cluster.one-window.p50', percentile(s1.us, 0.5), 'us', 'local limit', percentile(l1.us, 0.5));
      yield lowerIsBetter('cluster.one-window.p99', percentile(s1.us, 0.99), 'us', 'local limit', percentile(l1.us, 0.99));

      // Two windows, 8 callers each, on 4 shared slots; the peer is one window with 16 callers on 4 local slots.
      const callers = 8;
      const perCaller = Math.floor(contended / (2 * callers));
      const local2 = middleware(undefined, '');
      const a = middleware(redis.url, 'bench-two');
      const b = middleware(redis.url, 'bench-two');
      await joined([a, b]);
      await latencies([a, b], callers, 50); // warm up
      await latencies([local2], 2 * callers, 50);
      const l2 = await latencies([local2], 2 * callers, perCaller);
      const s2 = await latencies([a, b], callers, perCaller);
      await Promise.all([local2.close(), a.close(), b.close()]);
      yield lowerIsBetter('cluster.two-windows-contended.p50', percentile(s2.us, 0.5), 'us', 'local limit, same load', percentile(l2.us, 0.5));
      yield lowerIsBetter('cluster.two-windows-contended.p99', percentile(s2.us, 0.99), 'us', 'local limit, same load', percentile(l2.us, 0.99));
      yield higherIsBetter('cluster.two-windows-contended.throughput', s2.opsPerS, 'ops/s', 'local limit, same load', l2.opsPerS);
    } finally {
      await redis.dispose();
    }
  },
};
