import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandStats } from '../../../src/core/telemetry/stats';
import { countsAsCommand } from '../../../src/core/telemetry/sources';
import { describeFilter, describeSourceStats, neverRan, partitionTypes } from '../../../src/views/sourceModel';

describe('telemetry by source, in words', () => {
  const s = new CommandStats();
  s.end('ECHO', 'success', false, 12, true, 1, 'api');
  s.end('ECHO', 'error', false, 30, true, 2, 'api');
  s.end('NOPE', 'error', false, 1, true, 3, 'palette', true);
  s.end('DENIED', 'error', true, 0, false, 4, 'palette');
  s.end('ECHO', 'cancelled', false, 1, false, 5, 'palette');
  s.end('TERMINAL:false', 'error', false, 2, true, 6, 'terminal');
  s.end('TERMINAL:true', 'success', false, 2, true, 7, 'terminal');
  s.end('CONTROL:RELOAD_CONFIG', 'error', false, 2, true, 8, 'palette');
  const by = s.bySource();

  it("says each source's figures; a terminal's non-zero exits as such, out of the totals; control operations as not commands", () => {
    assert.equal(describeSourceStats('api', by.api!), '2 · 50.0% ok · p95 30.0 ms · 1 failed');
    assert.equal(describeSourceStats('palette', by.palette!), '3 · 0.0% ok · p95 1 ms · 2 failed (2 refused) · 1 cancelled');
    assert.equal(describeSourceStats('terminal', by.terminal!), '2 · 1 exited 0 · 1 non-zero · not in the totals');
    assert.equal(describeSourceStats('control', by.control!), '1 · 1 failed · not commands');
  });

  it('types that never ran are apart; control operations and rule records are not command types', () => {
    s.end('RULE:cpu-high', 'success', false, 1, false, 9);
    const { ran, refused } = partitionTypes(s.byType(), countsAsCommand);
    assert.deepEqual(
      ran.map(([t]) => t),
      ['ECHO', 'TERMINAL:false', 'TERMINAL:true'],
    );
    assert.deepEqual(
      refused.map(([t]) => t),
      ['NOPE', 'DENIED'],
    );
    assert.equal(neverRan({ count: 0, refusedCount: 0 }), false, 'a type on its way (throttled, not ended) is not refused');
    // Once it runs, it is a command type like any other.
    s.end('NOPE', 'success', false, 1, true, 10, 'palette');
    assert.ok(partitionTypes(s.byType(), countsAsCommand).ran.some(([t]) => t === 'NOPE'));
  });

  it('names the filter in SOURCE_KINDS order', () => {
    assert.equal(describeFilter(undefined), undefined);
    assert.equal(describeFilter(new Set(['terminal', 'palette'])), 'palette, terminal');
    assert.equal(describeFilter(new Set()), 'none');
  });
});
