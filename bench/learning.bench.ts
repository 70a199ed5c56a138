// The learning model and the tuner.
// - Per event: LearningModel.observe on START/COMPLETE pairs of 8 command types from 4 windows (what
//   Telemetry.onEvent hands it), against a floor measured in the same run over the same events: one Map
//   get + set per event (the least any per-type model does).
// - Replay: a synthetic day of telemetry at a realistic rate (86,400 commands: Poisson at 1 command/s, 4
//   types of 0.2-5 s median, lognormal, a service of capacity 4), recorded through the real pipeline on
//   simulated time into event files on disk. Timed: reading the day back from disk (loadWorkload: the
//   exporter's merge, then parsing) and tuning it over the default grid (16 settings). Target: both in
//   seconds. Peer for the replay speed: the same arrivals through the whole pipeline on simulated time
//   (createMiddleware on a SimClock, as bench/adaptive.bench.ts runs it), one setting.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CONFIG } from '../src/core/config';
import { LearningModel, loadWorkload, seeded, SimClock, tunableSettings, tune } from '../src/core/learning';
import { createMiddleware } from '../src/core/pipeline';
import { StaticSampler } from '../src/core/system';
import type { EventType, TelemetryEvent } from '../src/core/types';
import { higherIsBetter, log, lowerIsBetter, median, round, type Bench, type BenchResult } from './types';

const TYPES = ['AI_INFERENCE', 'ANALYZE_DATA', 'ECHO', 'SUMMARIZE', 'EMBED', 'CLASSIFY', 'TRANSLATE', 'SEARCH'];
const SYSTEM = Object.freeze({
  platform: 'linux',
  arch: 'x64',
  nodeVersion: process.version,
  cpuCount: 2,
  cpuPercent: 12,
  memoryPercent: 40,
  pythonProcesses: 1,
});
const SERVICE = Object.freeze({ status: 'healthy' });

function events(n: number): TelemetryEvent[] {
  const r = seeded(5);
  const users = [0, 1, 2, 3].map((i) => Object.freeze({ sessionId: `win-${i}` }));
  const out: TelemetryEvent[] = [];
  let t = Date.UTC(2026, 0, 1);
  const make = (eventType: EventType, id: string, type: string, user: object, durationMs?: number): TelemetryEvent => ({
    timestamp: new Date(t).toISOString(),
    eventType,
    commandId: id,
    commandType: type,
    priority: 'NORMAL',
    durationMs,
    user: user as TelemetryEvent['user'],
    system: SYSTEM,
    service: SERVICE,
    metadata: undefined,
  });
  for (let i = 0; i < n / 2; i++) {
    const type = TYPES[i % TYPES.length];
    const user = users[(i >> 3) % users.length];
    const id = `b-${i.toString(36)}`;
    out.push(make('START', id, type, user));
    t += 1 + Math.floor(r() * 3);
    out.push(make('COMPLETE', id, type, user, 5 + r() * 500));
  }
  return out;
}

function perEvent(es: readonly TelemetryEvent[], rounds: number): { ours: number; floor: number } {
  const oursNs: number[] = [];
  const floorNs: number[] = [];
  for (let k = 0; k < rounds; k++) {
    const m = new LearningModel();
    let t0 = performance.now();
    for (const e of es) m.observe(e);
    oursNs.push(((performance.now() - t0) * 1e6) / es.length);
    const counts = new Map<string, number>();
    t0 = performance.now();
    for (const e of es) counts.set(e.commandType, (counts.get(e.commandType) ?? 0) + 1);
    floorNs.push(((performance.now() - t0) * 1e6) / es.length);
    if (counts.size !== TYPES.length || m.events !== es.length) throw new Error('the bench lost events');
  }
  return { ours: median(oursNs), floor: median(floorNs) };
}

interface Offer {
  atMs: number;
  type: number;
  workMs: number;
}

