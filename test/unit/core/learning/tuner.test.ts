import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_CONFIG } from '../../../../src/core/config';
import {
  gridSettings,
  loadWorkload,
  recommend,
  simulateSession,
  tunableSettings,
  tune,
  workloadFromEvents,
  type RecordedCommand,
  type RecordedWorkload,
  type TunableSettings,
  type TuningRow,
} from '../../../../src/core/learning';
import { createMiddleware } from '../../../../src/core/pipeline';
import { StaticSampler } from '../../../../src/core/system';
import { tempDir } from '../helpers';
import { offered, record } from './harness';

const CURRENT: TunableSettings = { ...tunableSettings(DEFAULT_CONFIG), maxConcurrency: 16 };

function p99(xs: number[]): number {
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)];
}

describe('simulateSession', () => {
  it('replays arrivals through the real admission: one slot, fixed times, waits as a queue gives them', async () => {
    const arrivals = [0, 10, 20, 30].map((atMs) => ({ atMs, priority: 'NORMAL' as const, cpuPercent: 0 }));
    const r = await simulateSession({ arrivals, limits: { ...CURRENT, maxConcurrency: 1, baseDelayMs: 0 }, serviceMs: () => 100 });
    assert.deepEqual([...r.waitMs], [0, 90, 180, 270]);
    assert.equal(r.completed, 4);
    assert.equal(r.makespanMs, 400);
    const small = await simulateSession({ arrivals, limits: { ...CURRENT, maxConcurrency: 1, baseDelayMs: 0, maxQueueSize: 1 }, serviceMs: () => 100 });
    assert.equal(small.refused, 2, 'a queue of one: the third and fourth are refused');
    const delayed = await simulateSession({ arrivals, limits: { ...CURRENT, maxConcurrency: 1, baseDelayMs: 50 }, serviceMs: () => 100 });
    assert.equal(delayed.throttled, 3);
    const again = await simulateSession({ arrivals, limits: { ...CURRENT, throttle: { ...CURRENT.throttle, mode: 'adaptive' } }, serviceMs: (_, n) => 50 * n });
    const twice = await simulateSession({ arrivals, limits: { ...CURRENT, throttle: { ...CURRENT.throttle, mode: 'adaptive' } }, serviceMs: (_, n) => 50 * n });
    assert.deepEqual([...again.waitMs], [...twice.waitMs], 'deterministic');
  });
});

describe('workloadFromEvents', () => {
  it('arrivals, times in the service and the number running, from what the pipeline recorded', async () => {
    const load = offered(5, 400, 30, 100, 0.2);
    const { events, results } = await record(load, 4, { config: { maxConcurrency: 6, baseDelayMs: 0, maxQueueSize: 5 } });
    const w = await workloadFromEvents(events);
    const refused = results.filter((r) => r.error?.code === 'queue_full').length;
    assert.ok(refused > 0, 'the small queue refused some');
    assert.equal(w.commands.length, 400);
    assert.equal(w.commands.filter((c) => c.outcome === 'refused').length, refused);
    assert.equal(w.sessions, 1);
    assert.equal(w.maxRunning, 6);
    // Arrival times are the offered ones (to the recorded millisecond); ids count submissions.
    const t0 = Date.UTC(2026, 0, 1);
    for (const c of w.commands) {
      const i = parseInt(c.commandId.split('-')[1], 36) - 1;
      assert.ok(Math.abs(c.arrivalMs - t0 - load[i].atMs) <= 1, `arrival ${i}: ${c.arrivalMs - t0} vs ${load[i].atMs}`);
      if (c.outcome === 'refused') continue;
      // Times in the service are work * max(1, running / 4), running as reconstructed.
      const want = load[i].workMs * Math.max(1, c.running / 4);
      assert.ok(Math.abs(c.serviceMs - want) < 0.01, `service ${i}: ${c.serviceMs} vs ${want} (running ${c.running})`);
    }
  });
});

