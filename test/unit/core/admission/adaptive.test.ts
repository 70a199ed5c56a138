import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AdaptiveLimit, type AdaptiveOptions } from '../../../../src/core/admission/adaptive';
import { AdmissionController } from '../../../../src/core/admission/admission';
import type { AdmissionLimits, LimitHost } from '../../../../src/core/admission/types';
import { FixedLimit } from '../../../../src/core/admission/admissionStrategy';
import { ManualClock } from '../../../../src/core/clock';
import type { ThrottleConfig } from '../../../../src/core/config';
import { tick } from '../helpers';

const limits = (maxConcurrency: number, throttle: Partial<ThrottleConfig> = {}): AdmissionLimits => ({
  maxConcurrency,
  baseDelayMs: 0,
  maxDelayMs: 0,
  cpuThreshold: 100,
  maxQueueSize: 1_000_000,
  agingMs: 0,
  throttle: { mode: 'adaptive', minConcurrency: 1, maxConcurrency: 64, ...throttle },
});

/** A service whose latency grows past a knee: base * max(1, inFlight / capacity). */
const knee =
  (capacity: number, base = 50) =>
  (inFlight: number): number =>
    base * Math.max(1, inFlight / capacity);

/**
 * A synchronous closed loop around a strategy: `demand` callers, each starting its next command as soon as one
 * ends and a slot is free; every command is a ManualClock timer whose duration comes from `latency` at its start.
 */
class Loop implements LimitHost {
  readonly clock = new ManualClock();
  inFlight = 0;
  limit: number;
  readonly limits: number[] = [];
  readonly reasons: string[] = [];

  constructor(
    readonly strategy: AdaptiveLimit,
    settings: AdmissionLimits,
    public latency: (inFlight: number) => number,
    public demand = Infinity,
  ) {
    this.limit = strategy.start(this, settings).limit;
    this.limits.push(this.limit);
    this.fill();
  }

  get waiting(): number {
    return Math.max(0, this.demand - this.inFlight);
  }

  readonly paused = false;

  waitingAt(): number {
    return 0; // the adaptive limit does not look at priorities
  }

  setLimit(limit: number, reason: string): void {
    this.limit = limit;
    this.limits.push(limit);
    this.reasons.push(reason);
    this.fill();
  }

  fill(): void {
    while (this.inFlight < this.limit && this.inFlight < this.demand) {
      this.inFlight++;
      const startedAt = this.clock.now();
      this.clock.setTimeout(() => {
        this.inFlight--;
        this.strategy.sample(this.clock.now() - startedAt, this.inFlight + 1);
        this.fill();
      }, this.latency(this.inFlight));
    }
  }

  /** Runs `ms` of simulated time; returns the time-weighted mean limit over it. */
  run(ms: number): number {
    let weighted = 0;
    for (let t = 0; t < ms; t += 100) {
      this.clock.advance(100);
      weighted += this.limit * 100;
    }
    return weighted / ms;
  }
}

const adaptive = (o: Partial<AdaptiveOptions> = {}): AdaptiveLimit => new AdaptiveLimit(o);

