import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdmissionController, AdmissionError, backoffDelay } from '../../../../src/core/admission/admission';
import { describeLimitChange } from '../../../../src/core/admission/admissionStrategy';
import type { AdmissionLimits, LimitHost, LimitStrategy } from '../../../../src/core/admission/types';
import { ManualClock } from '../../../../src/core/clock';
import type { Priority, ProgressUpdate } from '../../../../src/core/types';

const limits = (over: Partial<AdmissionLimits> = {}): AdmissionLimits => ({
  maxConcurrency: 1,
  baseDelayMs: 0,
  maxDelayMs: 5000,
  cpuThreshold: 85,
  maxQueueSize: 100,
  agingMs: 0,
  ...over,
});

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Occupies every slot and returns a function that frees one. */
function fill(c: AdmissionController, n: number): void {
  for (let i = 0; i < n; i++) assert.equal(c.tryAdmit(), true);
}

describe('backoffDelay', () => {
  const l = { maxConcurrency: 4, baseDelayMs: 100, maxDelayMs: 5000, cpuThreshold: 85 };
  const table: Array<[active: number, cpu: number, expected: number]> = [
    [0, 0, 100], // under the limit the factor is still at least 1
    [3, 50, 100],
    [4, 50, 100], // at the limit: 4 - 4 + 1 = 1
    [5, 50, 200],
    [8, 50, 500],
    [4, 85, 100], // the threshold itself does not double
    [4, 85.1, 200],
    [6, 99, 600],
    [100, 50, 5000], // capped
    [100, 99, 5000],
  ];
  for (const [active, cpu, expected] of table) {
    it(`active ${active}, cpu ${cpu}% → ${expected} ms`, () => assert.equal(backoffDelay(active, cpu, l), expected));
  }
  it('maxDelayMs below baseDelayMs caps every delay', () => assert.equal(backoffDelay(10, 0, { ...l, maxDelayMs: 50 }), 50));
  it('baseDelayMs 0 disables the delay', () => assert.equal(backoffDelay(10, 99, { ...l, baseDelayMs: 0 }), 0));
});

