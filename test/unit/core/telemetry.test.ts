import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock';
import { EMPTY_SAMPLE } from '../../../src/core/sampler';
import { STATS_NOTIFY_MS, Telemetry, type LineSink, type SummaryReport } from '../../../src/core/telemetry';
import type { SystemContext, TelemetryEvent } from '../../../src/core/types';
import { IDLE_ADMISSION } from '../../support/admission';

const system: SystemContext = { platform: 'linux', arch: 'x64', nodeVersion: 'v20', cpuCount: 2, cpuPercent: 1, memoryPercent: 2, pythonProcesses: 0 };

function make(clock = new ManualClock(), maxRecentEvents = 3, sink?: LineSink): Telemetry {
  let service: Record<string, string | number> = { status: 'ok', pid: 1 };
  const t = new Telemetry({
    clock,
    maxRecentEvents,
    user: { sessionId: 's', note: 'é "quoted"' },
    system: () => system,
    service: () => service,
    realtime: () => ({
      system: EMPTY_SAMPLE,
      admission: { ...IDLE_ADMISSION, active: 1, queued: { HIGH: 0, NORMAL: 2, LOW: 0 } },
      service,
    }),
    storage: () => ({ enabled: false, writtenEvents: 0, droppedEvents: 0, restored: false }),
    sink,
  });
  (t as unknown as { setService: (s: typeof service) => void }).setService = (s) => (service = s);
  return t;
}

class MemorySink implements LineSink {
  lines: string[] = [];
  append(line: string): void {
    this.lines.push(line);
  }
  appendPieces(head: string, middle: Uint8Array | undefined, tail: string | undefined): void {
    this.lines.push(head + (middle ? new TextDecoder().decode(middle) : '') + (tail ?? ''));
  }
}

describe('Telemetry', () => {
  it('persisted lines are exactly JSON.stringify(event), contexts included, even after they change', () => {
    const sink = new MemorySink();
    const t = make(new ManualClock(), 3, sink);
    const a = t.emit('START', 'id-1', 'ANALYZE', 'HIGH', undefined, undefined);
    (t as unknown as { setService: (s: object) => void }).setService({ status: 'degraded', pid: 2 });
    const b = t.emit('ERROR', 'id-1', 'ANALYZE', 'HIGH', 12.3456789, { code: 'x', message: 'ünïcode "q"' }, true);
    assert.deepEqual(sink.lines, [JSON.stringify(a), JSON.stringify(b)]);
    assert.equal(JSON.parse(sink.lines[1]).service.status, 'degraded');
    assert.equal(b.durationMs, 12.346);
  });

  it('events carry the documented shape and nothing from the environment', () => {
    const t = make();
    const e = t.emit('COMPLETE', 'id', 'T', 'LOW', 1, undefined, true);
    assert.deepEqual(Object.keys(e).sort(), [
      'commandId',
      'commandType',
      'durationMs',
      'eventType',
      'metadata',
      'priority',
      'service',
      'system',
      'timestamp',
      'user',
    ]);
    assert.equal(e.timestamp, '2026-01-01T00:00:00.000Z');
    assert.doesNotMatch(JSON.stringify(e), /PATH|HOME|TOKEN|SECRET/i);
  });

  it('stats follow the events; THROTTLE counts without ending the command', () => {
    const t = make();
    t.emit('THROTTLE', '1', 'A', 'NORMAL', undefined, { delayMs: 100 });
    t.emit('COMPLETE', '1', 'A', 'NORMAL', 5, undefined, true);
    t.emit('ERROR', '2', 'A', 'NORMAL', 0, { code: 'blocked', message: 'no' });
    t.emit('CANCEL', '3', 'B', 'LOW', 2, { code: 'cancelled' });
    const o = t.query('SUMMARY').overall;
    assert.deepEqual(
      [o.totalCommands, o.successfulCommands, o.failedCommands, o.blockedCommands, o.cancelledCommands, o.throttledCommands],
      [3, 1, 1, 1, 1, 1],
    );
  });

  it('keeps a bounded ring of recent events, oldest first, resizable', () => {
    const t = make(new ManualClock(), 3);
    for (let i = 0; i < 5; i++) t.emit('START', `${i}`, 'A', 'NORMAL', undefined, undefined);
    assert.deepEqual(
      t.recentEvents().map((e) => e.commandId),
      ['2', '3', '4'],
    );
    t.setMaxRecentEvents(2);
    assert.deepEqual(
      t.recentEvents().map((e) => e.commandId),
      ['3', '4'],
    );
    t.setMaxRecentEvents(0);
    t.emit('START', 'x', 'A', 'NORMAL', undefined, undefined);
    assert.deepEqual(t.recentEvents(), []);
  });

  it('query levels add detail and are JSON-serialisable', () => {
    const t = make();
    t.emit('COMPLETE', '1', 'A', 'NORMAL', 5, undefined, true);
    const s = t.query('SUMMARY');
    const d = t.query('DETAILED');
    const r = t.query('REALTIME');
    assert.equal('byType' in s, false);
    assert.equal(d.byType.A.count, 1);
    assert.equal(d.recentEvents.length, 1);
    assert.equal(r.admission.queued.NORMAL, 2);
    assert.equal(r.service.status, 'ok');
    assert.deepEqual(JSON.parse(JSON.stringify(r)).overall, r.overall);
  });

  it('event listeners hear every event; stats listeners are coalesced; a throwing listener harms no one', () => {
    const clock = new ManualClock();
    const t = make(clock);
    const seen: TelemetryEvent[] = [];
    const summaries: SummaryReport[] = [];
    t.onEvent(() => {
      throw new Error('broken listener');
    });
    const sub = t.onEvent((e) => seen.push(e));
    t.onStatsChanged((s) => summaries.push(s));
    for (let i = 0; i < 10; i++) t.emit('COMPLETE', `${i}`, 'A', 'NORMAL', 1, undefined, true);
    assert.equal(seen.length, 10);
    assert.equal(summaries.length, 0);
    clock.advance(STATS_NOTIFY_MS);
    assert.equal(summaries.length, 1);
    assert.equal(summaries[0].overall.totalCommands, 10);
    sub.dispose();
    t.emit('COMPLETE', 'x', 'A', 'NORMAL', 1, undefined, true);
    assert.equal(seen.length, 10);
    t.clear();
    assert.equal(t.query('SUMMARY').overall.totalCommands, 0);
    assert.deepEqual(t.recentEvents(), []);
    t.dispose();
    assert.equal(clock.pendingTimers, 0);
  });
});
