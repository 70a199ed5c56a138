// `npm test`: every tier, in order of cost. Type check, the lint and format gate, unit tests in plain Node,
// the Python service's own tests, the integration suite inside a real VS Code host, then the packaged .vsix
// installed into a fresh host and smoke-tested there. Runs all tiers even after a failure,
// prints a summary per tier and one closing line `N passed, N failed`; exits non-zero on any failure.
// `node test/run.mjs <tier…>` runs only the named tiers (typecheck, lint, unit, python, receivers, cluster, reliability, integration, installed).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repoRoot } from './host/paths.mjs';
import { ensureDebianPackages } from './host/provision.mjs';
import { extraPythons, pythonCommand } from './host/python.mjs';

const say = (msg) => process.stdout.write(`${msg}\n`);

/** Runs a command with output shown live and captured, for counting. */
function run(cmd, args, opts = {}) {
  say(`$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: repoRoot, encoding: 'utf8', maxBuffer: 256 << 20, shell: process.platform === 'win32' && cmd === 'npx', ...opts });
  process.stdout.write(r.stdout ?? '');
  process.stderr.write(r.stderr ?? '');
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}\n${r.stderr ?? ''}`, error: r.error };
}

function findFiles(dir, suffix) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const full = join(dir, n);
    return statSync(full).isDirectory() ? findFiles(full, suffix) : n.endsWith(suffix) ? [full] : [];
  });
}

/** Runs `files` with node's test runner; its tally. */
function nodeTest(files) {
  const { code, out } = run(process.execPath, ['--test', '--test-reporter=spec', ...files]);
  const count = (k) => Number(out.match(new RegExp(`^ℹ ${k} (\\d+)$`, 'm'))?.[1] ?? 0);
  const failed = count('fail') + count('cancelled');
  return { passed: count('pass'), failed: code !== 0 && failed === 0 ? 1 : failed, skipped: count('skipped') + count('todo') };
}

/**
 * A tier of node:test suites under test/<name> that need real servers from Debian (`packages`, installed
 * here when missing and root). Built here, not by esbuild.mjs: every .ts file is built (tests start some
 * as child processes) and only the .test.ts files are run.
 */
async function nodeTestTier(name, packages, purpose) {
  const dir = join(repoRoot, 'test', name);
  const sources = findFiles(dir, '.ts');
  const tests = sources.filter((f) => f.endsWith('.test.ts'));
  if (tests.length === 0) return { passed: 0, failed: 0 };
  try {
    ensureDebianPackages(packages, purpose);
  } catch (err) {
    say(err.message);
    return { passed: 0, failed: 1 };
  }
  const outdir = join(repoRoot, 'out', 'test', name);
  try {
    const esbuild = await import('esbuild');
    await esbuild.build({
      entryPoints: sources,
      outdir,
      outbase: dir,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      sourcemap: 'linked',
      logLevel: 'warning',
    });
  } catch (err) {
    say(`${name} tier failed to build: ${err instanceof Error ? err.message : err}`);
    return { passed: 0, failed: 1 };
  }
  return nodeTest(tests.map((f) => join(outdir, f.slice(dir.length).replace(/\.ts$/, '.js'))));
}

/** The reliability tier's in-host part: the integration suite's "reliability: …" describes, rows into `table`. */
async function reliabilityInHost(table) {
  const build = run(process.execPath, ['esbuild.mjs', '--tests']);
  if (build.code !== 0) return { passed: 0, failed: 1 };
  const { runIntegration } = await import('./host/integration.mjs');
  try {
    const r = await runIntegration({ grep: 'reliability:', verbose: process.env.AIOS_VERBOSE === '1', env: { AIOS_RELIABILITY_TABLE: table } });
    if (r.error) say(r.error);
    return { passed: r.passed, failed: r.failed || (r.exitCode !== 0 ? 1 : 0), skipped: r.pending };
  } catch (err) {
    say(`the in-host reliability tests failed to run: ${err instanceof Error ? err.message : err}`);
    return { passed: 0, failed: 1 };
  }
}

