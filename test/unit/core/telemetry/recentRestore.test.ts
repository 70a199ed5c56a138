// Recent Events after a window reload: a new middleware (a new extension host, a new session) on the same
// folder gets the newest events the old one wrote, before its own, without touching its stats.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../../src/core/clock';
import { functionExecutor } from '../../../../src/core/execution/executors';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import { readRecentEvents, restoreRecentEvents } from '../../../../src/core/telemetry/storage';
import { tempDir } from '../helpers';

const EPOCH = Date.UTC(2026, 0, 1);
const executor = functionExecutor({ ECHO: (p) => p });

function make(dir: string, sessionId: string, at: number, maxRecentEvents = 6) {
  const clock = new ManualClock(0, EPOCH + at);
  const m = createMiddleware({
    storageDir: dir,
    sessionId,
    clock,
    sampler: new StaticSampler({ cpuPercent: 1, memoryPercent: 1 }),
    service: () => ({ status: 'running' }),
    config: { telemetry: { maxRecentEvents, maxFileSizeMB: 0.01, maxTotalSizeMB: 100 } },
  });
  return { m, clock };
}

describe('Recent Events restored from disk', () => {
  it('a new session gets the newest events of the last one, oldest first, before its own; stats untouched', async () => {
    const dir = tempDir();
    const old = make(dir, '0001-old', 0);
    for (let i = 0; i < 40; i++) {
      old.clock.advance(10);
      await old.m.execute({ commandType: 'ECHO', parameters: { i } }, executor);
    }
    await old.m.close();
    assert.ok(readdirSync(dir).filter((n) => n.startsWith('events-0001-old-')).length > 1, 'the old session rotated its files');
    const expected = old.m.telemetry.recentEvents();

    const next = make(dir, '0002-new', 1_000);
    await next.m.execute({ commandType: 'ECHO', parameters: { mine: true } }, executor);
    const own = next.m.telemetry.recentEvents();
    const totalBefore = next.m.telemetry.query('SUMMARY').overall.totalCommands;
    const n = await restoreRecentEvents(next.m.telemetry, dir, 6, next.m.sessionId);
    assert.equal(n, 6);
    const recent = next.m.telemetry.recentEvents();
    // Six fit: the old session's newest four, then this session's START and COMPLETE.
    assert.deepEqual(
      recent.map((e) => e.commandId),
      [...expected.slice(-4), ...own].map((e) => e.commandId),
    );
    assert.equal(next.m.telemetry.query('SUMMARY').overall.totalCommands, totalBefore, 'the stats are not counted again');
    await next.m.close();
  });

  it('the newest events across rotated files, oldest first; another session left out; a missing folder gives nothing', async () => {
    const dir = tempDir();
    const old = make(dir, '0001-old', 0, 1000);
    for (let i = 0; i < 200; i++) {
      old.clock.advance(10);
      await old.m.execute({ commandType: 'ECHO', parameters: { i, pad: 'x'.repeat(200) } }, executor);
    }
    await old.m.close();
    const newest = old.m.telemetry.recentEvents().slice(-3);
    const events = await readRecentEvents(dir, 3);
    assert.deepEqual(
      events.map((e) => [e.commandId, e.eventType]),
      newest.map((e) => [e.commandId, e.eventType]),
    );
    assert.deepEqual(await readRecentEvents(dir, 3, '0001-old'), []);
    assert.deepEqual(await readRecentEvents(`${dir}/missing`, 3), []);
  });
});
