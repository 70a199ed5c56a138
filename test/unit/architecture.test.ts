// The layering that docs/ARCHITECTURE.md describes, read from the imports of every file under src (type-only
// imports included: a type cycle is a layering fault too). Each rule names the files that break it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

const root = resolve(__dirname, '..', '..', '..');
const src = join(root, 'src');
const core = join(src, 'core');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? tsFiles(full) : name.endsWith('.ts') ? [full] : [];
  });
}

/** Every import specifier of a file (static, type-only, re-exports and import()), with what it resolves to. */
function importsOf(file: string): { specifier: string; target?: string }[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map(({ fileName: specifier }) => {
    if (!specifier.startsWith('.')) return { specifier };
    const base = resolve(dirname(file), specifier);
    const target = [`${base}.ts`, join(base, 'index.ts')].find((f) => existsSync(f));
    return { specifier, target };
  });
}

const files = tsFiles(src);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const rel = (f: string) => relative(root, f).split(sep).join('/');

describe('architecture', () => {
  it('every relative import under src resolves to a file', () => {
    const broken = [...graph].flatMap(([f, imports]) =>
      imports.filter((i) => i.specifier.startsWith('.') && !i.target).map((i) => `${rel(f)}: ${i.specifier}`),
    );
    assert.deepEqual(broken, []);
  });

  it('has no import cycle under src (type-only imports count)', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const { target } of graph.get(f) ?? []) {
        if (!target) continue;
        if (state.get(target) === 'open') cycles.push([...stack.slice(stack.indexOf(target)), target].map(rel).join(' -> '));
        else if (!state.has(target)) visit(target);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    assert.deepEqual(cycles, []);
  });

  it('src/core imports no vscode and nothing of the extension outside it but src/shared', () => {
    const bad = files
      .filter((f) => f.startsWith(core + sep))
      .flatMap((f) =>
        (graph.get(f) ?? [])
          .filter(
            (i) =>
              i.specifier === 'vscode' ||
              i.specifier.startsWith('vscode-languageclient') ||
              (i.target && !i.target.startsWith(core + sep) && !i.target.startsWith(join(src, 'shared') + sep)),
          )
          .map((i) => `${rel(f)}: ${i.specifier}`),
      );
    assert.deepEqual(bad, []);
  });

  it('reaches a core folder only through its barrel from outside that folder', () => {
    const folderOf = (f: string) => {
      const parts = relative(core, dirname(f)).split(sep);
      return parts[0] === '' ? undefined : join(core, parts[0]);
    };
    const bad: string[] = [];
    for (const [f, imports] of graph) {
      for (const { specifier, target } of imports) {
        if (!target || !target.startsWith(core + sep)) continue;
        const folder = folderOf(target);
        if (!folder || f.startsWith(folder + sep)) continue; // a root file of the core, or inside the same folder
        if (target !== join(folder, 'index.ts')) bad.push(`${rel(f)}: ${specifier}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  it('the webview (browser code) imports nothing of the extension host: only itself, src/shared and browser packages', () => {
    const webview = join(src, 'webview');
    const shared = join(src, 'shared');
    const allowed = (t: string | undefined) => t !== undefined && (t.startsWith(webview + sep) || t.startsWith(shared + sep));
    const bad = files
      .filter((f) => f.startsWith(webview + sep))
      .flatMap((f) =>
        (graph.get(f) ?? [])
          .filter((i) => i.specifier === 'vscode' || i.specifier.startsWith('node:') || (i.specifier.startsWith('.') && !allowed(i.target)))
          .map((i) => `${rel(f)}: ${i.specifier}`),
      );
    assert.deepEqual(bad, []);
  });

  it('every core folder has a barrel that the core index re-exports', () => {
    const folders = readdirSync(core).filter((n) => statSync(join(core, n)).isDirectory());
    const index = readFileSync(join(core, 'index.ts'), 'utf8');
    const missing = folders.filter((n) => !existsSync(join(core, n, 'index.ts')) || !index.includes(`export * from './${n}';`));
    assert.deepEqual(missing, []);
  });
});
