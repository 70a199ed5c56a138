import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { CommandRouter } from '../../../../src/core/execution/router';
import { StaticSampler } from '../../../../src/core/system/sampler';
import { argumentBuilder, mergeShellCommands, parseShellCommands, readWorkspaceCommands } from '../../../../src/core/execution/shellCommands';
import { CommandFailure, type Executor } from '../../../../src/core/types';
import { record } from '../../../reliability/table';

const noService: Executor = () => Promise.reject(new CommandFailure('unknown_command_type', 'no service here'));

describe('shell command definitions', () => {
  it('compiles placeholders so that one placeholder gives exactly one argument', () => {
    const { build, placeholders } = argumentBuilder('GREP', ['-n', '${pattern}', '--file=${path}', '$${literal}', '${pattern}']);
    assert.deepEqual(placeholders, ['pattern', 'path']);
    assert.equal(typeof build, 'function');
    const args = (build as (p: Record<string, unknown>) => string[])({ pattern: 'a b; rm -rf / $(x)', path: 'my file.txt' });
    assert.deepEqual(args, ['-n', 'a b; rm -rf / $(x)', '--file=my file.txt', '${literal}', 'a b; rm -rf / $(x)']);
  });

  it('reuses fixed arguments as they are', () => {
    const { build, placeholders } = argumentBuilder('LS', ['-la', 'x']);
    assert.deepEqual(placeholders, []);
    assert.deepEqual(build, ['-la', 'x']);
  });

  it('a missing placeholder is invalid_request naming it', () => {
    const { build } = argumentBuilder('COPY', ['${from}', '${to}']);
    const fn = build as (p: Record<string, unknown>) => string[];
    assert.throws(
      () => fn({ from: 'a' }),
      (e: unknown) =>
        e instanceof CommandFailure && e.code === 'invalid_request' && /'to'/.test(e.message) && /argument 2/.test(e.message) && /'from'/.test(e.message),
    );
    assert.throws(
      () => fn({ from: 'a', to: { x: 1 } }),
      (e: unknown) => e instanceof CommandFailure && /must be a string, number or boolean/.test(e.message),
    );
    assert.deepEqual(fn({ from: 1, to: true }), ['1', 'true']);
  });

  it('reports every bad definition by source, type and field, and keeps the good ones', () => {
    const { commands, errors } = parseShellCommands(
      {
        $schema: './x.json',
        GOOD: { file: 'node', args: ['-v'], description: 'Node version', priority: 'HIGH', cwd: 'sub', env: { TOKEN: 'secret-value' }, timeoutMs: 1000 },
        'bad name!': { file: 'x' },
        'CONTROL:X': { file: 'x' },
        NOFILE: { args: [] },
        ARGS: { file: 'x', args: 'not a list' },
        EXTRA: { file: 'x', shell: true },
        PRIO: { file: 'x', priority: 'URGENT' },
        ENV: { file: 'x', env: { A: 1, SECRET: 'hunter2' } },
        TIME: { file: 'x', timeoutMs: -1 },
        PH: { file: 'x', args: ['${not valid}'] },
      },
      '.aios/commands.json',
      'workspace',
      '/ws',
    );
    assert.deepEqual(
      commands.map((c) => c.commandType),
      ['GOOD'],
    );
    const good = commands[0];
    assert.equal(good.spec.cwd, join('/ws', 'sub'));
    assert.equal(good.priority, 'HIGH');
    assert.equal(good.spec.timeoutMs, 1000);
    const text = errors.join('\n');
    for (const t of ['bad name!', 'CONTROL:X', 'NOFILE', 'ARGS', 'EXTRA', 'PRIO', 'ENV', 'TIME', 'PH'])
      assert.match(text, new RegExp(`'${t.replace(/[!:]/g, '.')}'`));
    assert.match(text, /unknown field 'shell'/);
    assert.match(text, /not: A/);
    assert.doesNotMatch(text, /hunter2|secret-value/, 'env values are never in messages');
    assert.ok(errors.every((e) => e.startsWith('.aios/commands.json: ')));
  });

  it('refuses a relative cwd without a folder, and a non-object file', () => {
    assert.match(parseShellCommands({ A: { file: 'x', cwd: 'rel' } }, 'aios.shellCommands', 'user', undefined).errors[0], /relative/);
    assert.match(parseShellCommands([], 'aios.shellCommands', 'user', undefined).errors[0], /must be an object/);
  });

  it('the workspace definition wins over the user one, with a note', () => {
    const ws = parseShellCommands({ A: { file: 'a' } }, 'w', 'workspace', '/ws').commands;
    const user = parseShellCommands({ A: { file: 'b' }, B: { file: 'c' } }, 'u', 'user', undefined).commands;
    const { commands, errors } = mergeShellCommands(ws, user);
    assert.equal(commands.get('A')?.spec.file, 'a');
    assert.equal(commands.get('B')?.spec.file, 'c');
    assert.match(errors[0], /'A' is also defined/);
  });

  it('an untrusted workspace never has its commands.json read', async () => {
    const reads: string[] = [];
    const io = {
      read: (p: string) => {
        reads.push(p);
        return Promise.resolve(JSON.stringify({ EVIL: { file: 'rm', args: ['-rf', '/'] } }));
      },
      exists: () => Promise.resolve(true),
    };
    const untrusted = await readWorkspaceCommands('/ws', false, io);
    assert.deepEqual(untrusted.commands, []);
    assert.equal(untrusted.skippedUntrusted, true);
    assert.deepEqual(reads, [], 'not even read');
    const trusted = await readWorkspaceCommands('/ws', true, io);
    assert.deepEqual(
      trusted.commands.map((c) => c.commandType),
      ['EVIL'],
    );
    assert.deepEqual(reads, [join('/ws', '.aios', 'commands.json')]);
    const broken = await readWorkspaceCommands('/ws', true, { ...io, read: () => Promise.resolve('{ nope') });
    assert.match(broken.errors[0], /^\.aios\/commands\.json is not valid JSON/);
    assert.deepEqual((await readWorkspaceCommands('/ws', true, { ...io, read: () => Promise.resolve(undefined) })).commands, []);
  });

  it('a malformed .aios/commands.json: one message naming the file and what is wrong, nothing loaded from it', async () => {
    const read = (text: string) => readWorkspaceCommands('/ws', true, { read: () => Promise.resolve(text), exists: () => Promise.resolve(true) });
    const cases: [string, RegExp][] = [
      ['', /^\.aios\/commands\.json is empty: write an object of command types, like \{"BUILD": /],
      [' \n\t', /^\.aios\/commands\.json is empty/],
      [
        '{\n  "A": {"file": "x"}\n  "B": {"file": "y"}\n}',
        /^\.aios\/commands\.json is not valid JSON: line 3, column 3: .+; none of its command types is loaded$/,
      ],
      ['{ "A": { "file": "x", } }', /^\.aios\/commands\.json is not valid JSON: line 1, column 23: Expected double-quoted property name; none/],
      ['// my commands\n{}', /^\.aios\/commands\.json is not valid JSON: (Unexpected token '\/'|line 1, column 1: .+); none of its command types is loaded$/],
      ['{"A": {"file": "x"}', /^\.aios\/commands\.json is not valid JSON: (it ends too early|line 1, column 20: .+); none/],
      ['null', /^\.aios\/commands\.json must be an object of command types, like .* \(got null\)$/],
      ['[{"file": "npm"}]', /must be an object of command types.* \(got an array\)$/],
      ['"BUILD"', /must be an object of command types.* \(got string\)$/],
    ];
    for (const [text, re] of cases) {
      const r = await read(text);
      assert.deepEqual(r.commands, [], JSON.stringify(text));
      assert.equal(r.errors.length, 1, `${JSON.stringify(text)}: ${r.errors.join(' | ')}`);
      assert.match(r.errors[0], re);
    }
    const bom = await read('\uFEFF{"A": {"file": "x"}}');
    assert.deepEqual([bom.commands.map((c) => c.commandType), bom.errors], [['A'], []], 'a byte-order mark is not an error');
    record({
      property: 'malformed .aios/commands.json (the whole file)',
      tried: `${cases.length} files: empty, a syntax error (3 kinds), a comment, cut short, null, an array, a string; and one with a BOM`,
      held: `${cases.length} of ${cases.length}: one message naming the file and what is wrong (the line and column of a syntax error); the BOM file loaded`,
    });
  });

  it('a malformed entry: one message naming the file, the entry and the field; the other entries load', async () => {
    const entries: [string, unknown, RegExp][] = [
      ['NULL', null, /must be an object like \{"file": "npm", "args": \["test"\]\} \(got null\)$/],
      ['LINE', 'npm test', /must be an object like .* \(got string\)$/],
      ['LIST', ['npm', 'test'], /\(got an array\)$/],
      ['EMPTY', {}, /'file' must name a program/],
      ['NUMBER', { file: 42 }, /'file' must name a program/],
      ['ARGS', { file: 'x', args: [1, 'b'] }, /'args' must be a list of strings$/],
      ['CWD', { file: 'x', cwd: 3 }, /'cwd' must be a folder path$/],
      ['ENV', { file: 'x', env: ['A=1'] }, /'env' must be an object of names to string values$/],
      ['FRACTION', { file: 'x', timeoutMs: 1.5 }, /'timeoutMs' must be a whole number of milliseconds/],
      ['LOWER', { file: 'x', priority: 'high' }, /'priority' must be HIGH, NORMAL or LOW$/],
      ['WORDS', { file: 'x', description: 7 }, /'description' must be a string$/],
      ['__proto__', { file: 'x' }, /not a valid command type/],
    ];
    for (const [name, def, re] of entries) {
      const text = `{"GOOD": {"file": "node"}, ${JSON.stringify(name)}: ${JSON.stringify(def)}}`;
      const r = await readWorkspaceCommands('/ws', true, { read: () => Promise.resolve(text), exists: () => Promise.resolve(true) });
      assert.deepEqual(
        r.commands.map((c) => c.commandType),
        ['GOOD'],
        name,
      );
      assert.equal(r.errors.length, 1, `${name}: ${r.errors.join(' | ')}`);
      assert.ok(r.errors[0].startsWith(`.aios/commands.json: '${name}': `), r.errors[0]);
      assert.match(r.errors[0], re);
    }
    assert.equal(({} as { file?: unknown }).file, undefined, 'a __proto__ entry changes no prototype');
    record({
      property: 'malformed entries in .aios/commands.json',
      tried: `${entries.length} bad entries (wrong shapes, each field wrong, __proto__), each beside a good one`,
      held: `${entries.length} of ${entries.length}: one message naming the file, the entry and the field; the good entry loaded every time`,
    });
  });

  it('runs through the pipeline: placeholders, policy and the recorded error', async () => {
    const m = createMiddleware({ sampler: new StaticSampler(), config: { security: { denyPatterns: ['*DELETE*'], allowPatterns: [] } } });
    const router = new CommandRouter(noService);
    const { commands } = parseShellCommands(
      {
        SAY: { file: process.execPath, args: ['-e', 'process.stdout.write(process.argv[1])', '${text}'] },
        DELETE_ALL: { file: process.execPath, args: ['-e', '0'] },
      },
      'test',
      'user',
      undefined,
    );
    router.setShellCommands(new Map(commands.map((c) => [c.commandType, c])));
    const ok = await m.execute({ commandType: 'SAY', parameters: { text: '"quoted" $HOME `x`' } }, router.executor);
    assert.equal(ok.success, true, ok.error?.message);
    assert.equal((ok.result as { stdout: string }).stdout, '"quoted" $HOME `x`');
    const missing = await m.execute({ commandType: 'SAY' }, router.executor);
    assert.equal(missing.error?.code, 'invalid_request');
    assert.match(missing.error.message, /'text'/);
    const blocked = await m.execute({ commandType: 'DELETE_ALL' }, router.executor);
    assert.equal(blocked.error?.code, 'blocked');
    const other = await m.execute({ commandType: 'ECHO' }, router.executor);
    assert.equal(other.error?.code, 'unknown_command_type', 'other types go to the service executor');
    const events = m.telemetry.recentEvents().filter((e) => e.commandType === 'SAY');
    assert.deepEqual(
      events.map((e) => e.eventType),
      ['START', 'COMPLETE', 'START', 'ERROR'],
    );
    assert.ok(events[1].durationMs! > 0);
    await m.close();
  });
});
