// Builds every bundle: the extension host code (CommonJS, `vscode` external), the webview's browser code
// (an IIFE for the panel, loaded under a nonce CSP), and on request the unit tests, the in-host suite and
// the benchmarks. Flags: --watch, --production (minified, no source maps), --tests, --bench.
import * as esbuild from 'esbuild';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

// The first paint needs only the status-bar item: the entry (src/extension.ts) holds just that and requires the
// composition root (dist/chunks/composition.js, everything else activation builds) after it.
// What the composition does not need at once lives in chunks of its own too, required when first used: the language
// client (when the service first starts), systeminformation (the first background sample) and execa (the
// interpreter probe, shell commands). Compiling them cost more than the rest of activation together. The
// extension imports them with import(`specifier`); here exactly those specifiers become
// require('./chunks/<name>.js'). vscode-jsonrpc is a chunk of its own that the main bundle and the client chunk
// share: the protocol's RequestType objects and the client must come from one copy (it compares parameter
// structures by identity). A heavy package imported any other way would be inlined into the main bundle:
// test/unit/bundle.test.ts reads the build's metafile and fails when one is.
const CHUNKS = {
  composition: { entry: './src/composition.ts', specifier: './composition', lazy: true },
  clientLib: { entry: './src/python/clientLib.ts', specifier: './clientLib', lazy: true },
  systeminformation: { entry: 'systeminformation', specifier: 'systeminformation', lazy: true },
  execa: { entry: 'execa', specifier: 'execa', lazy: true },
  jsonrpc: { entry: 'vscode-jsonrpc/node', specifiers: ['vscode-jsonrpc', 'vscode-jsonrpc/node'], lazy: false },
  // The OpenTelemetry SDK and exporters, required (by a computed path) only once an OTLP endpoint or a
  // Prometheus port is set.
  export: { entry: './src/export/otel.ts', lazy: false },
  // The Redis client of the shared limit, required only once aios.cluster.redisUrl is set.
  ioredis: { entry: 'ioredis', specifier: 'ioredis', lazy: true },
};
const exactly = (specifiers) => new RegExp(`^(${specifiers.map((x) => x.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`);
const lazySpecifiers = Object.entries(CHUNKS).filter(([, c]) => c.lazy);
/** Resolves imports of chunked modules to the chunk file, relative to the output file at `dir`. */
const chunkImports = (dir, { lazy }) => ({
  name: 'chunk-imports',
  setup(b) {
    b.onResolve({ filter: exactly(CHUNKS.jsonrpc.specifiers) }, () => ({ path: `${dir}jsonrpc.js`, external: true }));
    if (!lazy) return;
    const byName = new Map(lazySpecifiers.map(([name, c]) => [c.specifier, name]));
    b.onResolve({ filter: exactly([...byName.keys()]) }, (args) => ({ path: `${dir}${byName.get(args.path)}.js`, external: true }));
  },
});
const builds = [
  // dynamic-import off: an external import() becomes a plain require() of the chunk.
  {
    ...node,
    entryPoints: ['src/extension.ts'],
    outfile: 'dist/extension.js',
    plugins: [chunkImports('./chunks/', { lazy: true })],
    supported: { 'dynamic-import': false },
    metafile: true,
  },
  // `aios` in terminals: a script of its own with no dependencies (its start-up is every command's cost);
  // src/cli/install.ts puts it, its launchers and PowerShell module where terminals run them.
  {
    ...node,
    entryPoints: ['src/cli/main.ts'],
    outfile: 'dist/cli/aios.js',
    // import() of a built-in would start Node's ES module loader (milliseconds); a require() does not.
    supported: { 'dynamic-import': false },
    // Compiled at every start: the smaller the faster, in development builds too (the source map stays).
    minify: true,
    define: { AIOS_VERSION: JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version) },
  },
  // The composition requires the other lazy chunks (beside it in dist/chunks/) as the entry requires it.
  {
    ...node,
    entryPoints: [CHUNKS.composition.entry],
    outfile: 'dist/chunks/composition.js',
    plugins: [chunkImports('./', { lazy: true })],
    supported: { 'dynamic-import': false },
    metafile: true,
  },
  // The system sampler's worker thread (src/core/system/worker.ts): it requires the systeminformation chunk
  // beside it, which then runs off the extension host's event loop.
  {
    ...node,
    entryPoints: ['src/core/system/worker.ts'],
    outfile: 'dist/chunks/systemWorker.js',
    plugins: [chunkImports('./', { lazy: true })],
    supported: { 'dynamic-import': false },
  },
  ...Object.entries(CHUNKS)
    .filter(([name]) => name !== 'composition')
    .map(([name, { entry }]) => ({
      ...node,
      stdin: { contents: `export * from ${JSON.stringify(entry)};`, resolveDir: '.', loader: 'ts' },
      outfile: `dist/chunks/${name}.js`,
      plugins: name === 'jsonrpc' ? [] : [chunkImports('./', { lazy: false })],
    })),
];
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
  const [main, , composition] = await Promise.all(builds.map((b) => esbuild.build(b)));
  // What the entry and the composition chunk hold, for the bundle test (out/ is neither committed nor packaged).
  mkdirSync('out', { recursive: true });
  const metafile = {
    inputs: { ...main.metafile.inputs, ...composition.metafile.inputs },
    outputs: { ...main.metafile.outputs, ...composition.metafile.outputs },
  };
  writeFileSync('out/extension.meta.json', JSON.stringify(metafile));
}
