// The installed tier: packages the extension as a user gets it (`npm run package`, into this run's sandbox),
// checks the .vsix's entries against the packaging rules (test/installed/vsix.mjs), installs it into a fresh
// code-server extensions folder and runs the smoke suite (test/installed/*.test.ts) against that installed
// copy. The development path of that run is a do-nothing runner extension (test/installed/runner), so the
// repository's working copy is not loaded. Resolves to {passed, failed, pending, note}; note names the .vsix.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { checkVsix } from '../installed/vsix.mjs';
import { provision, repoRoot } from './provision.mjs';
import { makeSandbox, sandboxEnv, startCodeServer } from './server.mjs';
import { openSuiteDriver, workspaceCopy } from './suite.mjs';

const log = (msg) => process.stderr.write(`[installed] ${msg}\n`);
const say = (msg) => process.stdout.write(`${msg}\n`);

/** Watches for the status-bar item from the page's start, so the suite can tell when it first showed. */
const STATUS_BAR_WATCH = `(() => {
  if (window.top !== window) return; // webviews and other frames have no status bar
  const seen = () => [...document.querySelectorAll('.statusbar-item')].some((e) => e.id && e.id.endsWith('aios.status'));
  new MutationObserver((_, observer) => {
    if (window.__aiosStatusShownAt === undefined && seen()) {
      window.__aiosStatusShownAt = Date.now();
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true });
})();`;

/** `npm run package -- --out <file>`: the same script a user runs. */
function packageVsix(file) {
  const r = spawnSync('npm', ['run', 'package', '--', '--out', file], {
    cwd: repoRoot,
    encoding: 'utf8',
    shell: process.platform === 'win32',
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  if (r.status !== 0 || !existsSync(file)) {
    process.stdout.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? '');
    throw new Error(`npm run package failed (exit ${r.status ?? r.error?.message})`);
  }
  const done = (r.stdout ?? '').match(/DONE.*$/m)?.[0];
  if (done) log(done.trim());
}

/** code-server's own installer, into the sandbox's fresh extensions folder. */
function installVsix(host, sandbox, file, id) {
  const r = spawnSync(
    host.node24,
    [host.entry, '--config', join(sandbox.root, 'config.yaml'), '--user-data-dir', sandbox.data, '--extensions-dir', sandbox.exts, '--install-extension', file],
    { encoding: 'utf8', env: { ...process.env, ...sandboxEnv(sandbox) }, timeout: 120_000 },
  );
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  const folder = join(sandbox.exts, id);
  if (r.status !== 0 || !existsSync(folder)) throw new Error(`code-server --install-extension failed (exit ${r.status}):\n${out.trim()}`);
  log(`installed ${basename(file)} into ${folder}`);
  return folder;
}

export async function runInstalled({ grep, verbose } = {}) {
  const suiteIndex = join(repoRoot, 'out', 'test', 'installed', 'index.js');
  if (!existsSync(suiteIndex)) throw new Error(`${suiteIndex} is missing: build with "node esbuild.mjs --tests" first`);
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));
  const id = `${pkg.publisher}.${pkg.name}-${pkg.version}`;
  const resultsDir = join(repoRoot, 'test-results');
  mkdirSync(resultsDir, { recursive: true });
  const sandbox = makeSandbox('aios-installed-');
  const vsix = join(sandbox.root, `${pkg.name}-${pkg.version}.vsix`);
  let server;
  let driver;
  try {
    packageVsix(vsix);
    const contents = await checkVsix(vsix, repoRoot);
    const kb = Math.round(contents.bytes / 1024);
    const note = `${basename(vsix)}, ${kb} KB`;
    say(`\n  the .vsix (${note}; ${contents.entries} entries, ${Math.round(contents.unpackedBytes / 1024)} KB unpacked)`);
    for (const c of contents.checks) {
      say(`    ${c.failures.length ? '✘' : '✔'} ${c.title}`);
      for (const f of c.failures) say(`        ${f}`);
    }
    const total = {
      passed: contents.checks.filter((c) => c.failures.length === 0).length,
      failed: contents.checks.filter((c) => c.failures.length > 0).length,
      pending: 0,
      note,
    };

    const host = provision();
    const installedPath = installVsix(host, sandbox, vsix, id);
    const workspace = workspaceCopy(sandbox);
    server = await startCodeServer({ host, sandbox, folder: workspace, smokeTestDriver: true, verbose });
    driver = await openSuiteDriver({ host, sandbox, server, resultsDir, log, verbose, initScript: STATUS_BAR_WATCH });
    const r = await driver.run({
      folder: workspace,
      extensionDevelopmentPath: join(repoRoot, 'test', 'installed', 'runner'),
      extensionTestsPath: suiteIndex,
      env: {
        AIOS_INSTALLED_EXTENSIONS_DIR: sandbox.exts,
        AIOS_INSTALLED_PATH: installedPath,
        AIOS_INSTALLED_VSIX: basename(vsix),
        AIOS_REPO_ROOT: repoRoot,
        ...(grep ? { AIOS_TEST_GREP: grep } : {}),
      },
      label: 'installed',
    });
    total.passed += r.passed;
    total.failed += r.failed;
    total.pending += r.pending;
    total.exitCode = r.exitCode;
    total.error = r.error;
    return total;
  } finally {
    await driver?.close();
    // Disposing the server ends its process group and removes the sandbox (the .vsix with it).
    if (server) server.dispose();
    else rmSync(sandbox.root, { recursive: true, force: true, maxRetries: 3 });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runInstalled({ verbose: process.argv.includes('--verbose') })
    .then((r) => {
      console.log(`${r.passed} passed, ${r.failed} failed (${r.note})`);
      process.exit(r.failed > 0 || r.exitCode !== 0 ? 1 : 0);
    })
    .catch((err) => {
      log(err.stack ?? String(err));
      process.exit(1);
    });
}