/** A day (or `hours`) of Poisson arrivals at 1/s over 4 types. */
function day(hours: number): Offer[] {
  const r = seeded(17);
  const medians = [200, 800, 2000, 5000];
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const out: Offer[] = [];
  for (let t = 0; t < hours * 3600_000;) {
    t += -Math.log(1 - r()) * 1000;
    const type = Math.floor(r() * 4);
    out.push({ atMs: t, type, workMs: medians[type] * Math.exp(0.5 * normal()) });
  }
  return out;
}

/** Runs the offers through createMiddleware on a SimClock (capacity 4 service); telemetry to `dir` when given. */
async function throughPipeline(offers: readonly Offer[], dir: string | undefined): Promise<number> {
  const clock = new SimClock(Date.UTC(2026, 0, 1));
  const mw = createMiddleware({
    clock,
    sampler: new StaticSampler({ cpuPercent: 12, memoryPercent: 40, pythonProcesses: 0, sampledAt: 0 }),
    ...(dir ? { storageDir: dir, sessionId: 'day' } : {}),
    // A day's events (~70 MB) exceed the default 50 MB retention: keep them all.
    config: { maxConcurrency: 8, baseDelayMs: 0, telemetry: { maxRecentEvents: 0, maxTotalSizeMB: 500 } },
  });
  let running = 0;
  let done = 0;
  const t0 = performance.now();
  let next = 0;
  const arrive = (): void => {
    const o = offers[next++];
    if (next < offers.length) clock.setTimeout(arrive, offers[next].atMs - clock.now());
    void mw
      .execute({ commandType: TYPES[o.type] }, () => {
        running++;
        const ms = o.workMs * Math.max(1, running / 4);
        return new Promise<void>((resolve) =>
          clock.setTimeout(() => {
            running--;
            resolve();
          }, ms),
        );
      })
      .then(() => void done++);
  };
  clock.setTimeout(arrive, offers[0].atMs);
  await clock.run(() => done === offers.length);
  await mw.close();
  return performance.now() - t0;
}

export const learningBench: Bench = {
  name: 'learning',
  async *run({ quick }): AsyncIterable<BenchResult> {
    const es = events(quick ? 200_000 : 1_000_000);
    const cost = perEvent(es, quick ? 3 : 5);
    log(`model per event ${round(cost.ours)} ns, Map get+set ${round(cost.floor)} ns`);
    yield lowerIsBetter('learning.model-per-event', cost.ours, 'ns', 'one Map get + set per event (same events, same run)', cost.floor);

    const hours = quick ? 6 : 24;
    const offers = day(hours);
    const dir = mkdtempSync(join(tmpdir(), 'aios-bench-learning-'));
    try {
      await throughPipeline(offers, dir);
      let t0 = performance.now();
      const workload = await loadWorkload(dir);
      const loadMs = performance.now() - t0;
      if (workload.commands.length !== offers.length) throw new Error(`${workload.commands.length} of ${offers.length} commands were read back`);
      t0 = performance.now();
      const result = await tune(workload, { current: tunableSettings(DEFAULT_CONFIG) });
      const tuneMs = performance.now() - t0;
      const rate = result.simulatedCommands / (tuneMs / 1000);
      log(
        `${hours} h: ${workload.commands.length} commands read back in ${round(loadMs / 1000)} s; ${result.rows.length} rows ` +
          `(${result.simulatedCommands} simulated commands) tuned in ${round(tuneMs / 1000)} s; knee ${result.knee?.capacity ?? 'none'}; ` +
          `recommended: ${result.recommended.label}`,
      );
      // The peer: the same arrivals through the whole pipeline on simulated time, one setting, telemetry in memory.
      const peerOffers = offers.slice(0, Math.min(offers.length, quick ? 10_000 : 30_000));
      const peerMs = await throughPipeline(peerOffers, undefined);
      const peerRate = peerOffers.length / (peerMs / 1000);
      log(`whole pipeline on a SimClock: ${round(peerRate)} simulated commands/s`);
      yield higherIsBetter('learning.replay-speed', rate, 'ops/s', 'the whole pipeline on a SimClock (same arrivals, one setting)', peerRate);
      yield { bench: `learning.tune-${hours}h`, value: round(tuneMs), unit: 'ms' };
      yield { bench: `learning.load-${hours}h`, value: round(loadMs), unit: 'ms' };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
