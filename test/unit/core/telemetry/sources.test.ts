import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CLI_SOURCE } from '../../../../src/cli/protocol';
import { parseCommandBody, parseControlBody } from '../../../../src/control/requests';
import { parseJsonLines } from '../../../../src/core/execution/batch';
import { TerminalRecorder } from '../../../../src/core/execution/terminalCommands';
import {
  COMMAND_SOURCE_KINDS,
  commandSource,
  countsAsCommand,
  eventSource,
  HEADLINE_SOURCE_KINDS,
  MAX_SOURCE_LENGTH,
  parseSource,
  SOURCE_INDEX,
  SOURCE_KINDS,
  SOURCE_LABELS,
  sourceKindOf,
  sourceString,
} from '../../../../src/core/telemetry/sources';

describe('source kinds', () => {
  it('are one closed list: commands, the headline (not terminal), control operations and rules apart', () => {
    assert.deepEqual([...SOURCE_KINDS], ['palette', 'api', 'task', 'batch', 'cli', 'endpoint', 'terminal', 'other', 'control', 'rule']);
    assert.deepEqual(COMMAND_SOURCE_KINDS, ['palette', 'api', 'task', 'batch', 'cli', 'endpoint', 'terminal', 'other']);
    assert.deepEqual(HEADLINE_SOURCE_KINDS, ['palette', 'api', 'task', 'batch', 'cli', 'endpoint', 'other']);
    for (const [i, k] of SOURCE_KINDS.entries()) {
      assert.equal(SOURCE_INDEX[k], i);
      assert.ok(SOURCE_LABELS[k], `${k} has words for a person`);
    }
    assert.equal(Object.getPrototypeOf(SOURCE_INDEX), null, 'no prototype: any string looks up safely');
    assert.equal(countsAsCommand('ECHO'), true);
    assert.equal(countsAsCommand('TERMINAL:false'), true);
    assert.equal(countsAsCommand('CONTROL:RELOAD_CONFIG'), false);
    assert.equal(countsAsCommand('RULE:cpu-high'), false);
  });

  it('map every place that submits a command onto one kind, with its caller as detail', () => {
    // What each entry point writes in a request's `source` (the extension's own constants where they are plain Node).
    const cases: [string | undefined, string, string | undefined][] = [
      ['palette', 'palette', undefined], // Run Command from the palette
      ['palette:telemetry-tree', 'palette', 'telemetry-tree'], // the tree's Run Again
      ['palette:parameters-editor', 'palette', 'parameters-editor'], // a save of the parameters editor
      ['api', 'api', undefined], // the typed API
      ['api:publisher.name', 'api', 'publisher.name'], // withCaller('publisher.name')
      ['task', 'task', undefined],
      [CLI_SOURCE, 'cli', undefined], // `aios run`
      ['terminal', 'terminal', undefined], // shell integration's recording
      ['endpoint', 'endpoint', undefined],
      ['endpoint:curl', 'endpoint', 'curl'],
      ['endpoint:dashboard', 'endpoint', 'dashboard'],
      ['batch', 'batch', undefined],
      ['batch:api:evil', 'batch', 'api:evil'], // a line's own words never claim another kind
      [undefined, 'other', undefined],
      ['', 'other', undefined],
      ['my-script', 'other', 'my-script'],
      ['control', 'other', 'control'], // not from a request's words: control follows from the type
      ['rule:x', 'other', 'rule:x'],
    ];
    for (const [raw, kind, caller] of cases) assert.deepEqual(parseSource(raw), caller === undefined ? { kind } : { kind, caller }, String(raw));
    assert.equal(CLI_SOURCE, 'cli');
  });

  it('read the names older versions wrote', () => {
    assert.deepEqual(parseSource('command-palette'), { kind: 'palette' });
    assert.deepEqual(parseSource('telemetry-tree'), { kind: 'palette', caller: 'telemetry-tree' });
    assert.deepEqual(parseSource('terminal-cli'), { kind: 'cli' });
    assert.deepEqual(parseSource('http'), { kind: 'endpoint' });
    assert.deepEqual(parseSource('dashboard'), { kind: 'endpoint', caller: 'dashboard' });
    assert.deepEqual(parseSource('http:PowerShell'), { kind: 'other', caller: 'http:PowerShell' });
  });

  it('a control operation is `control` whoever asked (the asker its caller); a rule record is `rule`', () => {
    assert.deepEqual(commandSource('CONTROL:RELOAD_CONFIG', 'palette'), { kind: 'control', caller: 'palette' });
    assert.deepEqual(commandSource('CONTROL:RELOAD_CONFIG', 'api:publisher.name'), { kind: 'control', caller: 'api:publisher.name' });
    assert.deepEqual(commandSource('CONTROL:RELOAD_CONFIG', undefined), { kind: 'control' });
    assert.deepEqual(commandSource('RULE:cpu-high', 'anything'), { kind: 'rule' });
    assert.deepEqual(commandSource('ECHO', 'api'), { kind: 'api' });
  });

  it('sourceString cuts a caller to fit and drops control characters', () => {
    assert.equal(sourceString('api'), 'api');
    assert.equal(sourceString('api', 'publisher.name'), 'api:publisher.name');
    assert.equal(sourceString('endpoint', '  '), 'endpoint');
    assert.equal(sourceString('endpoint', 'a\u0000b\nc'), 'endpoint:abc');
    const long = sourceString('batch', 'x'.repeat(500));
    assert.equal(long.length, MAX_SOURCE_LENGTH);
    assert.deepEqual(parseSource(long), { kind: 'batch', caller: 'x'.repeat(MAX_SOURCE_LENGTH - 'batch:'.length) });
    assert.equal(sourceString('api', 42), 'api', 'a caller that is not text is left out');
  });

  it("events name their kind; older events (a START's old name, nothing on ends) are still read", () => {
    assert.deepEqual(eventSource({ commandType: 'ECHO', metadata: { source: 'api', caller: 'publisher.name' } }), { kind: 'api', caller: 'publisher.name' });
    assert.deepEqual(eventSource({ commandType: 'CONTROL:FLUSH_CACHE', metadata: { source: 'control', caller: 'cli' } }), { kind: 'control', caller: 'cli' });
    // Older files.
    assert.deepEqual(eventSource({ commandType: 'ECHO', metadata: { source: 'command-palette' } }), { kind: 'palette' });
    assert.deepEqual(eventSource({ commandType: 'ECHO', metadata: { source: 'api:publisher.name' } }), { kind: 'api', caller: 'publisher.name' });
    assert.deepEqual(eventSource({ commandType: 'CONTROL:FLUSH_CACHE', metadata: { source: 'api' } }), { kind: 'control', caller: 'api' });
    assert.deepEqual(eventSource({ commandType: 'ECHO', metadata: { code: 'handler_failed' } }), { kind: 'other' });
    assert.deepEqual(eventSource({ commandType: 'ECHO' }), { kind: 'other' });
    assert.deepEqual(eventSource({ commandType: 'RULE:cpu-high', metadata: { rule: 'cpu-high' } }), { kind: 'rule' });
    assert.equal(sourceKindOf('TERMINAL:false', { code: 'exit_code', source: 'terminal' }), 'terminal');
    assert.equal(sourceKindOf('CONTROL:FLUSH_CACHE', { source: 'api' }), 'control');
    assert.equal(sourceKindOf('ECHO', { source: 'terminal-cli' }), 'cli');
    assert.equal(sourceKindOf('ECHO', undefined), 'other');
  });

  it('the endpoint, batches and terminal recording write their kind', () => {
    assert.equal(parseCommandBody({ commandType: 'X' }).source, 'endpoint');
    assert.equal(parseCommandBody({ commandType: 'X', source: 'curl' }).source, 'endpoint:curl');
    assert.equal(parseControlBody({ Operation: 'RELOAD_CONFIG', Source: 'PowerShell' }).call.source, 'endpoint:PowerShell');
    const { items } = parseJsonLines('{"commandType":"A"}\n{"commandType":"B","source":"nightly"}', 65536);
    assert.deepEqual(
      items.map((i) => parseSource((i.request as { source?: string }).source)),
      [{ kind: 'batch' }, { kind: 'batch', caller: 'nightly' }],
    );
    const events: { type: string; metadata: Readonly<Record<string, unknown>> | undefined }[] = [];
    const recorder = new TerminalRecorder({
      emit: (type, _id, _ct, _p, _d, metadata) => events.push({ type, metadata }),
      policy: () => ({ denyPatterns: [], allowPatterns: [] }),
      recordCommandLines: () => false,
    });
    recorder.start('false').end(1);
    recorder.start('true').end(0);
    recorder.start('sleep 9').abandon('closed');
    assert.deepEqual(
      events.map((e) => [e.type, e.metadata?.source]),
      [
        ['START', 'terminal'],
        ['ERROR', 'terminal'],
        ['START', 'terminal'],
        ['COMPLETE', 'terminal'],
        ['START', 'terminal'],
        ['ERROR', 'terminal'],
      ],
      'every event of a terminal command, its end included, says where it came from',
    );
  });
});
