// CPU cost of the system sampler at its default periods: CPU time of one CPU+memory sample and of one
// Python process count (including the child processes systeminformation spawns, on Linux), scaled to the
// default intervals, as a percentage of one core.
import { DEFAULT_CONFIG } from '../src/core/config';
import { SystemSampler } from '../src/core/system/sampler';
import { log, median, procCpuMs, round, type Bench, type BenchResult } from './types';

/** Own plus reaped children's CPU ms. Children are only visible on Linux (/proc); elsewhere own CPU only. */
function cpuMs(): number {
  const own = process.cpuUsage();
  return (own.user + own.system) / 1000 + (procCpuMs('self', 'children') ?? 0);
}

/** systeminformation answers repeated calls from a cache for a while: space the calls like real use. */
const SPACING_MS = 1100;

async function cost(fn: () => Promise<void>, times: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    await new Promise((r) => setTimeout(r, SPACING_MS));
    const c0 = cpuMs();
    await fn();
    samples.push(cpuMs() - c0);
  }
  return median(samples);
}

export const samplerBench: Bench = {
  name: 'sampler',
  async *run({ quick }): AsyncIterable<BenchResult> {
    // processIntervalMs 0 and a long interval: no background timers; the bench calls the samples itself.
    const sampler = new SystemSampler({ intervalMs: 60_000, processIntervalMs: 0 });
    try {
      // The first calls are slow (~0.5 s) and not the steady state. Load is measured before any process
      // listing, so children of `ps` reaped late cannot be booked to it.
      await sampler.sampleLoad();
      const load = await cost(() => sampler.sampleLoad(), quick ? 3 : 10);
      await sampler.sampleProcesses();
      const processes = await cost(() => sampler.sampleProcesses(), quick ? 3 : 6);
      const { intervalMs, processIntervalMs } = DEFAULT_CONFIG.sampler;
      const percent = (load / intervalMs + processes / processIntervalMs) * 100;
      log(`sampler: load sample ${round(load)} ms CPU, process count ${round(processes)} ms CPU`);
      yield { bench: 'sampler.load-sample-cpu', value: round(load), unit: 'ms' };
      yield { bench: 'sampler.process-count-cpu', value: round(processes), unit: 'ms' };
      yield { bench: 'sampler.cpu-at-default-intervals', value: round(percent), unit: '%' };
    } finally {
      sampler.dispose();
    }
  },
};
