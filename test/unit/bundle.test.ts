// What the extension's entry and its composition chunk hold (esbuild's metafiles of the build that `npm test` just
// made): the first paint loads only the entry (the status-bar item), the composition follows it, and the heavy
// packages stay in chunks of their own, required when first used.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';

const root = resolve(__dirname, '..', '..', '..');
const meta = JSON.parse(readFileSync(join(root, 'out', 'extension.meta.json'), 'utf8')) as {
  outputs: Record<string, { inputs: Record<string, unknown>; imports: { path: string; external?: boolean }[] }>;
};
const main = meta.outputs['dist/extension.js'];
const composition = meta.outputs['dist/chunks/composition.js'];

/** The npm packages a list of bundled input paths comes from. */
function packagesOf(inputs: string[]): string[] {
  const names = inputs
    .filter((i) => i.includes('node_modules/'))
    .map((i) => {
      const parts = i.slice(i.lastIndexOf('node_modules/') + 'node_modules/'.length).split('/');
      return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
    });
  return [...new Set(names)].sort();
}

const HEAVY = [/^@opentelemetry\//, /^ioredis$/, /^vscode-languageclient$/, /^vscode-jsonrpc$/, /^systeminformation$/, /^execa$/];
const LAZY_CHUNKS = ['clientLib', 'systeminformation', 'execa', 'ioredis', 'jsonrpc'];

describe('the entry (dist/extension.js)', () => {
  it('was built', () => assert.ok(main, 'dist/extension.js is not among the build outputs'));

  it('holds only the status-bar item of the first paint and requires the composition chunk', () => {
    assert.deepEqual(Object.keys(main.inputs).sort(), ['src/extension.ts', 'src/shared/ids.ts', 'src/views/statusBarItem.ts']);
    const external = main.imports
      .filter((i) => i.external)
      .map((i) => i.path)
      .sort();
    assert.deepEqual(external, ['./chunks/composition.js', 'vscode']);
    assert.ok(existsSync(join(root, 'dist', 'chunks', 'composition.js')), 'dist/chunks/composition.js was not built');
  });
});

describe('the composition chunk (dist/chunks/composition.js)', () => {
  it('was built', () => assert.ok(composition, 'dist/chunks/composition.js is not among the build outputs'));

  it('holds no heavy package: OpenTelemetry, ioredis, the language client, vscode-jsonrpc, systeminformation, execa', () => {
    const inlined = packagesOf(Object.keys(composition.inputs)).filter((p) => HEAVY.some((h) => h.test(p)));
    assert.deepEqual(inlined, []);
  });

  it('requires each lazy chunk by its file beside it, and every chunk file exists', () => {
    const external = new Set(composition.imports.filter((i) => i.external).map((i) => i.path));
    for (const name of LAZY_CHUNKS) {
      assert.ok(external.has(`./${name}.js`), `the composition chunk does not require ./${name}.js`);
      assert.ok(existsSync(join(root, 'dist', 'chunks', `${name}.js`)), `dist/chunks/${name}.js was not built`);
    }
    // The OpenTelemetry chunk is required by a computed path (bundledOtel): it must exist beside the others.
    assert.ok(existsSync(join(root, 'dist', 'chunks', 'export.js')), 'dist/chunks/export.js was not built');
  });
});
