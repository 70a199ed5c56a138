// Recent Events after a window reload: a new middleware (a new extension host, a new session) on the same
// folder gets the newest events the old one wrote, before its own, without touching its stats.
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../../src/core/clock';
import { functionExecutor } from '../../../../src/core/execution/executors';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import { eventSource } from '../../../../src/core/telemetry/sources';
import { readRecentEvents, restoreRecentEvents, snapshotFileName } from '../../../../src/core/telemetry/storage';
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

  it('from files and a snapshot written before sources were kept and after: each event and figure under its source', async () => {
    const dir = tempDir();
    // An older version's window: START named its source, the ends named none; its snapshot had no sources.
    const ctx = { user: { sessionId: '0001-old' }, system: {}, service: {} };
    const line = (eventType: string, commandId: string, commandType: string, metadata?: object) =>
      JSON.stringify({
        timestamp: new Date(EPOCH + 1).toISOString(),
        eventType,
        commandId,
        commandType,
        priority: 'NORMAL',
        ...ctx,
        ...(metadata ? { metadata } : {}),
      });
    writeFileSync(
      join(dir, 'events-0001-old-000001.jsonl'),
      [
        line('START', 'o-1', 'ECHO', { source: 'command-palette' }),
        line('COMPLETE', 'o-1', 'ECHO'),
        line('START', 'o-2', 'TERMINAL:false', { source: 'terminal' }),
        line('ERROR', 'o-2', 'TERMINAL:false', { code: 'exit_code', message: 'exited with code 1', exitCode: 1 }),
        line('START', 'o-3', 'CONTROL:FLUSH_CACHE', { source: 'api:publisher.name' }),
        line('COMPLETE', 'o-3', 'CONTROL:FLUSH_CACHE'),
      ].join('\n') + '\n',
    );
    const counters = {
      count: 2,
      successCount: 1,
      errorCount: 1,
      cancelledCount: 0,
      blockedCount: 0,
      throttledCount: 0,
      totalDurationMs: 3,
      timedCount: 2,
      lastExecuted: EPOCH,
    };
    writeFileSync(
      join(dir, snapshotFileName('0001-old')),
      JSON.stringify({
        version: 1,
        savedAt: new Date(EPOCH).toISOString(),
        overall: counters,
        control: { ...counters, count: 1, errorCount: 0 },
        byType: { ECHO: counters },
      }),
    );
    // This version's window on the same folder: its stats restore from the older snapshot, its recent events from both.
    const next = make(dir, '0002-new', 1_000, 20);
    await next.m.execute({ commandType: 'ECHO', source: 'api:publisher.name' }, executor);
    await restoreRecentEvents(next.m.telemetry, dir, 20, next.m.sessionId);
    assert.deepEqual(
      next.m.telemetry.recentEvents().map((e) => [e.commandId.startsWith('o-') ? e.commandId : 'new', e.eventType, eventSource(e).kind]),
      [
        ['o-1', 'START', 'palette'],
        ['o-1', 'COMPLETE', 'other'],
        ['o-2', 'START', 'terminal'],
        ['o-2', 'ERROR', 'other'],
        ['o-3', 'START', 'control'],
        ['o-3', 'COMPLETE', 'control'],
        ['new', 'START', 'api'],
        ['new', 'COMPLETE', 'api'],
      ],
    );
    const report = next.m.telemetry.query('DETAILED');
    assert.equal(report.overall.totalCommands, 3, 'the older headline, then this one');
    assert.equal(report.bySource.other?.count, 2, 'older figures under other');
    assert.equal(report.bySource.api?.count, 1);
    assert.equal(report.overall.controlOperations.count, 1);
    const api = next.m.telemetry.query('DETAILED', new Set(['api']));
    assert.deepEqual(
      api.recentEvents.map((e) => e.eventType),
      ['START', 'COMPLETE'],
    );
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
