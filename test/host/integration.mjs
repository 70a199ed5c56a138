// Runs the in-host integration suite (the extensionTestsPath contract, as @vscode/test-electron does) inside
// code-server, with headless Chromium as the user's browser and the UI bridge for screen checks.
// Prints the suite's output and resolves to {passed, failed, pending}; never leaves a process behind.
import { cpSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';
import { provision, repoRoot } from './provision.mjs';
import { launchBrowser, makeSandbox, startCodeServer } from './server.mjs';
import { createUiBridge } from './ui-bridge.mjs';

const log = (msg) => process.stderr.write(`[integration] ${msg}\n`);
const WORKBENCH_NOISE = /ENOTFOUND|workbench\.js|^\[[A-Za-z]+\]|authentication provider/;
const SUITE_TIMEOUT_MS = Number(process.env.AIOS_SUITE_TIMEOUT_MS ?? 15 * 60_000);

/** A copy of the demo workspace, so tests may change its files without touching the repository. */
function workspaceCopy(sandbox) {
  const ws = join(sandbox.root, 'workspace');
  if (existsSync(join(repoRoot, 'demo'))) cpSync(join(repoRoot, 'demo'), ws, { recursive: true });
  else mkdirSync(ws);
  return ws;
}

export async function runIntegration({ grep, verbose } = {}) {
  const suiteIndex = join(repoRoot, 'out', 'test', 'integration', 'index.js');
  if (!existsSync(suiteIndex)) throw new Error(`${suiteIndex} is missing: build with "node esbuild.mjs --tests" first`);
  const host = provision();
  const sandbox = makeSandbox();
  const workspace = workspaceCopy(sandbox);
  const resultsDir = join(repoRoot, 'test-results');
  // Each run's pictures only: a stale failed-*.png would mislead.
  rmSync(resultsDir, { recursive: true, force: true });
  const server = await startCodeServer({ host, sandbox, folder: workspace, smokeTestDriver: true, verbose });
  let browser;
  let bridge;
  try {
    browser = await launchBrowser(host, sandbox);
    // The web workbench's clipboard is the browser's: allow it, as a user's browser would after a prompt.
    const browserContext = await browser.newContext({ viewport: { width: 1600, height: 1000 }, permissions: ['clipboard-read', 'clipboard-write'] });
    const page = await browserContext.newPage();
    bridge = createUiBridge({ page, resultsDir, log });
    const bridgeUrl = await bridge.listen();

    // The smoke-test driver calls this when the in-host suite ends; one waiter per page load.
    let onExit = () => undefined;
    await page.exposeFunction('codeAutomationExit', (code) => onExit(code));
    await page.exposeFunction('codeAutomationLog', (type, args) => {
      const line = format(...(Array.isArray(args) ? args : [args]));
      // The workbench logs a lot offline (marketplace look-ups, its own start-up); the suite's output is what matters.
      if (verbose || !WORKBENCH_NOISE.test(line)) process.stdout.write(`${line}\n`);
    });
    page.on('pageerror', (err) => verbose && log(`page error: ${err.message}`));

    /** Loads the workbench with the suite in `phase` (see test/integration/index.ts) and waits for its counts. */
    const runPhase = async (phase) => {
      const env = {
        AIOS_UI_BRIDGE: bridgeUrl,
        AIOS_TEST_RESULTS: resultsDir,
        AIOS_TEST_WORKSPACE: workspace,
        ...(phase ? { AIOS_TEST_PHASE: phase } : {}),
        ...(grep ? { AIOS_TEST_GREP: grep } : {}),
      };
      const payload = [
        ['extensionDevelopmentPath', `vscode-remote://remote${repoRoot}`],
        ['extensionTestsPath', `vscode-remote://remote${suiteIndex}`],
        ['skipWelcome', 'true'],
        ['extensionEnvironment', JSON.stringify(env)],
      ];
      const url = `${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
      const exited = new Promise((resolveExit) => (onExit = resolveExit));
      log(`opening the workbench${phase ? ` (${phase})` : ''} (${server.url})`);
      await page.goto(url);
      let timer;
      const timedOut = new Promise((r) => (timer = setTimeout(r, SUITE_TIMEOUT_MS, 'timeout')));
      const exitCode = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (exitCode === 'timeout') {
        await page.screenshot({ path: join(resultsDir, 'integration-timeout.png') }).catch(() => {});
        throw new Error(
          `the in-host suite${phase ? ` (${phase})` : ''} did not finish within ${SUITE_TIMEOUT_MS / 1000} s (screenshot: test-results/integration-timeout.png)`,
        );
      }
      const result = bridge.takeSuiteResult();
      // A suite that never reached its end (it failed to load, or the host crashed) counts as a failure.
      if (!result)
        return {
          passed: 0,
          failed: 1,
          pending: 0,
          exitCode,
          error: `the in-host suite${phase ? ` (${phase})` : ''} exited with code ${exitCode} without reporting results`,
        };
      return { ...result, exitCode };
    };

    const total = await runPhase(undefined);
    // A window reload, for real (test/integration/reload.phase.ts): the suite reloads the window itself and
    // reports from its second run.
    if (!grep || /reload/i.test(grep)) {
      const r = await runPhase('reload');
      total.passed += r.passed;
      total.failed += r.failed;
      total.pending += r.pending;
      if (r.exitCode !== 0) total.exitCode = r.exitCode;
      if (r.error) total.error = [total.error, r.error].filter(Boolean).join('; ');
    }
    return total;
  } finally {
    await browser?.close().catch(() => {});
    await bridge?.close().catch(() => {});
    server.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const grepIdx = process.argv.indexOf('--grep');
  runIntegration({ grep: grepIdx > 0 ? process.argv[grepIdx + 1] : undefined, verbose: process.argv.includes('--verbose') })
    .then((r) => {
      console.log(`${r.passed} passed, ${r.failed} failed`);
      process.exit(r.failed > 0 || r.exitCode !== 0 ? 1 : 0);
    })
    .catch((err) => {
      log(err.stack ?? String(err));
      process.exit(1);
    });
}
