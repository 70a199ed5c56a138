import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LatencyHistogram } from '../../../../src/core/telemetry/histogram';
import { CommandStats, MAX_COMMAND_TYPES, OTHER_TYPE } from '../../../../src/core/telemetry/stats';

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

  it('one sample: p50 = p95 = p99 = that sample', () => {
    const h = new LatencyHistogram();
    h.record(12.345);
    assert.deepEqual(h.quantiles([0.5, 0.95, 0.99]), [12.345, 12.345, 12.345]);
    assert.equal(h.min, 12.345);
    assert.equal(h.max, 12.345);
  });

  it('a percentile never lies outside the observed minimum and maximum (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e7, noNaN: true }), { minLength: 1, maxLength: 200 }), (values) => {
        const h = new LatencyHistogram();
        for (const v of values) h.record(v);
        const lo = Math.min(...values);
        const hi = Math.max(...values);
        for (const q of h.quantiles([0, 0.5, 0.95, 0.99, 1])) {
          // round3 may move a value by half a microsecond.
          assert.ok(q >= lo - 0.0005 && q <= hi + 0.0005, `${q} outside [${lo}, ${hi}]`);
        }
      }),
    );
  });

  it('keeps its extremes through a stats snapshot', () => {
    const s = new CommandStats();
    s.end('A', 'success', false, 7.5, true, 1);
    const restored = new CommandStats();
    restored.restore(JSON.parse(JSON.stringify(s.snapshot(2))));
    const a = restored.byType().A;
    assert.deepEqual([a.p50, a.p95, a.p99], [7.5, 7.5, 7.5]);
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
  it('counts control operations apart: they do not move the commands success rate', () => {
    const s = new CommandStats();
    s.end('ECHO', 'success', false, 1, true, 1);
    s.end('CONTROL:RELOAD_CONFIG', 'error', false, 2, true, 2);
    s.end('CONTROL:FLUSH_CACHE', 'success', false, 3, true, 3);
    const o = s.overall();
    assert.equal(o.totalCommands, 1);
    assert.equal(o.successRate, 1);
    assert.equal(o.controlOperations.count, 2);
    assert.equal(o.controlOperations.errorCount, 1);
    assert.equal(s.byType()['CONTROL:RELOAD_CONFIG'].errorCount, 1, 'per-type figures keep them');
    const restored = new CommandStats();
    restored.restore(JSON.parse(JSON.stringify(s.snapshot(4))));
    assert.equal(restored.overall().totalCommands, 1);
    assert.equal(restored.overall().controlOperations.count, 2);
  });

  it('counts rule records in their own entry only: neither the commands nor the control operations move', () => {
    const s = new CommandStats();
    s.end('ECHO', 'success', false, 1, true, 1);
    s.end('RULE:cpu-high', 'error', false, 2, false, 2);
    s.end('RULE:cpu-high', 'success', false, 3, false, 3);
    s.throttled('RULE:cpu-high');
    const o = s.overall();
    assert.equal(o.totalCommands, 1);
    assert.equal(o.successRate, 1);
    assert.equal(o.failedCommands, 0);
    assert.equal(o.throttledCommands, 0);
    assert.equal(o.controlOperations.count, 0);
    assert.equal(s.byType()['RULE:cpu-high'].count, 2);
    assert.equal(s.byType()['RULE:cpu-high'].errorCount, 1);
    const restored = new CommandStats();
    restored.restore(JSON.parse(JSON.stringify(s.snapshot(4))));
    assert.equal(restored.overall().totalCommands, 1);
    assert.equal(restored.byType()['RULE:cpu-high'].count, 2);
  });

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

describe('CommandStats by source', () => {
  /** A morning: palette and API commands, a failing `false` typed in a terminal, a typo, a control operation. */
  function morning(): CommandStats {
    const s = new CommandStats();
    s.end('ECHO', 'success', false, 10, true, 1, 'palette');
    s.end('ECHO', 'success', false, 30, true, 2, 'api');
    s.end('ECHO', 'error', false, 50, true, 3, 'api');
    s.throttled('ECHO', 'api');
    s.end('TERMINAL:false', 'error', false, 2, true, 4, 'terminal');
    s.end('TERMINAL:true', 'success', false, 1, true, 5, 'terminal');
    s.end('NOPE', 'error', false, 3, true, 6, 'palette', true); // unknown to the service
    s.end('DENIED', 'error', true, 0, false, 7, 'palette'); // blocked: refused
    s.end('CONTROL:RELOAD_CONFIG', 'success', false, 4, true, 8, 'palette'); // a control operation, whoever asked
    return s;
  }

  it('the headline leaves terminal commands and control operations out; each source has its own figures', () => {
    const s = morning();
    const o = s.overall();
    assert.equal(o.totalCommands, 5, 'palette 3 + api 2; not the terminal, not the control operation');
    assert.equal(o.successfulCommands, 2);
    assert.equal(o.failedCommands, 3);
    assert.equal(o.refusedCommands, 2, 'the typo and the blocked one never ran');
    assert.equal(o.blockedCommands, 1);
    assert.equal(o.throttledCommands, 1);
    assert.equal(o.successRate, 0.4);
    assert.equal(o.controlOperations.count, 1);
    const by = s.bySource();
    assert.deepEqual(Object.keys(by), ['palette', 'api', 'terminal', 'control']);
    assert.equal(by.palette!.count, 3);
    assert.equal(by.palette!.refusedCount, 2);
    assert.equal(by.palette!.successRate, 0.333);
    assert.equal(by.api!.count, 2);
    assert.equal(by.api!.throttledCount, 1);
    assert.equal(by.api!.p95, 50);
    assert.equal(by.terminal!.count, 2);
    assert.equal(by.terminal!.errorCount, 1, "the program's own non-zero exit, under its source only");
    assert.equal(by.terminal!.successRate, 0.5);
    assert.equal(by.control!.count, 1);
    // The headline is the sum of its sources.
    const headline = (['palette', 'api'] as const).map((k) => by[k]!);
    assert.equal(
      headline.reduce((n, r) => n + r.count, 0),
      o.totalCommands,
    );
    assert.equal(
      headline.reduce((n, r) => n + r.successCount, 0),
      o.successfulCommands,
    );
  });

  it('a filter narrows the figures, the sources and the types; terminal counts when chosen', () => {
    const s = morning();
    const terminal = s.overall(new Set(['terminal']));
    assert.equal(terminal.totalCommands, 2);
    assert.equal(terminal.failedCommands, 1);
    assert.equal(terminal.controlOperations.count, 0, 'control operations only when `control` is chosen');
    const mixed = s.overall(new Set(['api', 'terminal', 'control']));
    assert.equal(mixed.totalCommands, 4);
    assert.equal(mixed.p99, 50);
    assert.equal(mixed.controlOperations.count, 1);
    assert.deepEqual(Object.keys(s.bySource(new Set(['api', 'control']))), ['api', 'control']);
    const api = s.byType(new Set(['api']));
    assert.deepEqual(Object.keys(api), ['ECHO']);
    assert.equal(api.ECHO.count, 2);
    assert.deepEqual(api.ECHO.sources, ['api']);
    const all = s.byType();
    assert.equal(all.ECHO.count, 3, "a type's figures are its sources' together");
    assert.deepEqual(all.ECHO.sources, ['palette', 'api']);
    assert.equal(all.ECHO.p99, 50);
    assert.equal(all.NOPE.refusedCount, 1);
    assert.deepEqual(all['CONTROL:RELOAD_CONFIG'].sources, ['control']);
  });

  it('survives a snapshot, per source and per type and source', () => {
    const s = morning();
    const restored = new CommandStats();
    assert.equal(restored.restore(JSON.parse(JSON.stringify(s.snapshot(9)))), true);
    assert.deepEqual(restored.overall(), s.overall());
    assert.deepEqual(restored.bySource(), s.bySource());
    assert.deepEqual(restored.byType(), s.byType());
    assert.deepEqual(restored.byType(new Set(['api'])), s.byType(new Set(['api'])));
  });

  it('restores a snapshot from before sources were kept: its figures under `other`, the headline unchanged', () => {
    // The shape older versions wrote: no bySource, no source(s) per type, no refusedCount.
    const old = new CommandStats();
    old.end('ECHO', 'success', false, 10, true, 1);
    old.end('ECHO', 'error', true, 0, false, 2);
    const snap = JSON.parse(JSON.stringify(old.snapshot(3))) as Record<string, unknown>;
    delete snap.bySource;
    const strip = (c: Record<string, unknown>) => {
      delete c.source;
      delete c.sources;
      delete c.refusedCount;
    };
    for (const c of Object.values(snap.byType as Record<string, Record<string, unknown>>)) strip(c);
    strip(snap.overall as Record<string, unknown>);
    const s = new CommandStats();
    s.end('ECHO', 'success', false, 5, true, 4, 'palette');
    assert.equal(s.restore(snap), true);
    const o = s.overall();
    assert.equal(o.totalCommands, 3);
    assert.equal(o.refusedCommands, 1, 'older blocked commands are refusals');
    const by = s.bySource();
    assert.equal(by.other!.count, 2);
    assert.equal(by.palette!.count, 1);
    assert.equal(by.other!.count + by.palette!.count, o.totalCommands, 'the sources still add up to the headline');
    assert.deepEqual(s.byType().ECHO.sources, ['palette', 'other']);
    assert.equal(s.byType().ECHO.count, 3);
  });
});