const tiers = {
  typecheck() {
    const { code } = run(process.execPath, [join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.', '--noEmit']);
    return { passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1 };
  },
  /** ESLint (type-aware), Prettier's check and flake8: each is one check that passes or fails. */
  lint() {
    const bin = (pkg, file) => join(repoRoot, 'node_modules', pkg, 'bin', file);
    const checks = [
      () => run(process.execPath, [bin('eslint', 'eslint.js'), '--max-warnings=0', '.']),
      () => run(process.execPath, [bin('prettier', 'prettier.cjs'), '--check', '.']),
      () => {
        try {
          ensureDebianPackages(['flake8'], 'The Python lint');
        } catch (err) {
          say(err.message);
          return { code: 1 };
        }
        const r = run('flake8', [], { cwd: join(repoRoot, 'python') });
        if (r.code !== 0 && /ENOENT/.test(r.error?.message ?? ''))
          say('flake8 not found: install it (Debian: apt-get install flake8; elsewhere: pip install flake8)');
        return r;
      },
    ];
    const codes = checks.map((check) => check().code);
    const failed = codes.filter((c) => c !== 0).length;
    return { passed: codes.length - failed, failed };
  },
  unit() {
    const build = run(process.execPath, ['esbuild.mjs', '--tests']);
    if (build.code !== 0) return { passed: 0, failed: 1 };
    const files = findFiles(join(repoRoot, 'out', 'test', 'unit'), '.test.js');
    if (files.length === 0) return { passed: 0, failed: 0 };
    return nodeTest(files);
  },
  python() {
    if (!existsSync(join(repoRoot, 'python', 'tests'))) return { passed: 0, failed: 0 };
    const unittest = ([py, ...pyArgs], verbose) => {
      const { code, out } = run(py, [...pyArgs, '-m', 'unittest', 'discover', '-s', 'python/tests', '-t', 'python', ...(verbose ? ['-v'] : [])]);
      const ran = Number(out.match(/^Ran (\d+) tests?/m)?.[1] ?? 0);
      const tally = (k) => Number(out.match(new RegExp(`${k}=(\\d+)`))?.[1] ?? 0);
      const failed = tally('failures') + tally('errors');
      const skipped = tally('skipped');
      return { passed: ran - failed - skipped, failed: code !== 0 && failed === 0 ? 1 : failed, skipped };
    };
    const main = pythonCommand();
    const total = unittest(main, true);
    // The same suite on the other installed versions (the service supports 3.9+): failures count, passes
    // are not added again to the total.
    for (const { path, version } of extraPythons(main)) {
      say(`--- the same tests on Python ${version} (${path})`);
      const r = unittest([path], false);
      total.failed += r.failed;
      if (r.failed) say(`Python ${version}: ${r.failed} failed`);
    }
    return total;
  },
  /** The exporters against real receivers from Debian (Prometheus), installed here when missing and root. */
  receivers: () => nodeTestTier('receivers', ['prometheus'], 'The receiver tests'),
  /** The shared limit against Debian's real redis-server (installed here when missing and root). */
  cluster: () => nodeTestTier('cluster', ['redis-server'], 'The cluster tests'),
  /**
   * Overload, faults, hostile input and secrets on the real parts (the pipeline with telemetry on disk, the
   * Python service, redis-server, the control endpoint); ends with a table of each property, what was tried
   * and what held.
   */
  async reliability() {
    // Beside out/test, which the in-host part's build starts afresh.
    const table = join(repoRoot, 'out', 'reliability-table.jsonl');
    mkdirSync(dirname(table), { recursive: true });
    rmSync(table, { force: true });
    process.env.AIOS_RELIABILITY_TABLE = table;
    const r = await nodeTestTier('reliability', ['redis-server'], 'The reliability tests');
    // Faults of the Python service go through the supervisor and the language client, which need the real
    // host: those tests live in test/integration (describes named "reliability: …") and run here, in one host.
    const host = await reliabilityInHost(table);
    r.passed += host.passed;
    r.failed += host.failed;
    r.skipped = (r.skipped ?? 0) + (host.skipped ?? 0);
    const rows = existsSync(table)
      ? readFileSync(table, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
    say('\n--- reliability: what was tried and what held ---');
    say('| property | tried | held |\n|---|---|---|');
    for (const row of rows) say(`| ${row.property} | ${row.tried} | ${row.held} |`);
    return r;
  },
  async integration() {
    const build = run(process.execPath, ['esbuild.mjs', '--tests']);
    if (build.code !== 0) return { passed: 0, failed: 1 };
    try {
      // The in-host suite has Debian's Prometheus scrape the extension host, shares a limit through Debian's
      // redis-server and runs `aios` in zsh and fish terminals; without them those tests say how to get them.
      ensureDebianPackages(['prometheus', 'redis-server', 'zsh', 'fish'], 'The in-host Prometheus, shared-limit and terminal-shell tests');
    } catch (err) {
      say(err.message);
    }
    const { runIntegration } = await import('./host/integration.mjs');
    try {
      const r = await runIntegration({ grep: process.env.AIOS_TEST_GREP, verbose: process.env.AIOS_VERBOSE === '1' });
      if (r.error) say(r.error);
      return { passed: r.passed, failed: r.failed || (r.exitCode !== 0 ? 1 : 0), skipped: r.pending };
    } catch (err) {
      say(`integration tier failed to run: ${err instanceof Error ? err.message : err}`);
      return { passed: 0, failed: 1 };
    }
  },
  /** The .vsix as a user gets it: its entries checked, installed into a fresh code-server, smoke-tested there. */
  async installed() {
    const build = run(process.execPath, ['esbuild.mjs', '--tests']);
    if (build.code !== 0) return { passed: 0, failed: 1 };
    const { runInstalled } = await import('./host/installed.mjs');
    try {
      const r = await runInstalled({ grep: process.env.AIOS_TEST_GREP, verbose: process.env.AIOS_VERBOSE === '1' });
      if (r.error) say(r.error);
      return { passed: r.passed, failed: r.failed || (r.exitCode !== 0 ? 1 : 0), skipped: r.pending, note: r.note };
    } catch (err) {
      say(`installed tier failed to run: ${err instanceof Error ? err.message : err}`);
      return { passed: 0, failed: 1 };
    }
  },
};

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const unknown = wanted.filter((t) => !(t in tiers));
if (unknown.length) {
  say(`unknown tier(s): ${unknown.join(', ')}; known: ${Object.keys(tiers).join(', ')}`);
  process.exit(2);
}
const totals = { passed: 0, failed: 0, skipped: 0 };
const summary = [];
for (const name of wanted.length ? wanted : Object.keys(tiers)) {
  say(`\n=== ${name} ===`);
  const r = await tiers[name]();
  totals.passed += r.passed;
  totals.failed += r.failed;
  totals.skipped += r.skipped ?? 0;
  summary.push(`${name.padEnd(12)} ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}${r.note ? ` (${r.note})` : ''}`);
}
say('\n=== summary ===');
for (const line of summary) say(line);
say(`${totals.passed} passed, ${totals.failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
process.exit(totals.failed > 0 ? 1 : 0);
