import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MAX_HISTORY_ROWS, MAX_PER_TYPE, PANEL_COMMANDS, parseHostMessage, parseSnapshot, parseWebviewMessage } from '../../../src/webview/protocol';
import { snapshot } from './fixtures';

const clone = <T>(v: T): T => structuredClone(v);

test('a complete snapshot message is accepted as is', () => {
  const s = snapshot();
  const r = parseHostMessage({ type: 'snapshot', snapshot: s });
  assert.deepEqual(r, { ok: true, value: { type: 'snapshot', snapshot: s } });
});

test('optional fields may be missing and system may be null', () => {
  const s = snapshot({ system: null, service: { status: 'starting' }, perType: [{ commandType: 'X', count: 0, averageDurationMs: 0, p95: 0, errorCount: 0 }] });
  assert.equal(parseSnapshot(s).ok, true);
  assert.equal(parseSnapshot(snapshot({ system: { cpuPercent: 0, memoryPercent: 0, pythonProcesses: -1 } })).ok, true);
});

test('malformed snapshots are rejected with the path of the first problem', () => {
  const cases: [string, (s: any) => void, RegExp][] = [
    ['NaN counter', (s) => (s.overall.totalCommands = NaN), /snapshot\.overall\.totalCommands: expected a finite number/],
    ['negative count', (s) => (s.admission.queued.LOW = -1), /snapshot\.admission\.queued\.LOW/],
    ['string number', (s) => (s.latency.p95 = '40'), /snapshot\.latency\.p95/],
    ['success rate > 1', (s) => (s.overall.successRate = 1.5), /successRate: .*≤ 1/],
    ['cpu > 100', (s) => (s.system.cpuPercent = 250), /system\.cpuPercent/],
    ['unknown status', (s) => (s.service.status = 'on fire'), /service\.status: expected one of starting/],
    ['paused not boolean', (s) => (s.admission.paused = 'no'), /paused: expected a boolean/],
    ['missing section', (s) => delete s.latency, /snapshot\.latency: expected an object/],
    ['perType not array', (s) => (s.perType = {}), /perType: expected an array/],
    ['bad perType entry', (s) => (s.perType[0].commandType = 7), /perType\[0\]\.commandType/],
    ['huge string', (s) => (s.service.detail = 'x'.repeat(10_000)), /service\.detail/],
    ['Infinity', (s) => (s.at = Infinity), /snapshot\.at/],
  ];
  for (const [name, mutate, error] of cases) {
    const s = clone(snapshot()) as any;
    mutate(s);
    const r = parseSnapshot(s);
    assert.equal(r.ok, false, name);
    if (!r.ok) assert.match(r.error, error, name);
  }
});

test('too many per-type rows are refused rather than rendered', () => {
  const row = { commandType: 'T', count: 1, averageDurationMs: 1, p95: 1, errorCount: 0 };
  assert.equal(parseSnapshot(snapshot({ perType: new Array(MAX_PER_TYPE).fill(row) })).ok, true);
  assert.equal(parseSnapshot(snapshot({ perType: new Array(MAX_PER_TYPE + 1).fill(row) })).ok, false);
});

test('host messages: unknown types, non-objects and bad init are rejected, never thrown', () => {
  for (const bad of [
    null,
    undefined,
    42,
    'snapshot',
    [],
    { type: 'nope' },
    { type: 'snapshot' },
    { type: 'init', commands: ['workbench.action.quit'] },
    { type: 'init' },
  ]) {
    const r = parseHostMessage(bad);
    assert.equal(r.ok, false, JSON.stringify(bad));
  }
  assert.deepEqual(parseHostMessage({ type: 'init', commands: ['aios.showOutput'] }), { ok: true, value: { type: 'init', commands: ['aios.showOutput'] } });
});

test('webview messages: only ready and allow-listed commands pass', () => {
  assert.deepEqual(parseWebviewMessage({ type: 'ready' }), { ok: true, value: { type: 'ready' } });
  for (const command of PANEL_COMMANDS) {
    assert.deepEqual(parseWebviewMessage({ type: 'runCommand', command }), { ok: true, value: { type: 'runCommand', command } });
  }
  for (const bad of [
    { type: 'runCommand', command: 'workbench.action.terminal.sendSequence' },
    { type: 'runCommand' },
    { type: 'runCommand', command: 'aios.showOutput ' },
    { type: 'eval' },
    null,
    'ready',
  ]) {
    const r = parseWebviewMessage(bad);
    assert.equal(r.ok, false, JSON.stringify(bad));
  }
});

test('extra fields are dropped from runCommand so nothing else reaches executeCommand', () => {
  const r = parseWebviewMessage({ type: 'runCommand', command: 'aios.showOutput', args: ['rm -rf /'] });
  assert.deepEqual(r, { ok: true, value: { type: 'runCommand', command: 'aios.showOutput' } });
});

test('init may carry the host chart history: its shape and a bound are checked, rows are checked where used', () => {
  const ok = parseHostMessage({ type: 'init', commands: ['aios.showOutput'], history: { v: 1, rows: [[1, 0, 0]] } });
  assert.equal(ok.ok, true);
  const noHistory = parseHostMessage({ type: 'init', commands: [] });
  assert.equal(noHistory.ok && noHistory.value.type === 'init' && noHistory.value.history, undefined);
  for (const history of [{ v: 2, rows: [] }, { v: 1 }, 'rows', { v: 1, rows: new Array(MAX_HISTORY_ROWS + 1).fill([]) }]) {
    const r = parseHostMessage({ type: 'init', commands: [], history });
    assert.equal(r.ok, false, JSON.stringify(history).slice(0, 40));
  }
});

test('per-source rows and the source filter are checked and bounded; older hosts without them still pass', () => {
  const bySource = [{ source: 'terminal', count: 3, successRate: 0.5, errorCount: 1, refusedCount: 0, cancelledCount: 1, p95: 4 }];
  const ok = parseSnapshot(snapshot({ sources: ['terminal'], bySource }, { refusedCommands: 2 }));
  assert.equal(ok.ok, true);
  assert.equal(parseSnapshot(snapshot()).ok, true, 'without sources, bySource or refusedCommands');
  const bad = parseSnapshot(snapshot({ bySource: [{ ...bySource[0], successRate: 2 }] }));
  assert.deepEqual(bad, { ok: false, error: 'snapshot.bySource[0].successRate: expected a finite number ≥ 0 ≤ 1' });
  assert.equal(parseSnapshot(snapshot({ sources: Array.from({ length: 17 }, () => 'api') })).ok, false);
  assert.equal(parseSnapshot(snapshot({}, { refusedCommands: -1 })).ok, false);
});