describe('loadWorkload', () => {
  it('reads a period back from disk: two halves hold every command once, even those queued across the boundary', async () => {
    const dir = tempDir();
    // 300 commands at 12 /s on 2 slots of ~100 ms (60 % load): some wait across any boundary.
    const load = offered(9, 300, 12, 100, 0.3);
    await record(load, 8, { storageDir: dir, sessionId: 'disk', config: { maxConcurrency: 2, baseDelayMs: 0 } });
    const t0 = Date.UTC(2026, 0, 1);
    const all = await loadWorkload(dir);
    assert.equal(all.commands.length, 300);
    assert.ok(all.commands.some((c) => c.waitMs > 0));
    // A boundary between two arrivals far enough apart for arrivals recorded to the millisecond.
    let i = 150;
    while (load[i].atMs - load[i - 1].atMs < 10) i++;
    const mid = t0 + (load[i - 1].atMs + load[i].atMs) / 2;
    const first = await loadWorkload(dir, { to: mid });
    const second = await loadWorkload(dir, { from: mid });
    assert.equal(first.commands.length, i);
    assert.equal(second.commands.length, 300 - i);
    assert.equal(first.unfinished + second.unfinished, 0);
    assert.ok(
      first.commands.some((c) => c.arrivalMs + c.waitMs + c.serviceMs > mid),
      'some of the first half ended after its end (read thanks to the margin)',
    );
    const cut = await loadWorkload(dir, { to: mid, marginMs: 0 });
    assert.ok(cut.unfinished > 0 && cut.commands.length < i, 'without the margin they would be lost');
    const ids = new Set([...first.commands, ...second.commands].map((c) => c.commandId));
    assert.equal(ids.size, 300);
  });

  it('says what is wrong with a missing folder or a bad bound', async () => {
    await assert.rejects(loadWorkload(join(tempDir(), 'nope')), /telemetry folder .*nope does not exist/);
    await assert.rejects(loadWorkload(tempDir(), { from: 'yesterday' }), /from must be an ISO 8601 time/);
  });
});

