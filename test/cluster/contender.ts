// A child process for the fairness tests in cluster.test.ts: one window contending for a shared limit with a
// steady demand of `workers` loops, each running 0 ms tasks one after another, through execute() or through
// AdmissionController.run(). Every task counts itself in Redis (INCR at its start, DECR at its end) so the
// parent can see that the cluster never ran more than the limit at once. Driven over IPC by rounds:
//   parent → {go: round}    start the loops
//   child  → {progress: n}  tasks done so far this round (every 100)
//   parent → {stop: round}  stop the loops; running tasks finish
//   child  → {done: round, count, over, most}
// argv: redisUrl, cluster name, limit, mode (execute | run), workers.
import { Redis } from 'ioredis';
import { AdmissionController } from '../../src/core/admission';
import { systemClock } from '../../src/core/clock';
import { validateConfig } from '../../src/core/config';
import { createMiddleware } from '../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../src/core/system/sampler';

const [redisUrl, name, limitArg, mode, workersArg] = process.argv.slice(2);
const limit = Number(limitArg);
const workers = Number(workersArg);
const settings = { maxConcurrency: limit, baseDelayMs: 0, maxQueueSize: 100_000, cluster: { redisUrl, name, leaseMs: 3000 } };
const counter = new Redis(redisUrl, { lazyConnect: false, maxRetriesPerRequest: 1 });
const key = `aios-test:${name}:running`;

let count = 0;
let over = 0;
let most = 0;
let going = false;

async function task(): Promise<void> {
  const n = await counter.incr(key);
  if (n > limit) over++;
  if (n > most) most = n;
  await counter.decr(key);
  count++;
  if (count % 100 === 0) process.send!({ progress: count });
}

let runOne: () => Promise<unknown>;
let close: () => Promise<void>;
if (mode === 'run') {
  const { config } = validateConfig(settings);
  const admission = new AdmissionController(config, systemClock, {});
  runOne = () => admission.run('NORMAL', task);
  close = async () => admission.close();
} else {
  const mw = createMiddleware({ sampler: new StaticSampler(), config: settings });
  runOne = () => mw.execute({ commandType: 'WORK' }, task);
  close = () => mw.close();
}

let loops: Promise<void>[] = [];
process.on('message', (m: { go?: number; stop?: number; exit?: boolean }) => {
  if (m.go !== undefined) {
    count = over = most = 0;
    going = true;
    loops = Array.from({ length: workers }, async () => {
      while (going) await runOne();
    });
  } else if (m.stop !== undefined) {
    going = false;
    const round = m.stop;
    void Promise.all(loops).then(() => process.send!({ done: round, count, over, most }));
  } else if (m.exit) {
    void close().then(() => counter.quit().then(() => process.exit(0)));
  }
});
process.send!({ ready: true });
