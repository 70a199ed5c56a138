// Recorded workloads for the learning tests: seeded arrivals run through the real pipeline (createMiddleware)
// on simulated time, against a simulated service whose time per command grows past a knee. The events are
// what the pipeline's telemetry emitted (and, with a storageDir, wrote to disk).
import { createMiddleware, type MiddlewareOptions } from '../../../../src/core/pipeline';
import { SimClock, seeded } from '../../../../src/core/learning';
import { StaticSampler } from '../../../../src/core/system';
import type { CommandResult, Executor, Priority, TelemetryEvent } from '../../../../src/core/types';

export interface Offered {
  atMs: number;
  commandType: string;
  priority: Priority;
  /** Time in the service with nobody else running (ms). */
  workMs: number;
  /** Fails in the service (an ERROR after its time). */
  fails?: boolean;
}

/** Poisson arrivals at `ratePerS`, with lognormal work (median `medianMs`, log-sd `sigma`). */
export function offered(seed: number, count: number, ratePerS: number, medianMs: number, sigma: number, commandType = 'WORK'): Offered[] {
  const r = seeded(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const out: Offered[] = [];
  let t = 0;
  for (let i = 0; i < count; i++) {
    t += (-Math.log(1 - r()) * 1000) / ratePerS;
    out.push({ atMs: t, commandType, priority: 'NORMAL', workMs: medianMs * Math.exp(sigma * normal()) });
  }
  return out;
}

export interface Recorded {
  events: TelemetryEvent[];
  results: CommandResult[];
  /** Epoch ms at simulated time 0. */
  epoch: number;
}

/**
 * Runs `load` through createMiddleware on a SimClock: each command takes workMs * max(1, running / capacity)
 * with `running` the commands in the service as it starts (itself included).
 */
export async function record(load: readonly Offered[], capacity: number, options: Omit<MiddlewareOptions, 'clock' | 'sampler'> = {}): Promise<Recorded> {
  const epoch = Date.UTC(2026, 0, 1);
  const clock = new SimClock(epoch);
  const mw = createMiddleware({ ...options, clock, sampler: new StaticSampler({ cpuPercent: 10, memoryPercent: 40, pythonProcesses: 0, sampledAt: 0 }) });
  if (mw.configErrors.length > 0) throw new Error(mw.configErrors.join('; '));
  const events: TelemetryEvent[] = [];
  mw.telemetry.onEvent((e) => events.push(e));
  const results: CommandResult[] = [];
  let running = 0;
  const executorFor =
    (o: Offered): Executor =>
    () =>
      new Promise((resolve, reject) => {
        running++;
        const ms = o.workMs * Math.max(1, running / capacity);
        clock.setTimeout(() => {
          running--;
          if (o.fails) reject(new Error('simulated failure'));
          else resolve(undefined);
        }, ms);
      });
  let next = 0;
  const arrive = (): void => {
    const o = load[next++];
    if (next < load.length) clock.setTimeout(arrive, load[next].atMs - clock.now());
    void mw.execute({ commandType: o.commandType, priority: o.priority }, executorFor(o)).then((r) => results.push(r));
  };
  if (load.length > 0) clock.setTimeout(arrive, load[0].atMs);
  await clock.run(() => results.length === load.length);
  await mw.close();
  return { events, results, epoch };
}
