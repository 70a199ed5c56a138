// Admission alone: closed-loop throughput against p-queue with priorities, and 1e6 commands queued at once
// (heap growth and drain throughput) against p-queue. Same tasks, same concurrency, same run.
import PQueue from 'p-queue';
import { AdmissionController } from '../src/core/admission/admission';
import { systemClock } from '../src/core/clock';
import { PRIORITIES, type Priority } from '../src/core/types';
import { heapMB, higherIsBetter, log, lowerIsBetter, median, round, type Bench, type BenchResult } from './types';

const CONCURRENCY = 8;
const CALLERS = 64;
const PQ_PRIORITY: Record<Priority, number> = { HIGH: 2, NORMAL: 1, LOW: 0 };
const noop = (): void => undefined;

/** Delays would dominate a queueing benchmark; the formula is tested in the unit tier. */
function controller(maxQueueSize: number): AdmissionController {
  return new AdmissionController({ maxConcurrency: CONCURRENCY, baseDelayMs: 0, maxDelayMs: 0, cpuThreshold: 100, maxQueueSize, agingMs: 10_000 }, systemClock);
}

async function closedLoop(total: number, submit: (p: Priority) => Promise<unknown>): Promise<number> {
  const perCaller = Math.floor(total / CALLERS);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, i) => {
      const p = PRIORITIES[i % 3];
      for (let n = 0; n < perCaller; n++) await submit(p);
    }),
  );
  return (perCaller * CALLERS) / ((performance.now() - t0) / 1000);
}

async function rawAwait(total: number): Promise<number> {
  const t0 = performance.now();
  // The floor is `await` of a plain value: the cheapest suspension a caller can have.
  // eslint-disable-next-line @typescript-eslint/await-thenable
  for (let i = 0; i < total; i++) await noop();
  return ((performance.now() - t0) * 1e6) / total;
}

async function drain(n: number, enqueue: () => Promise<unknown>): Promise<{ heap: number; opsPerS: number }> {
  const before = heapMB();
  let last: Promise<unknown> = Promise.resolve();
  const t0 = performance.now();
  // Only the last promise is kept (FIFO: it settles last), so the heap figure is the queue's own.
  for (let i = 0; i < n; i++) last = enqueue();
  const heap = heapMB() - before;
  await last;
  return { heap, opsPerS: n / ((performance.now() - t0) / 1000) };
}

export const admissionBench: Bench = {
  name: 'admission',
  async *run({ quick }): AsyncIterable<BenchResult> {
    const total = quick ? 200_000 : 1_000_000;
    const rounds = quick ? 3 : 5;
    const ours: number[] = [];
    const peer: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const c = controller(1_000_000);
      ours.push(await closedLoop(total, (p) => c.run(p, noop)));
      const q = new PQueue({ concurrency: CONCURRENCY });
      peer.push(await closedLoop(total, (p) => q.add(noop, { priority: PQ_PRIORITY[p] })));
      log(`admission round ${r}: ours ${round(ours[r])}/s, p-queue ${round(peer[r])}/s`);
    }
    yield higherIsBetter('admission.throughput', median(ours), 'ops/s', 'p-queue 9 with priority', median(peer));
    yield { bench: 'await.noop', value: round(await rawAwait(total)), unit: 'ns' };

    const n = quick ? 200_000 : 1_000_000;
    const c = controller(n);
    const oursDrain = await drain(n, () => c.run('NORMAL', noop));
    const q = new PQueue({ concurrency: CONCURRENCY });
    const peerDrain = await drain(n, () => q.add(noop));
    log(`drain ${n}: ours ${round(oursDrain.heap)} MB ${round(oursDrain.opsPerS)}/s, p-queue ${round(peerDrain.heap)} MB ${round(peerDrain.opsPerS)}/s`);
    yield lowerIsBetter(`admission.queued-${n}.heap`, oursDrain.heap, 'MB', 'p-queue 9', peerDrain.heap);
    yield higherIsBetter(`admission.queued-${n}.drain`, oursDrain.opsPerS, 'ops/s', 'p-queue 9', peerDrain.opsPerS);
  },
};
