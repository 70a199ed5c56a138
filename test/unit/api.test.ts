// The public contract as other extensions get it: dist/api.d.ts built from src/api.ts with tsconfig.api.json
// stands alone (imports nothing), and a consumer written against it compiles, while one that misuses it
// does not.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';

const root = resolve(__dirname, '..', '..', '..');
// Loaded at run time from the devDependencies (not bundled into the test).
const ts = createRequire(__filename)('typescript') as typeof import('typescript');

function compile(files: string[], options: import('typescript').CompilerOptions): string[] {
  const program = ts.createProgram(files, options);
  const emitted = program.emit();
  return [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics].map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('the public API declaration file', () => {
  const out = mkdtempSync(join(tmpdir(), 'aios-api-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  it('builds from src/api.ts alone, imports nothing, and carries apiVersion', () => {
    const config = ts.readConfigFile(join(root, 'tsconfig.api.json'), ts.sys.readFile.bind(ts.sys));
    assert.equal(config.error, undefined);
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
    assert.deepEqual(
      parsed.fileNames.map((f) => f.slice(root.length + 1)),
      ['src/api.ts'],
    );
    const errors = compile(parsed.fileNames, { ...parsed.options, outDir: out });
    assert.deepEqual(errors, []);
    const dts = readFileSync(join(out, 'api.d.ts'), 'utf8');
    assert.doesNotMatch(dts, /^\s*import\b|require\(/m, 'the declaration file stands alone');
    assert.match(dts, /readonly apiVersion: AiosApiVersion;/);
    assert.match(dts, /export type AiosApiVersion = '1\.0\.0';/);
    for (const member of [
      'execute(',
      'executeBatch(',
      'run<T>(',
      'control(',
      'telemetry(',
      'ready:',
      'health()',
      'load()',
      'onDidRecordEvent',
      'onDidChangeHealth',
      'onDidChangeLoad',
    ]) {
      assert.ok(dts.includes(member), `the contract has ${member}`);
    }
  });

  it('a consumer compiles against it; misuse does not', () => {
    const good = join(out, 'good.ts');
    writeFileSync(
      good,
      `import type { AiosApi } from './api';
export async function use(api: AiosApi, signal: AbortSignal): Promise<number> {
  if (!api.apiVersion.startsWith('1.')) return 0;
  const r = await api.execute({ commandType: 'ECHO', priority: 'HIGH', parameters: { a: 1 } }, { signal, onProgress: (p) => p.queuePosition });
  const mine = await api.run('MINE', (ctx) => (ctx.cancelled ? 0 : 41 + 1), { priority: 'LOW', signal });
  await api.ready;
  const h = api.health().status === 'healthy' ? 1 : 0;
  const q = api.load().queued.LOW;
  const b = await api.executeBatch([{ commandType: 'ECHO' }], { onProgress: (p) => p.waiting });
  const c = await api.control('FLUSH_CACHE', undefined, { cache_type: 'all' });
  const s = api.telemetry('SUMMARY').overall.successRate;
  const d = api.onDidRecordEvent((events) => events.length);
  d.dispose();
  return (mine.result ?? 0) + b.total + s + (r.success ? 1 : 0) + h + q + (c.result?.ok ? 1 : 0);
}
`,
    );
    const options = { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'], types: [], skipLibCheck: true };
    assert.deepEqual(compile([good], options), []);
    const bad = join(out, 'bad.ts');
    writeFileSync(
      bad,
      `import type { AiosApi } from './api';
export async function misuse(api: AiosApi): Promise<void> {
  await api.execute({ commandType: 'ECHO', priority: 'URGENT' });
  const r = await api.run('MINE', () => 'text');
  const n: number | undefined = r.result;
  void n;
  // The unversioned run(request) is gone: execute(request) does it.
  await api.run({ commandType: 'ECHO' });
}
`,
    );
    const errors = compile([bad], options);
    assert.equal(errors.length, 3, errors.join('\n'));
    assert.match(errors.join('\n'), /URGENT/);
  });
});
