// A child process for cluster.test.ts: a middleware in the cluster that takes `N` slots with commands that
// never end, prints "holding <n>" once it holds them, and waits to be killed (SIGKILL: no goodbye to Redis).
// argv: redisUrl, cluster name, leaseMs, slots.
import { createMiddleware } from '../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../src/core/system/sampler';

const [redisUrl, name, leaseMs, slots] = process.argv.slice(2);
const n = Number(slots);
const mw = createMiddleware({
  sampler: new StaticSampler(),
  config: { maxConcurrency: n, baseDelayMs: 0, cluster: { redisUrl, name, leaseMs: Number(leaseMs) } },
});
const never = new Promise<never>(() => undefined);
for (let i = 0; i < n; i++) void mw.execute({ commandType: 'HOLD' }, () => never);
const timer = setInterval(() => {
  const a = mw.admission;
  if (a.shared?.status === 'shared' && a.active === n) {
    process.stdout.write(`holding ${a.active}\n`);
    clearInterval(timer);
  }
}, 10);
// Kept alive by the Redis connections and this interval until killed.
setInterval(() => undefined, 60_000);
