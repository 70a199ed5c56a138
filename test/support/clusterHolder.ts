// What a cluster member that is killed mid-lease does before it dies (the child process of the cluster and
// reliability tiers' holder.ts): a middleware in the cluster takes `slots` slots with commands that never end,
// prints "holding <n>" once it holds them, and waits to be killed (SIGKILL: no goodbye to Redis).
import { createMiddleware } from '../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../src/core/system/sampler';

/** argv: redisUrl, cluster name, leaseMs, slots. */
export function holdSlots([redisUrl, name, leaseMs, slots]: string[]): void {
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
}
