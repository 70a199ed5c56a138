// Remediation rules' costs. Per event: the MetricSource listener (called inside Telemetry.emit, the hot path)
// on its own, against the emit itself; events 1 ms apart, so each has a new timestamp string. Per tick: one RuleEngine evaluation of 100 rules (the setting's maximum) over a
// full window (4096 durations to sort for p95Ms), against the sampler's period, the budget it runs in.
import { ManualClock, systemClock } from '../src/core/clock';
import { DEFAULT_CONFIG } from '../src/core/config';
import { METRIC_MAX_DURATIONS, METRICS, MetricSource } from '../src/core/rules/metrics';
import { RuleEngine } from '../src/core/rules';
import { StaticSampler } from '../src/core/system/sampler';
import type { Telemetry } from '../src/core/telemetry/telemetry';
import type { EventType, TelemetryEvent } from '../src/core/types';
import { benchTelemetry } from './telemetry.bench';
import { log, lowerIsBetter, median, round, type Bench, type BenchResult } from './types';

const admission = { queued: { HIGH: 0, NORMAL: 3, LOW: 0 } };

/** The event mix of a busy service: a START and an end per command, some throttles and errors. */
const MIX: [EventType, number | undefined, Record<string, unknown> | undefined][] = [
  ['START', undefined, undefined],
  ['COMPLETE', 12.5, undefined],
  ['START', undefined, undefined],
  ['ERROR', 40, { code: 'executor_error', message: 'x' }],
  ['THROTTLE', undefined, { delayMs: 100 }],
  ['START', undefined, undefined],
  ['COMPLETE', 3.25, undefined],
  ['CANCEL', 1, { code: 'cancelled' }],
];

/** ns per emit, median of rounds. */
function emitCost(t: Telemetry, n: number, rounds: number): number {
  const out: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const [type, d, m] = MIX[i & 7];
      t.emit(type, 'c', 'ANALYZE', 'NORMAL', d, m, d !== undefined);
    }
    out.push(((performance.now() - t0) * 1e6) / n);
  }
  return median(out);
}

export const rulesBench: Bench = {
  name: 'rules',
  run({ quick }): Promise<BenchResult[]> {
    const n = quick ? 200_000 : 1_000_000;
    const rounds = quick ? 5 : 9;
    const bare = benchTelemetry();
    emitCost(bare, n / 4, 2); // warm up
    const emitNs = emitCost(bare, n / rounds, rounds);

    const watched = benchTelemetry();
    const sampler = new StaticSampler({ cpuPercent: 50, memoryPercent: 40, sampledAt: 1 });
    const source = new MetricSource({ sampler, telemetry: watched, admission: () => admission, clock: systemClock });
    let listener: ((e: TelemetryEvent) => void) | undefined;
    const probe = new MetricSource({
      sampler,
      telemetry: { onEvent: (l) => ((listener = l), { dispose: () => undefined }) },
      admission: () => admission,
      clock: systemClock,
    });
    // Events 1 ms apart, made by Telemetry.emit itself: a listener's cost depends on the objects' shape (built
    // by spreading an event, the same fields are several times slower to read).
    const clock = new ManualClock(0, Date.UTC(2026, 0, 1));
    const maker = benchTelemetry({ clock });
    const events: TelemetryEvent[] = Array.from({ length: 4000 }, (_, i) => {
      const [eventType, durationMs, metadata] = MIX[i & 7];
      const e = maker.emit(eventType, `c-${i >> 1}`, 'ANALYZE', 'NORMAL', durationMs, metadata, durationMs !== undefined);
      clock.advance(1);
      return e;
    });
    const call = listener!;
    const listenerRound = (): number => {
      const t0 = performance.now();
      for (let i = 0; i < n; i++) call(events[i % 4000]);
      return ((performance.now() - t0) * 1e6) / n;
    };
    listenerRound();
    const listenerNs = median(Array.from({ length: rounds }, listenerRound));
    probe.dispose();
    log(`rules: the metric listener ${round(listenerNs)} ns/event; Telemetry.emit ${round(emitNs)} ns/event`);

    // A full window: 4096 durations in the last minute, and 100 rules on every metric, none firing.
    for (let i = 0; i < METRIC_MAX_DURATIONS; i++) watched.emit('COMPLETE', 'c', 'ANALYZE', 'NORMAL', (i * 7919) % 1000, undefined, true);
    const rules = Array.from({ length: 100 }, (_, i) => ({
      name: `rule-${i}`,
      when: { metric: METRICS[i % METRICS.length], above: 1e6 - 1, forSeconds: 10 },
      then: { notify: 'x' },
    }));
    for (const r of rules) if (r.when.metric === 'errorRate') r.when.above = 0.99;
    const engine = new RuleEngine({
      metrics: source,
      clock: systemClock,
      rules,
      actions: { control: () => Promise.resolve(), setLimits: () => undefined, notify: () => undefined, log: () => undefined },
    });
    const ticks = quick ? 200 : 1000;
    for (let i = 0; i < 50; i++) engine.tick();
    const tickUs: number[] = [];
    for (let i = 0; i < ticks; i++) {
      const t0 = performance.now();
      engine.tick();
      tickUs.push((performance.now() - t0) * 1000);
    }
    const perTick = median(tickUs);
    const periodUs = DEFAULT_CONFIG.sampler.intervalMs * 1000;
    log(`rules: one tick of 100 rules over a full window ${round(perTick)} µs (the sampler ticks every ${DEFAULT_CONFIG.sampler.intervalMs} ms)`);
    engine.dispose();
    source.dispose();
    return Promise.resolve([
      lowerIsBetter('rules.metric-listener-per-event', listenerNs, 'ns', 'telemetry.emit-per-event', emitNs),
      lowerIsBetter('rules.tick-100-rules', perTick, 'us', 'sampler-period', periodUs),
    ]);
  },
};