describe('tune', () => {
  it('puts the current settings first and says what each row changes', () => {
    const rows = gridSettings(CURRENT, {}, { maxCpu: 90, refused: 1 });
    assert.equal(rows[0], CURRENT);
    assert.ok(rows.some((s) => s.throttle.mode === 'adaptive'));
    assert.ok(
      rows.some((s) => s.cpuThreshold === 100),
      'CPU went over the threshold: try never doubling',
    );
    assert.ok(
      rows.some((s) => s.maxQueueSize === 10_000),
      'commands were refused: try a longer queue',
    );
    // 7 limits (16 is among them) + adaptive, × 2 delays × 2 thresholds × 2 queues.
    assert.equal(rows.length, 8 * 2 * 2 * 2);
    assert.equal(new Set(rows.map((s) => JSON.stringify(s))).size, rows.length);
  });

  it('on a workload of known capacity, recommends what brute force on the simulator finds best', async () => {
    // The service does 4 commands at a time (100 ms each, ±20 %); more at once take proportionally longer.
    // Recorded at the settings in force (limit 16, backoff 100 ms), 5 minutes at 28 commands/s (70 % load).
    const CAPACITY = 4;
    const load = offered(21, 8400, 28, 100, 0.2);
    const { events } = await record(load, CAPACITY, { config: { maxConcurrency: 16, baseDelayMs: 100 } });
    const workload = await workloadFromEvents(events);
    const result = await tune(workload, { current: CURRENT });
    assert.ok(result.knee, 'the knee was seen');
    assert.ok(Math.abs(result.knee.capacity - CAPACITY) <= 0.5, `knee at ${result.knee.capacity}`);

    // Brute force: every setting of the same grid on the simulator with the true service (the offered work,
    // the true knee), scored by goodput then p99 latency.
    const settings = gridSettings(CURRENT, {}, { maxCpu: 10, refused: 0 });
    assert.equal(settings.length, result.rows.length);
    const key = (s: TunableSettings): string => `${s.throttle.mode} ${s.maxConcurrency} ${s.baseDelayMs}`;
    const truth: Array<{ s: TunableSettings; goodput: number; p99: number }> = [];
    const arrivals = load.map((o) => ({ atMs: o.atMs - load[0].atMs, priority: o.priority, cpuPercent: 10 }));
    for (const s of settings) {
      const r = await simulateSession({ arrivals, limits: s, serviceMs: (i, n) => load[i].workMs * Math.max(1, n / CAPACITY) });
      const lat = [...r.waitMs].map((w, i) => w + r.serviceMs[i]).filter((v) => v === v);
      truth.push({ s, goodput: r.completed / (Math.max(r.makespanMs, arrivals[arrivals.length - 1].atMs) / 1000), p99: p99(lat) });
    }
    // Row by row, the replay from the events predicts what the true service gives: fixed limits within 5 %
    // (the adaptive limit's path is sensitive to small differences in the times it sees: not compared).
    truth.forEach((t, i) => {
      const row = result.rows[i];
      assert.equal(key(row.settings), key(t.s));
      if (t.s.throttle.mode === 'fixed') assert.ok(Math.abs(row.p99LatencyMs / t.p99 - 1) < 0.05, `${row.label}: p99 ${row.p99LatencyMs} vs true ${t.p99}`);
    });
    const top = Math.max(...truth.map((t) => t.goodput));
    const good = truth.filter((t) => t.goodput >= 0.99 * top);
    const lowest = Math.min(...good.map((t) => t.p99));
    const best = good.filter((t) => t.p99 <= 1.02 * lowest).map((t) => t.s);
    assert.ok(
      best.some((s) => key(s) === key(result.recommended.settings)),
      `recommended ${result.recommended.label}; brute force: ${best.map(key).join(', ')}`,
    );
    assert.ok(!best.some((s) => key(s) === key(CURRENT)), 'the current settings are not among the best: the test can tell');
    assert.ok(best.length < settings.length / 3, 'the best are a few of the grid');
    // The recommendation changes what it must, and the current row is what the recording measured.
    assert.equal(result.current.current, true);
    assert.deepEqual(result.current.changes, {});
    assert.ok(Object.keys(result.recommended.changes).length > 0);
    const measured = p99(events.filter((e) => e.eventType === 'COMPLETE').map((e) => e.durationMs!));
    assert.ok(Math.abs(result.current.p99LatencyMs - measured) / measured < 0.1, `current row p99 ${result.current.p99LatencyMs} vs recorded ${measured}`);
  });

  it('a recorded session of the real pipeline on real timers, replayed: predicted p99 within 25 % of measured', async () => {
    // The service does 2 commands at a time, 20 ms each; more at once take proportionally longer (a simulated
    // capacity behind a function executor, on real timers). 250 Poisson arrivals at 70 /s (70 % of its 100 /s),
    // limit 4, no backoff: about 3.5 s of real time. Telemetry goes to disk and is read back from there.
    const dir = tempDir();
    const mw = createMiddleware({
      storageDir: dir,
      sessionId: 'recorded',
      sampler: new StaticSampler({ cpuPercent: 10, memoryPercent: 40, pythonProcesses: 0, sampledAt: 0 }),
      config: { maxConcurrency: 4, baseDelayMs: 0 },
    });
    let running = 0;
    const executor = (): Promise<void> =>
      new Promise((resolve) => {
        running++;
        setTimeout(
          () => {
            running--;
            resolve();
          },
          20 * Math.max(1, running / 2),
        );
      });
    const load = offered(31, 250, 70, 1, 0);
    const t0 = performance.now();
    const pending: Array<Promise<{ durationMs: number; success: boolean }>> = [];
    for (const o of load) {
      const wait = o.atMs - (performance.now() - t0);
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      pending.push(mw.execute({ commandType: 'CAPACITY' }, executor));
    }
    const results = await Promise.all(pending);
    await mw.close();
    assert.ok(results.every((r) => r.success));
    const measured = p99(results.map((r) => r.durationMs));

    const workload = await loadWorkload(dir);
    assert.equal(workload.commands.length, 250);
    const tuned = await tune(workload, { current: tunableSettings(mw.config) });
    const predicted = tuned.current.p99LatencyMs;
    assert.ok(Math.abs(predicted - measured) / measured <= 0.25, `predicted p99 ${predicted} ms vs measured ${measured} ms`);
  });

  it('tries never doubling the backoff when the CPU was over the threshold, and a longer queue when commands were refused', async () => {
    // Hand-made: bursts of 6 commands every second on 2 slots of 100 ms, CPU at 95 %, queue of 3.
    const commands: RecordedCommand[] = [];
    for (let b = 0; b < 60; b++) {
      for (let k = 0; k < 6; k++) {
        const refusedOne = k >= 5;
        commands.push({
          session: 's',
          commandId: `c${b}-${k}`,
          commandType: 'T',
          priority: 'NORMAL',
          arrivalMs: b * 1000 + k,
          serviceMs: refusedOne ? NaN : 100,
          running: refusedOne ? 0 : Math.min(2, k + 1),
          waitMs: refusedOne ? NaN : 0,
          outcome: refusedOne ? 'refused' : 'completed',
          cpuPercent: 95,
        });
      }
    }
    const workload: RecordedWorkload = { commands, sessions: 1, fromMs: 0, toMs: 60_000, abandoned: 0, unfinished: 0, bypassed: 0, maxRunning: 2 };
    const current: TunableSettings = { ...CURRENT, maxConcurrency: 2, baseDelayMs: 100, cpuThreshold: 85, maxQueueSize: 3 };
    const r = await tune(workload, { current, grid: { limits: [2], adaptive: false, baseDelayMs: [100] } });
    assert.deepEqual(
      r.rows.map((row) => [row.settings.cpuThreshold, row.settings.maxQueueSize]),
      [
        [85, 3],
        [85, 30],
        [100, 3],
        [100, 30],
      ],
    );
    const [cur, longQueue, noDoubling, both] = r.rows;
    assert.ok(cur.refused > 0 && longQueue.refused === 0, `refused ${cur.refused} -> ${longQueue.refused}`);
    assert.ok(noDoubling.p99WaitMs < cur.p99WaitMs, `p99 wait ${cur.p99WaitMs} -> ${noDoubling.p99WaitMs} without doubling`);
    assert.equal(r.recommended, both);
    assert.deepEqual(both.changes, { cpuThreshold: 100, maxQueueSize: 30 });
  });

  it('recommends within the recording when it can, and refuses an empty period', async () => {
    const row = (over: Partial<TuningRow>): TuningRow =>
      ({
        label: '',
        settings: CURRENT,
        changes: { maxConcurrency: 1 },
        current: false,
        goodput: 10,
        p99LatencyMs: 100,
        extrapolated: false,
        ...over,
      }) as TuningRow;
    const within = row({ p99LatencyMs: 100 });
    const beyond = row({ p99LatencyMs: 50, extrapolated: true });
    assert.equal(recommend([within, beyond]), within);
    assert.equal(recommend([beyond]), beyond);
    const cur = row({ current: true, changes: {}, p99LatencyMs: 101 });
    assert.equal(recommend([within, cur]), cur, 'within 2 % of the best p99: keep the current settings');
    await assert.rejects(
      tune({ commands: [], sessions: 0, fromMs: 0, toMs: 0, abandoned: 0, unfinished: 0, bypassed: 0, maxRunning: 0 }, { current: CURRENT }),
      /no commands were recorded/,
    );
  });
});
