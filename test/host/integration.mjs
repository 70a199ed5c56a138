// Runs the in-host integration suite inside code-server with this repository as the development extension,
// headless Chromium as the user's browser and the UI bridge for screen checks (see suite.mjs).
// Prints the suite's output and resolves to {passed, failed, pending}; never leaves a process behind.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { provision, repoRoot } from './provision.mjs';
import { makeSandbox, startCodeServer } from './server.mjs';
import { openSuiteDriver, workspaceCopy } from './suite.mjs';

const log = (msg) => process.stderr.write(`[integration] ${msg}\n`);

/** `env`: more variables for the extension host (the reliability tier passes where its table goes). */
export async function runIntegration({ grep, verbose, env = {} } = {}) {
  const suiteIndex = join(repoRoot, 'out', 'test', 'integration', 'index.js');
  if (!existsSync(suiteIndex)) throw new Error(`${suiteIndex} is missing: build with "node esbuild.mjs --tests" first`);
  const host = provision();
  const sandbox = makeSandbox();
  const workspace = workspaceCopy(sandbox);
  const resultsDir = join(repoRoot, 'test-results');
  // Each run's pictures only: a stale failed-*.png would mislead.
  rmSync(resultsDir, { recursive: true, force: true });
  const server = await startCodeServer({ host, sandbox, folder: workspace, smokeTestDriver: true, verbose });
  let driver;
  try {
    driver = await openSuiteDriver({ host, sandbox, server, resultsDir, log, verbose });
    /** One load of the workbench with the suite in `phase` (see test/integration/index.ts). */
    const runPhase = (phase) =>
      driver.run({
        folder: workspace,
        extensionDevelopmentPath: repoRoot,
        extensionTestsPath: suiteIndex,
        env: {
          ...env,
          AIOS_TEST_WORKSPACE: workspace,
          ...(phase ? { AIOS_TEST_PHASE: phase } : {}),
          ...(grep ? { AIOS_TEST_GREP: grep } : {}),
        },
        label: phase ? `integration (${phase})` : 'integration',
      });

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
    await driver?.close();
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
