// Builds every bundle: the extension host code (CommonJS, `vscode` external), the webview's browser code
// (an IIFE for the panel, loaded under a nonce CSP), and on request the unit tests, the in-host suite and
// the benchmarks. Flags: --watch, --production (minified, no source maps), --tests, --bench.
import * as esbuild from 'esbuild';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = new Set(process.argv.slice(2));
const production = args.has('--production');
const watch = args.has('--watch');

/** All files under `dir` whose name ends with one of `suffixes`. */
function findFiles(dir, suffixes) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) return findFiles(full, suffixes);
    return suffixes.some((s) => name.endsWith(s)) ? [full] : [];
  });
}

const node = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: production ? false : 'linked',
  minify: production,
  logLevel: 'warning',
  // mocha and playwright-core load files dynamically: keep them as ordinary requires.
  external: ['vscode', 'mocha', 'playwright-core'],
};

// A production build is what gets packaged: start from an empty dist/ so no source map or stale bundle
// of an earlier build goes into the .vsix.
if (production) rmSync('dist', { recursive: true, force: true });

const builds = [{ ...node, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js' }];
if (existsSync('src/webview/main.ts')) {
  builds.push({
    bundle: true,
    platform: 'browser',
    format: 'iife',
    target: 'es2022',
    sourcemap: production ? false : 'linked',
    minify: production,
    logLevel: 'warning',
    entryPoints: ['src/webview/main.ts'],
    outfile: 'dist/webview/main.js',
  });
}
if (args.has('--tests')) {
  // Start clean: a deleted test must not live on as a stale bundle.
  rmSync('out/test', { recursive: true, force: true });
  builds.push({
    ...node,
    entryPoints: [
      ...findFiles('test/unit', ['.test.ts']),
      ...findFiles('test/integration', ['.ts']),
      ...findFiles('test/installed', ['.ts']),
      ...(existsSync('test/electron.ts') ? ['test/electron.ts'] : []),
    ],
    outdir: 'out/test',
    outbase: 'test',
  });
}
if (args.has('--bench')) {
  rmSync('out/bench', { recursive: true, force: true });
  builds.push({ ...node, entryPoints: findFiles('bench', ['.ts']), outdir: 'out/bench', outbase: 'bench' });
}

if (watch) {
  const contexts = await Promise.all(builds.map((b) => esbuild.context(b)));
  await Promise.all(contexts.map((c) => c.watch()));
  console.log('[esbuild] watching for changes…');
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
