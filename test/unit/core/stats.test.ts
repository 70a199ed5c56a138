import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencyHistogram } from '../../../src/core/histogram';
import { CommandStats, MAX_COMMAND_TYPES, OTHER_TYPE } from '../../../src/core/stats';

describe('LatencyHistogram', () => {
  it('percentiles are within a few percent of the exact values', () => {
    const h = new LatencyHistogram();
    const values = Array.from({ length: 10_000 }, (_, i) => 0.01 * (i + 1)); // 0.01 .. 100 ms
    for (const v of values) h.record(v);
    for (const [q, exact] of [
      [0.5, 50],
      [0.95, 95],
      [0.99, 99],
    ] as const) {
      const got = h.quantile(q);
      assert.ok(Math.abs(got - exact) / exact < 0.04, `p${q * 100}: ${got} vs ${exact}`);
    }
  });

  it('several quantiles in one pass equal each asked for alone', () => {
    const h = new LatencyHistogram();
    assert.deepEqual(h.quantiles([0.5, 0.99]), [0, 0]);
    for (let i = 0; i < 5000; i++) h.record(Math.exp((i % 97) / 7) * (((i * 7919) % 13) + 1) * 0.001);
    const qs = [0, 0.001, 0.25, 0.5, 0.5, 0.9, 0.95, 0.99, 0.999, 1];
    assert.deepEqual(
      h.quantiles(qs),
      qs.map((q) => h.quantile(q)),
    );
  });

  it('handles empty, zero, sub-microsecond and huge values', () => {
    const h = new LatencyHistogram();
    assert.equal(h.quantile(0.5), 0);
    h.record(0);
    h.record(0.0001);
    h.record(1e9);
    assert.equal(h.count, 3);
    assert.equal(h.quantile(0.5), 0);
    assert.ok(h.quantile(1) > 4e6);
  });

  it('round-trips through its JSON form and ignores junk', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 100; i++) h.record(i);
    const copy = new LatencyHistogram();
    copy.merge(JSON.parse(JSON.stringify(h)));
    copy.merge([[-1, 5], [99999, 1], 'x', [3, -2]]);
    assert.equal(copy.count, 100);
    assert.equal(copy.quantile(0.95), h.quantile(0.95));
  });
});

describe('CommandStats', () => {
  it('keeps totals consistent: total = success + failed + cancelled', () => {
    const s = new CommandStats();
    s.end('A', 'success', false, 10, true, 1);
    s.end('A', 'error', false, 30, true, 2);
    s.end('B', 'error', true, 0, false, 3);
    s.end('B', 'cancelled', false, 5, false, 4);
    s.throttled('A');
    const o = s.overall();
    assert.equal(o.totalCommands, 4);
    assert.equal(o.totalCommands, o.successfulCommands + o.failedCommands + o.cancelledCommands);
    assert.equal(o.blockedCommands, 1);
    assert.equal(o.throttledCommands, 1);
    assert.equal(o.successRate, 0.333);
    assert.equal(o.averageDurationMs, 20, 'only commands that reached their executor are timed');
    const a = s.byType().A;
    assert.equal(a.count, 2);
    assert.equal(a.throttledCount, 1);
    assert.equal(a.lastExecuted, new Date(2).toISOString());
  });

  it('caps the number of command types', () => {
    const s = new CommandStats();
    for (let i = 0; i < MAX_COMMAND_TYPES + 50; i++) s.end(`T${i}`, 'success', false, 1, true, i);
    const types = s.byType();
    assert.equal(Object.keys(types).length, MAX_COMMAND_TYPES);
    assert.equal(types[OTHER_TYPE].count, 51, '499 named types, then one shared entry');
  });

  it('restores a snapshot by adding its counts to the current ones', () => {
    const a = new CommandStats();
    a.end('A', 'success', false, 10, true, 1);
    const snap = JSON.parse(JSON.stringify(a.snapshot(5)));
    const b = new CommandStats();
    b.end('A', 'error', false, 20, true, 6);
    assert.equal(b.restore(snap), true);
    assert.equal(b.overall().totalCommands, 2);
    assert.equal(b.byType().A.successCount, 1);
    assert.equal(b.byType().A.errorCount, 1);
    assert.equal(b.restore({ version: 2 }), false);
    assert.equal(b.restore('junk'), false);
  });
});
