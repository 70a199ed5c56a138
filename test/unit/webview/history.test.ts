import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MetricsHistory, SERIES, rate } from '../../../src/webview/history';
import { snapshot } from './fixtures';

const T0 = 1_700_000_000_000;
const at = (sec: number, total: number, failed = 0) =>
  snapshot(
    { at: T0 + sec * 1000 },
    { totalCommands: total, failedCommands: failed, successfulCommands: total - failed, successRate: total ? (total - failed) / total : 0 },
  );

test('rate: per second between cumulative readings, null on a counter reset', () => {
  assert.equal(rate(100, 1100, 1000), 1000);
  assert.equal(rate(0, 250, 250), 1000);
  assert.equal(rate(500, 10, 1000), null);
  assert.equal(rate(1, 2, 0), null);
});

test('throughput and error rate come from successive totals', () => {
  const h = new MetricsHistory();
  h.push(at(0, 0));
  h.push(at(1, 1000, 10));
  h.push(at(3, 3000, 10));
  const [xs, thr, err] = h.columns(['throughput', 'errorRate']);
  assert.deepEqual(xs, [T0 / 1000, T0 / 1000 + 1, T0 / 1000 + 3]);
  assert.deepEqual(thr, [null, 1000, 1000]);
  assert.deepEqual(err, [null, 10, 0]);
  assert.equal(h.latest('throughput'), 1000);
});

test('snapshots closer than minIntervalMs do not add points (the counters still update elsewhere)', () => {
  const h = new MetricsHistory({ minIntervalMs: 1000 });
  assert.equal(h.push(at(0, 0)), true);
  assert.equal(h.push(at(0.25, 250)), false);
  assert.equal(h.push(at(0.5, 500)), false);
  assert.equal(h.push(at(1, 1000)), true);
  assert.equal(h.length, 2);
  assert.deepEqual(h.columns(['throughput'])[1], [null, 1000]);
});

test('a silence longer than gapMs breaks the line; a counter reset gives no rate', () => {
  const h = new MetricsHistory({ gapMs: 5000 });
  h.push(at(0, 0));
  h.push(at(1, 100));
  h.push(at(60, 5000)); // hidden for a minute
  h.push(at(61, 10)); // service restarted, stats reset
  const [xs, thr] = h.columns(['throughput']);
  assert.equal(xs.length, 5);
  assert.deepEqual(thr, [null, 100, null, null, null]);
  assert.equal(xs[2], T0 / 1000 + 1.001, 'the gap marker sits just after the last point');
});

test('the window is bounded in time and in memory', () => {
  const h = new MetricsHistory({ windowMs: 10_000, minIntervalMs: 1000 });
  for (let s = 0; s <= 100; s++) h.push(at(s, s * 10));
  const [xs] = h.columns([]);
  assert.ok(h.length <= 12, `kept ${h.length} points`);
  assert.equal(xs[0], T0 / 1000 + 90);
  assert.equal(xs.at(-1), T0 / 1000 + 100);
});

test('a clock that goes back restarts the history instead of plotting points in the future', () => {
  const h = new MetricsHistory();
  h.push(at(10, 0));
  h.push(at(11, 10));
  h.push(at(5, 20));
  assert.equal(h.length, 1);
});

test('system null and no finished command leave cpu/memory and success rate blank', () => {
  const h = new MetricsHistory();
  h.push(snapshot({ system: null }, { totalCommands: 0, successfulCommands: 0, failedCommands: 0, successRate: 0 }));
  const [, cpu, mem, ok] = h.columns(['cpuPercent', 'memoryPercent', 'successPercent']);
  assert.deepEqual([cpu, mem, ok], [[null], [null], [null]]);
  h.push(at(10, 10, 1));
  assert.equal(h.latest('successPercent'), 90);
  assert.equal(h.latest('cpuPercent'), 37.5);
  h.push(snapshot({ at: T0 + 20_000, system: null }));
  assert.equal(h.latest('cpuPercent'), null, 'the current value, not a stale one, once the sampler stops');
});

test('toState/fromState round-trips, and junk state gives an empty history', () => {
  const h = new MetricsHistory();
  for (let s = 0; s < 5; s++) h.push(at(s, s * 7, s));
  const state = JSON.parse(JSON.stringify(h.toState()));
  const back = MetricsHistory.fromState(state);
  assert.deepEqual(back.columns(SERIES), h.columns(SERIES));
  // Rates continue from the restored totals.
  back.push(at(5, 35 + 7, 5));
  assert.equal(back.latest('throughput'), 7 + 7);

  for (const junk of [undefined, null, 1, {}, { v: 2, rows: [] }, { v: 1, rows: 'x' }]) {
    assert.equal(MetricsHistory.fromState(junk).length, 0);
  }
  const partly = { v: 1, rows: [...state.rows, ['x'], [NaN, 0, 0, ...SERIES.map(() => 0)], state.rows[0]] };
  assert.equal(MetricsHistory.fromState(partly).length, 5, 'bad and out-of-order rows are skipped');
});

test('mergedWith keeps the older points before the newer history begins, then all of the newer ones', () => {
  const at = (t: number, total: number) => snapshot({ at: t }, { totalCommands: total });
  const restored = new MetricsHistory({ windowMs: 60_000, minIntervalMs: 1000, gapMs: 5000 });
  for (const t of [1000, 2000, 3000, 4000]) restored.push(at(t, t / 1000));
  const host = new MetricsHistory({ windowMs: 60_000, minIntervalMs: 1000, gapMs: 5000 });
  for (const t of [3000, 4000, 5000]) host.push(at(t, 10 + t / 1000));
  const merged = restored.mergedWith(host);
  assert.deepEqual(merged.columns([])[0], [1, 2, 3, 4, 5]);
  assert.deepEqual(
    merged.toState().rows.map((r) => r[1]),
    [1, 2, 13, 14, 15],
    "where both have a point, the host's counts win",
  );
  assert.equal(new MetricsHistory().mergedWith(host).length, 3, 'a new panel takes the host history as it is');
});

test('a change of the source filter breaks the rates for one point: the counters cover other sources', () => {
  const h = new MetricsHistory();
  h.push(at(0, 100));
  h.push(at(1, 200));
  // Filtered to one source: its total is smaller, then grows again.
  h.push({ ...at(2, 20), sources: ['terminal'] });
  h.push({ ...at(3, 30), sources: ['terminal'] });
  // Back to all: the total jumps up, which is no throughput either.
  h.push(at(4, 400));
  h.push(at(5, 500));
  assert.deepEqual(h.columns(['throughput'])[1], [null, 100, null, 10, null, 100]);
});