describe('AdmissionController', () => {
  it('admits up to the limit synchronously, then queues', () => {
    const c = new AdmissionController(limits({ maxConcurrency: 2 }), new ManualClock());
    assert.equal(c.admit('NORMAL'), 'admitted');
    assert.equal(c.admit('NORMAL'), 'admitted');
    const third = c.admit('NORMAL');
    assert.ok(third instanceof Promise);
    assert.deepEqual(c.state().queued, { HIGH: 0, NORMAL: 1, LOW: 0 });
    assert.equal(c.active, 2);
  });

  it('starts HIGH before NORMAL before LOW, FIFO within a priority', async () => {
    const c = new AdmissionController(limits(), new ManualClock());
    fill(c, 1);
    const order: string[] = [];
    const submit = (p: Priority, name: string): Promise<void> =>
      (c.admit(p) as Promise<string>).then((o) => {
        assert.equal(o, 'admitted');
        order.push(name);
      });
    const all = [submit('LOW', 'low1'), submit('NORMAL', 'n1'), submit('LOW', 'low2'), submit('HIGH', 'h1'), submit('NORMAL', 'n2'), submit('HIGH', 'h2')];
    for (let i = 0; i < all.length; i++) {
      c.release();
      await tick();
    }
    await Promise.all(all);
    assert.deepEqual(order, ['h1', 'h2', 'n1', 'n2', 'low1', 'low2']);
  });

  /** With the only slot taken: LOW queues, `waitMs` passes, HIGH queues; the order the two are admitted in. */
  async function lowThenHigh(agingMs: number, waitMs: number): Promise<string[]> {
    const clock = new ManualClock();
    const c = new AdmissionController(limits({ agingMs }), clock);
    fill(c, 1);
    const order: string[] = [];
    const low = (c.admit('LOW') as Promise<string>).then(() => order.push('low'));
    clock.advance(waitMs);
    const high = (c.admit('HIGH') as Promise<string>).then(() => order.push('high'));
    c.release();
    await tick();
    c.release();
    await Promise.all([low, high]);
    return order;
  }

  it('aging: a LOW command older than agingMs goes before younger HIGH ones', async () => {
    assert.deepEqual(await lowThenHigh(1000, 1500), ['low', 'high']);
  });

  it('aging counts from arrivedAt when the caller gives it (the pipeline passes the time it read on arrival)', async () => {
    const clock = new ManualClock();
    const c = new AdmissionController(limits({ agingMs: 1000 }), clock);
    fill(c, 1);
    clock.advance(5000);
    const order: string[] = [];
    // Arrived 1500 ms before it was queued: already past the aging bound when HIGH comes.
    const low = (c.admit('LOW', { arrivedAt: clock.now() - 1500 }) as Promise<string>).then(() => order.push('low'));
    const high = (c.admit('HIGH') as Promise<string>).then(() => order.push('high'));
    c.release();
    await tick();
    c.release();
    await Promise.all([low, high]);
    assert.deepEqual(order, ['low', 'high']);
  });

  it('without aging, HIGH always goes first', async () => {
    assert.deepEqual(await lowThenHigh(0, 1_000_000), ['high', 'low']);
  });

  it('refuses with queue_full when maxQueueSize commands wait, and memory stays bounded', () => {
    const c = new AdmissionController(limits({ maxQueueSize: 2 }), new ManualClock());
    fill(c, 1);
    assert.ok(c.admit('NORMAL') instanceof Promise);
    assert.ok(c.admit('LOW') instanceof Promise);
    assert.equal(c.admit('HIGH'), 'queue_full');
    assert.equal(c.state().queued.HIGH, 0);
  });

  it('maxQueueSize 0 means no queueing at all', () => {
    const c = new AdmissionController(limits({ maxQueueSize: 0 }), new ManualClock());
    fill(c, 1);
    assert.equal(c.admit('NORMAL'), 'queue_full');
  });

  it('delays a command over the limit, reports THROTTLE info, and holds it until the delay ends', async () => {
    const clock = new ManualClock();
    const c = new AdmissionController(limits({ baseDelayMs: 100 }), clock);
    c.setLoad(90, 0);
    fill(c, 1);
    const throttles: unknown[] = [];
    const progress: ProgressUpdate[] = [];
    let outcome: string | undefined;
    void (c.admit('NORMAL', { onThrottle: (i) => throttles.push(i), onProgress: (p) => progress.push(p) }) as Promise<string>).then((o) => (outcome = o));
    assert.equal(throttles.length, 1);
    assert.deepEqual(throttles[0], {
      delayMs: 200,
      reason: (throttles[0] as { reason: string }).reason,
      queuePosition: 1,
      active: 1,
      limit: 1,
      cpuPercent: 90,
    });
    assert.match((throttles[0] as { reason: string }).reason, /CPU 90% > 85%/);
    assert.equal(progress[0].stage, 'throttled');
    assert.equal(progress[0].remainingMs, 200);
    c.release(); // a slot is free, but the command is still backing off
    await tick();
    assert.equal(outcome, undefined);
    assert.equal(c.state().delayed, 1);
    clock.advance(199);
    await tick();
    assert.equal(outcome, undefined);
    clock.advance(1);
    await tick();
    assert.equal(outcome, 'admitted');
    assert.equal(progress.at(-1)?.stage, 'queued');
    assert.equal(c.state().delayed, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it('counts external Python processes as load when told, without taking slots', () => {
    const c = new AdmissionController(limits({ maxConcurrency: 4, baseDelayMs: 100 }), new ManualClock());
    c.setLoad(0, 5); // 5 other Python processes: over the limit of 4
    const throttles: number[] = [];
    const r = c.admit('NORMAL', { onThrottle: (i) => throttles.push(i.delayMs) });
    assert.ok(r instanceof Promise);
    assert.deepEqual(throttles, [200]); // 100 * (5 - 4 + 1)
    c.setLoad(0, 0);
    assert.equal(c.tryAdmit(), false); // one is waiting: FIFO, no overtaking
  });

  describe('cancellation', () => {
    it('while queued: resolves cancelled, leaves the queue, removes its listener', async () => {
      const c = new AdmissionController(limits(), new ManualClock());
      fill(c, 1);
      const ac = new AbortController();
      const p = c.admit('NORMAL', { signal: ac.signal }) as Promise<string>;
      ac.abort();
      assert.equal(await p, 'cancelled');
      assert.deepEqual(c.state().queued, { HIGH: 0, NORMAL: 0, LOW: 0 });
      c.release();
      assert.equal(c.active, 0);
    });

    it('while delayed: clears its timer', async () => {
      const clock = new ManualClock();
      const c = new AdmissionController(limits({ baseDelayMs: 100 }), clock);
      fill(c, 1);
      const ac = new AbortController();
      const p = c.admit('LOW', { signal: ac.signal }) as Promise<string>;
      assert.equal(clock.pendingTimers, 1);
      ac.abort();
      assert.equal(await p, 'cancelled');
      assert.equal(clock.pendingTimers, 0);
      assert.equal(c.state().delayed, 0);
    });

    it('an already aborted signal is refused at once', () => {
      const c = new AdmissionController(limits(), new ManualClock());
      fill(c, 1);
      assert.equal(c.admit('NORMAL', { signal: AbortSignal.abort() }), 'cancelled');
    });

    it('an already aborted signal is refused even when a slot is free and nobody waits', async () => {
      const c = new AdmissionController(limits({ maxConcurrency: 4 }), new ManualClock());
      assert.equal(c.admit('NORMAL', { signal: AbortSignal.abort() }), 'cancelled');
      let ran = false;
      await assert.rejects(
        c.run('NORMAL', () => (ran = true), { signal: AbortSignal.abort() }),
        (e: unknown) => (e as AdmissionError).code === 'cancelled',
      );
      assert.equal(ran, false, 'the function of a cancelled run() must not run');
      assert.equal(c.active, 0, 'a refused command holds no slot');
    });

    it('a cancelled head that was backing off no longer holds its queue', async () => {
      const clock = new ManualClock();
      const c = new AdmissionController(limits({ baseDelayMs: 100, maxConcurrency: 1 }), clock);
      fill(c, 1);
      const ac = new AbortController();
      const head = c.admit('NORMAL', { signal: ac.signal }) as Promise<string>;
      c.release(); // below the limit now: the next arrival gets no delay but waits behind the head
      const next = c.admit('NORMAL') as Promise<string>;
      assert.ok(next instanceof Promise);
      ac.abort();
      assert.equal(await head, 'cancelled');
      assert.equal(await next, 'admitted');
    });

    it('run() rejects with AdmissionError when cancelled', async () => {
      const c = new AdmissionController(limits(), new ManualClock());
      fill(c, 1);
      const ac = new AbortController();
      const p = c.run('NORMAL', () => 1, { signal: ac.signal });
      ac.abort();
      await assert.rejects(p, (e: unknown) => e instanceof AdmissionError && e.code === 'cancelled');
    });
  });

  it('a higher limit set at run time starts waiting commands at once', async () => {
    const c = new AdmissionController(limits(), new ManualClock());
    fill(c, 1);
    const a = c.admit('NORMAL') as Promise<string>;
    const b = c.admit('NORMAL') as Promise<string>;
    c.setLimits(limits({ maxConcurrency: 3 }));
    assert.deepEqual(await Promise.all([a, b]), ['admitted', 'admitted']);
    assert.equal(c.active, 3);
  });

  it('a lower limit lets running commands finish and starts nothing until below it', async () => {
    const c = new AdmissionController(limits({ maxConcurrency: 3 }), new ManualClock());
    fill(c, 3);
    c.setLimits(limits({ maxConcurrency: 1 }));
    let started = false;
    const p = (c.admit('NORMAL') as Promise<string>).then(() => (started = true));
    c.release();
    c.release();
    await tick();
    assert.equal(started, false);
    c.release();
    await p;
    assert.equal(c.active, 1);
  });

  it('pause holds new and queued commands; resume starts them', async () => {
    const c = new AdmissionController(limits({ maxConcurrency: 2 }), new ManualClock());
    c.pause();
    assert.equal(c.tryAdmit(), false);
    const p = c.admit('HIGH') as Promise<string>;
    await tick();
    assert.equal(c.active, 0);
    c.resume();
    assert.equal(await p, 'admitted');
  });

  it('reports queue positions as commands ahead leave, for listeners only', async () => {
    const c = new AdmissionController(limits(), new ManualClock());
    fill(c, 1);
    void c.admit('NORMAL');
    void c.admit('NORMAL');
    const seen: number[] = [];
    const mine = c.admit('NORMAL', { onProgress: (p) => seen.push(p.queuePosition) }) as Promise<string>;
    void c.admit('HIGH'); // arrives later but goes first: my position grows
    c.release();
    c.release();
    c.release();
    c.release();
    assert.equal(await mine, 'admitted');
    assert.deepEqual(seen, [3, 4, 3, 2, 1]);
  });

  it('close settles every waiting command and refuses new ones', async () => {
    const clock = new ManualClock();
    const c = new AdmissionController(limits({ baseDelayMs: 10 }), clock);
    fill(c, 1);
    const a = c.admit('LOW') as Promise<string>;
    const b = c.run('HIGH', () => 1);
    c.close();
    assert.equal(await a, 'closed');
    await assert.rejects(b, (e: unknown) => (e as AdmissionError).code === 'closed');
    assert.equal(c.admit('NORMAL'), 'closed');
    assert.equal(clock.pendingTimers, 0);
  });

  it('after close() nothing is admitted, the fast path included', async () => {
    const c = new AdmissionController(limits({ maxConcurrency: 4 }), new ManualClock());
    c.close();
    assert.equal(c.tryAdmit(), false);
    assert.equal(c.admit('HIGH'), 'closed');
    let ran = false;
    await assert.rejects(
      c.run('HIGH', () => (ran = true)),
      (e: unknown) => (e as AdmissionError).code === 'closed',
    );
    assert.equal(ran, false);
    assert.equal(c.active, 0);
  });

  it('run() releases its slot whether the task succeeds or throws', async () => {
    const c = new AdmissionController(limits({ maxConcurrency: 2 }), new ManualClock());
    assert.equal(await c.run('NORMAL', () => 42), 42);
    await assert.rejects(
      c.run('NORMAL', () => Promise.reject(new Error('x'))),
      /x/,
    );
    assert.equal(c.active, 0);
  });
});

/** A strategy whose slots are leases granted later (the shape of a shared limit in Redis): it starts with none,
 *  hears of demand when commands queue, and raises the limit when the test grants leases. */
class Leases implements LimitStrategy {
  readonly mode = 'fixed' as const;
  readonly wantsSamples = false;
  host: LimitHost | undefined;
  readonly demand: number[] = [];
  stopped = false;

  start(host: LimitHost): { limit: number; reason: string } {
    this.host = host;
    return { limit: 0, reason: 'no lease yet' };
  }

  configure(): void {}
  sample(): void {}

  onDemand(waiting: number): void {
    this.demand.push(waiting);
  }

  grant(held: number): void {
    this.host?.setLimit(held, `${held} leases held`);
  }

  stop(): void {
    this.stopped = true;
  }

  describe(): undefined {
    return undefined;
  }
}

describe('a strategy that acquires its slots asynchronously (the contract a shared limit builds on)', () => {
  it('commands queue until it holds slots, hear of demand, then start in priority order; the fast path uses only held slots', async () => {
    const leases = new Leases();
    const c = new AdmissionController(limits(), new ManualClock(), { strategy: () => leases });
    const changes: string[] = [];
    c.onLimitChange((ch) => changes.push(describeLimitChange(ch)));
    assert.equal(c.tryAdmit(), false, 'no lease: the fast path admits nothing');
    const order: string[] = [];
    const all = (['LOW', 'NORMAL', 'HIGH'] as Priority[]).map((p) => (c.admit(p) as Promise<string>).then((o) => order.push(`${p} ${o}`)));
    assert.deepEqual(leases.demand, [1, 2, 3]);
    await tick();
    assert.deepEqual(order, []);
    leases.grant(2);
    await tick();
    assert.deepEqual(order, ['HIGH admitted', 'NORMAL admitted']);
    c.release();
    await tick();
    assert.deepEqual(order, ['HIGH admitted', 'NORMAL admitted', 'LOW admitted'], 'a released slot is reused while held');
    await Promise.all(all);
    c.release();
    c.release();
    assert.equal(c.tryAdmit(), true, 'held slots serve the fast path');
    leases.grant(0); // leases given back: the running command finishes, nothing new starts
    c.release();
    assert.equal(c.tryAdmit(), false);
    assert.deepEqual(changes, ['limit 0 -> 2 (fixed): 2 leases held', 'limit 2 -> 0 (fixed): 0 leases held']);
    c.close();
    assert.equal(leases.stopped, true);
  });

  it('ignores a stopped strategy: a lease granted after a mode switch changes nothing', () => {
    const old = new Leases();
    const made: Leases[] = [];
    const c = new AdmissionController(limits(), new ManualClock(), {
      strategy: () => {
        const l = made.length === 0 ? old : new Leases();
        made.push(l);
        return l;
      },
    });
    c.setLimits({ ...limits(), throttle: { mode: 'adaptive', minConcurrency: 1, maxConcurrency: 4 } });
    assert.equal(old.stopped, true);
    old.grant(5);
    assert.equal(c.state().limit, 0);
    made[1].grant(3);
    assert.equal(c.state().limit, 3);
  });

  it('refuses a limit that is not a whole number >= 0, naming it', () => {
    const leases = new Leases();
    new AdmissionController(limits(), new ManualClock(), { strategy: () => leases });
    assert.throws(() => leases.grant(1.5), /a concurrency limit must be an integer >= 0 \(got 1\.5\)/);
  });
});
