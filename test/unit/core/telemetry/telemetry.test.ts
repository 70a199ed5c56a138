import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../../src/core/clock';
import { EMPTY_SAMPLE } from '../../../../src/core/system/sampler';
import { round3 } from '../../../../src/core/numbers';
import {
  constantMetadata,
  jsonMs,
  jsonString,
  STATS_NOTIFY_MS,
  Telemetry,
  WaitMetadata,
  type LineSink,
  type SummaryReport,
} from '../../../../src/core/telemetry/telemetry';
import type { SystemContext, TelemetryEvent } from '../../../../src/core/types';
import { IDLE_ADMISSION } from '../../../support/admission';

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

  it('lines equal JSON.stringify(event) for any id, type, duration and metadata, cached fragments included', () => {
    const sink = new MemorySink();
    const t = make(new ManualClock(), 0, sink);
    const constant = constantMetadata({ source: 'api' });
    const ids = ['a1b2c3d4-1', 'id "quoted"', 'back\\slash', 'tab\tnew\nline', 'ünï', '\u007f', 'x'.repeat(65), '', '\ud800 lone'];
    const types = ['ECHO', 'TERMINAL:git', 'ÄRGER', 'a"b', 'T'.repeat(70)];
    const durations = [
      0,
      -0,
      0.001,
      0.01,
      0.1,
      0.5,
      1,
      1.2,
      1.23,
      1.234,
      12.34,
      99.999,
      100,
      1234.5,
      999_999_999.999,
      1e9,
      3e12,
      -1,
      0.0004,
      0.0005,
      undefined,
    ];
    const waited = [
      new WaitMetadata(0.0104, undefined),
      new WaitMetadata(12.3456, 'batch'),
      new WaitMetadata(3, 'ä "q"'),
      new WaitMetadata(4, 'api', 'publisher.name'),
      new WaitMetadata(5, 'endpoint', 'a "quoted" \\ caller'),
      // The line's end after waitMs is kept for the last source: the same again, then only the caller changing.
      new WaitMetadata(5.5, 'endpoint', 'a "quoted" \\ caller'),
      new WaitMetadata(6, 'api', 'publisher.name'),
      new WaitMetadata(7, 'api'),
    ];
    const metadata = [undefined, constant, { waitMs: 1.5 }, { code: 'x', message: 'ünïcode "q"' }, constant, ...waited];
    const events: TelemetryEvent[] = [];
    let i = 0;
    for (const id of ids)
      for (const type of types)
        for (const d of durations) {
          const m = metadata[i++ % metadata.length];
          events.push(t.emit(i % 2 ? 'START' : 'COMPLETE', id, type, 'LOW', d, m, true));
        }
    assert.equal(sink.lines.length, events.length);
    events.forEach((e, k) => assert.equal(sink.lines[k], JSON.stringify(e), `line ${k}`));
    // Fragments are cached per type: past the cap the cache starts over and lines stay right.
    for (let n = 0; n < 1100; n++) t.emit('COMPLETE', `id-${n}`, `T_${n}`, 'HIGH', n / 7, undefined);
    const e = t.emit('COMPLETE', 'last', 'T_3', 'HIGH', 2.5, constant);
    assert.equal(sink.lines.at(-1), JSON.stringify(e));
  });

  it('WaitMetadata is, to every reader, the plain object { waitMs, source, caller }', () => {
    for (const [m, plain] of [
      [new WaitMetadata(1.23456, undefined), { waitMs: 1.235 }],
      [new WaitMetadata(0.5, 'api'), { waitMs: 0.5, source: 'api' }],
      [new WaitMetadata(0.5, 'api', 'publisher.name'), { waitMs: 0.5, source: 'api', caller: 'publisher.name' }],
    ] as const) {
      assert.deepEqual(Object.keys(m), Object.keys(plain));
      assert.equal(JSON.stringify(m), JSON.stringify(plain));
      assert.deepEqual({ ...m }, plain);
      assert.deepEqual(structuredClone(m), plain);
    }
  });

  it('jsonString and jsonMs write exactly what JSON.stringify writes', () => {
    for (const s of [
      '',
      'plain-id_1.2:3/4',
      'a"b',
      'a\\b',
      '\u0000',
      '\u001f',
      ' ',
      '~',
      '\u007f',
      'é',
      '\ud83d\ude00',
      '\udc00',
      'y'.repeat(64),
      'y'.repeat(65),
    ])
      assert.equal(jsonString(s), JSON.stringify(s), JSON.stringify(s));
    const rng = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const r = rng(7);
    for (let n = 0; n < 20_000; n++) {
      const scale = 10 ** Math.floor(r() * 10);
      const x = round3(r() * scale);
      assert.equal(jsonMs(x), JSON.stringify(x), String(x));
    }
    for (const x of [0, -0, 0.001, 0.009, 0.01, 0.09, 0.1, 0.101, 0.11, 9.99, 10.01, 1e9 - 0.001, 1e9, 1e12, 1e21, -5, NaN, Infinity])
      assert.equal(jsonMs(x), JSON.stringify(x), String(x));
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

  it("stats and reports follow each event's source; a filter narrows figures, types and recent events", () => {
    const t = make(new ManualClock(), 10);
    t.emit('START', '1', 'ECHO', 'NORMAL', undefined, { source: 'palette' });
    t.emit('COMPLETE', '1', 'ECHO', 'NORMAL', 5, { source: 'palette' }, true);
    t.emit('START', '2', 'TERMINAL:false', 'NORMAL', undefined, { source: 'terminal' });
    t.emit('ERROR', '2', 'TERMINAL:false', 'NORMAL', 2, { code: 'exit_code', message: 'exited with code 1', exitCode: 1, source: 'terminal' }, true);
    t.emit('ERROR', '3', 'NOPE', 'NORMAL', 1, { code: 'unknown_command_type', message: 'no such type', source: 'api', caller: 'x.y' }, true);
    t.emit('ERROR', '4', 'CONTROL:FLUSH_CACHE', 'HIGH', 1, { code: 'handler_failed', message: 'no', source: 'control', caller: 'palette' }, true);
    // An end from an older file, without its source: counted under `other`.
    t.emit('COMPLETE', '5', 'ECHO', 'NORMAL', 1, undefined, true);
    const all = t.query('SUMMARY');
    assert.equal(all.filter, undefined);
    assert.equal(all.overall.totalCommands, 3, 'palette, api and the older one; not the terminal, not the control operation');
    assert.equal(all.overall.refusedCommands, 1);
    assert.deepEqual(Object.keys(all.bySource), ['palette', 'api', 'terminal', 'other', 'control']);
    const only = t.query('DETAILED', new Set(['terminal', 'control']));
    assert.deepEqual(only.filter, { sources: ['terminal', 'control'] });
    assert.equal(only.overall.totalCommands, 1);
    assert.equal(only.overall.controlOperations.errorCount, 1);
    assert.deepEqual(Object.keys(only.byType), ['TERMINAL:false', 'CONTROL:FLUSH_CACHE']);
    assert.deepEqual(
      only.recentEvents.map((e) => e.commandId),
      ['2', '2', '4'],
    );
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