describe('AdaptiveLimit', () => {
  it('grows up to the maximum while latency stays flat and the limit is used', () => {
    const loop = new Loop(adaptive(), limits(4, { maxConcurrency: 48 }), () => 20);
    loop.run(60_000);
    assert.equal(loop.limit, 48);
    assert.ok(Math.max(...loop.limits) <= 48);
  });

  it('shrinks to the knee when latency rises past it, and settles there', () => {
    const loop = new Loop(adaptive(), limits(32), knee(8));
    const settled = loop.run(120_000) && loop.run(120_000);
    assert.ok(settled >= 8 * 0.7 && settled <= 8 * 1.3, `settled at ${settled}, knee 8`);
    assert.ok(
      loop.reasons.some((r) => /^short RTT [\d.]+ ms vs long [\d.]+ ms, gradient 0\.\d+$/.test(r)),
      'a cut says which latencies it compared',
    );
  });

  it('finds a knee far below its start (probes at half the concurrency in use, Little’s law)', () => {
    const loop = new Loop(adaptive(), limits(64, { maxConcurrency: 256 }), knee(2));
    loop.run(120_000);
    const settled = loop.run(120_000);
    assert.ok(settled >= 1.4 && settled <= 2.6, `settled at ${settled}, knee 2`);
    assert.ok(loop.reasons.some((r) => r.includes('still saturated')));
  });

  it('measures the no-load latency with a probe at half the limit, then restores the limit', () => {
    const loop = new Loop(adaptive(), limits(8), knee(16, 40));
    loop.run(1000); // the first window: a guess, then a probe
    const probe = loop.reasons.findIndex((r) => r.startsWith('probing the no-load latency at 4'));
    assert.ok(probe >= 0, loop.reasons.join('\n'));
    assert.equal(loop.limits[probe + 1], 4);
    loop.run(2000);
    const done = loop.reasons.findIndex((r) => r.startsWith('probe at 4: no-load latency 40 ms'));
    assert.ok(done > probe, loop.reasons.join('\n'));
    assert.ok(loop.limits[done + 1] >= 8, 'the limit is back after the probe');
    assert.equal(loop.strategy.describe().longRttMs, 40);
  });

  it('does not grow while fewer than half the slots are in use, however fast the service', () => {
    const loop = new Loop(adaptive(), limits(16), () => 10, 7);
    loop.run(60_000);
    assert.equal(Math.max(...loop.limits), 16);
    assert.equal(loop.limit, 16);
    // Only the first window's probe (the no-load latency must be measured once) moved it, down and back.
    assert.deepEqual(
      loop.reasons.filter((r) => !r.startsWith('prob')),
      [],
    );
    loop.demand = 64; // the caller uses the limit now: it grows
    loop.fill();
    loop.run(20_000);
    assert.ok(loop.limit > 16);
  });

  it('still comes down with fewer than half the slots in use when that concurrency already queues', () => {
    const loop = new Loop(adaptive(), limits(64), knee(4), 24); // 24 < 64 / 2, and 24 > the knee
    loop.run(60_000);
    assert.ok(loop.limit < 12, `limit ${loop.limit}`);
  });

  it('probes a service that does not queue at the start only (its baseline, twice), never periodically after', () => {
    const loop = new Loop(adaptive(), limits(8), knee(16), 6);
    loop.run(10_000);
    assert.equal(loop.reasons.filter((r) => r.startsWith('probing')).length, 2, loop.reasons.join('\n'));
    loop.reasons.length = 0;
    loop.run(300_000); // probes would only hold back commands the service has room for
    assert.deepEqual(loop.reasons, []);
  });

  it('takes no noise for queueing: scattered latencies below the knee do not pull the limit down', () => {
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    // Exponential latencies (as scattered as an LLM's), no knee below 32.
    const loop = new Loop(adaptive(), limits(8, { maxConcurrency: 32 }), () => -Math.log(1 - random()) * 50);
    loop.run(60_000);
    assert.ok(loop.run(60_000) > 24, `limit ${loop.limit}`);
  });

  it('never leaves [min, max], whatever the latencies, demand and setting changes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.record({ min: fc.integer({ min: 1, max: 30 }), span: fc.integer({ min: 0, max: 30 }), start: fc.integer({ min: 1, max: 64 }) }), {
          maxLength: 3,
        }),
        (min, span, start, capacity, demand, changes) => {
          let bounds = { minConcurrency: min, maxConcurrency: min + span };
          const loop = new Loop(adaptive(), limits(start, bounds), knee(capacity, 30), demand);
          const check = (from: number): void => {
            for (const l of loop.limits.slice(from))
              assert.ok(l >= bounds.minConcurrency && l <= bounds.maxConcurrency, `${l} outside ${bounds.minConcurrency}..${bounds.maxConcurrency}`);
          };
          loop.run(20_000);
          check(0);
          for (const c of changes) {
            const seen = loop.limits.length;
            bounds = { minConcurrency: c.min, maxConcurrency: c.min + c.span };
            loop.strategy.configure(limits(c.start, bounds));
            loop.run(10_000);
            check(seen);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('applies a setting change at once: new bounds clamp it, a new aios.maxConcurrency restarts from it', () => {
    const loop = new Loop(adaptive(), limits(4, { maxConcurrency: 64 }), () => 20);
    loop.run(30_000);
    assert.ok(loop.limit > 20);
    loop.strategy.configure(limits(4, { maxConcurrency: 10 }));
    assert.equal(loop.limit, 10);
    assert.equal(loop.reasons.at(-1), 'bounds are 1..10');
    loop.strategy.configure(limits(4, { minConcurrency: 6, maxConcurrency: 10 }));
    assert.equal(loop.limit, 10);
    loop.strategy.configure(limits(7, { minConcurrency: 6, maxConcurrency: 10 }));
    assert.equal(loop.limit, 7);
    assert.equal(loop.reasons.at(-1), 'aios.maxConcurrency is 7: restarting from it');
    const before = loop.limits.length;
    loop.strategy.configure(limits(7, { minConcurrency: 6, maxConcurrency: 10 }));
    assert.equal(loop.limits.length, before, 'an unrelated setting change leaves it alone');
  });

  it('starts from aios.maxConcurrency clamped into its bounds', () => {
    assert.equal(new Loop(adaptive(), limits(4, { minConcurrency: 6, maxConcurrency: 9 }), () => 1).limit, 6);
    assert.equal(new Loop(adaptive(), limits(40, { minConcurrency: 6, maxConcurrency: 9 }), () => 1).limit, 9);
  });

  it('reads no clock on a sample outside a probe, and ignores samples that are not durations', () => {
    const loop = new Loop(adaptive(), limits(8), () => 20, 0);
    const clock = loop.clock;
    let reads = 0;
    const now = clock.now.bind(clock);
    clock.now = () => {
      reads++;
      return now();
    };
    for (let i = 0; i < 1000; i++) loop.strategy.sample(20, 8);
    loop.strategy.sample(Number.NaN, 8);
    loop.strategy.sample(-1, 8);
    assert.equal(reads, 0);
    clock.advance(1000);
    assert.equal(loop.strategy.describe().shortRttMs, 20, 'NaN and negative samples were left out');
  });

  it('stop() clears its window timer', () => {
    const loop = new Loop(adaptive(), limits(8), () => 20, 0);
    assert.equal(loop.clock.pendingTimers, 1);
    loop.strategy.stop();
    assert.equal(loop.clock.pendingTimers, 0);
  });
});

describe('AdmissionController with aios.throttle.mode', () => {
  it('reports the mode, the limit and why, and the adaptive state', () => {
    const c = new AdmissionController(limits(6), new ManualClock());
    const s = c.state();
    assert.equal(s.mode, 'adaptive');
    assert.equal(s.limit, 6);
    assert.match(s.limitReason, /starting from aios\.maxConcurrency 6 within 1\.\.64/);
    assert.deepEqual(s.adaptive, { minLimit: 1, maxLimit: 64, estimate: 6, shortRttMs: 0, longRttMs: 0, gradient: 1, probing: false });
    c.close();
    const f = new AdmissionController({ ...limits(6), throttle: undefined }, new ManualClock()).state();
    assert.equal(f.mode, 'fixed');
    assert.equal(f.limitReason, 'aios.maxConcurrency is 6');
    assert.equal(f.adaptive, undefined);
  });

  it('switches modes at run time without losing queued commands, in priority order', async () => {
    const clock = new ManualClock();
    const c = new AdmissionController({ ...limits(2), throttle: { mode: 'fixed', minConcurrency: 1, maxConcurrency: 64 } }, clock);
    const changes: string[] = [];
    c.onLimitChange((ch) => changes.push(`${ch.mode} ${ch.from}->${ch.to}`));
    assert.ok(c.tryAdmit() && c.tryAdmit());
    const order: string[] = [];
    const queued = (['LOW', 'NORMAL', 'HIGH', 'NORMAL'] as const).map((p, i) => (c.admit(p) as Promise<string>).then((o) => order.push(`${p}${i}:${o}`)));
    assert.equal(c.state().queued.NORMAL, 2);
    c.setLimits(limits(3)); // adaptive, starting from 3: one more slot
    assert.equal(c.state().mode, 'adaptive');
    await tick();
    assert.deepEqual(order, ['HIGH2:admitted']);
    assert.equal(clock.pendingTimers, 1, 'the adaptive window timer');
    c.setLimits({ ...limits(6), throttle: { mode: 'fixed', minConcurrency: 1, maxConcurrency: 64 } });
    assert.equal(clock.pendingTimers, 0, 'the adaptive strategy stopped');
    await Promise.all(queued);
    assert.deepEqual(order, ['HIGH2:admitted', 'NORMAL1:admitted', 'NORMAL3:admitted', 'LOW0:admitted']);
    assert.equal(c.active, 6);
    assert.deepEqual(changes, ['adaptive 2->3', 'fixed 3->6']);
  });

  it('a lower limit from a switch lets running commands finish and starts nothing until below it', async () => {
    const c = new AdmissionController({ ...limits(4), throttle: undefined }, new ManualClock());
    for (let i = 0; i < 4; i++) assert.ok(c.tryAdmit());
    let started = false;
    void (c.admit('NORMAL') as Promise<string>).then(() => (started = true));
    c.setLimits(limits(4, { maxConcurrency: 2 })); // adaptive within 1..2: limit 2
    assert.equal(c.state().limit, 2);
    c.release();
    c.release();
    await tick();
    assert.equal(started, false);
    c.release();
    await tick();
    assert.equal(started, true);
  });

  it('feeds released commands’ running times to the strategy; the fixed limit takes none', () => {
    const clock = new ManualClock();
    const c = new AdmissionController(limits(4), clock);
    for (let round = 0; round < 12; round++) {
      assert.ok(c.tryAdmit());
      c.release(25);
    }
    clock.advance(1000);
    assert.equal(c.state().adaptive?.shortRttMs, 25);
    c.close();
    assert.equal(clock.pendingTimers, 0, 'close() stops the strategy');

    const fixed = new FixedLimit();
    fixed.sample = () => assert.fail('a strategy that wants no samples gets none');
    const f = new AdmissionController(limits(4), clock, { strategy: () => fixed });
    assert.ok(f.tryAdmit());
    f.release(25);
  });
});
