// Drives an in-host suite (the extensionTestsPath contract, as @vscode/test-electron does) in a running
// code-server: a headless Chromium page plays the user's browser, the UI bridge lets the tests look at the
// screen, and each run loads the workbench with a payload naming the development extension and the suite.
// Used by the integration tier (this repository as the development extension) and the installed tier (a
// tiny runner extension, with ours installed from the .vsix).
import { cpSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { format } from 'node:util';
import { repoRoot } from './paths.mjs';
import { launchBrowser } from './server.mjs';
import { createUiBridge } from './ui-bridge.mjs';

const WORKBENCH_NOISE = /ENOTFOUND|workbench\.js|^\[[A-Za-z]+\]|authentication provider/;
const SUITE_TIMEOUT_MS = Number(process.env.AIOS_SUITE_TIMEOUT_MS ?? 15 * 60_000);

/** A copy of the demo workspace in the sandbox, so tests may change its files without touching the repository. */
export function workspaceCopy(sandbox) {
  const ws = join(sandbox.root, 'workspace');
  if (existsSync(join(repoRoot, 'demo'))) cpSync(join(repoRoot, 'demo'), ws, { recursive: true });
  else mkdirSync(ws);
  return ws;
}

/**
 * Opens a browser on `server` and returns `run(...)`, which loads the workbench with one suite and resolves
 * to its counts, and `close()`.
 * @param {{ host: object, sandbox: object, server: { url: string }, resultsDir: string, log: (m: string) => void,
 *           verbose?: boolean, initScript?: string }} opts  `initScript` runs in the page before the workbench loads.
 */
export async function openSuiteDriver({ host, sandbox, server, resultsDir, log, verbose, initScript }) {
  const browser = await launchBrowser(host, sandbox);
  let bridge;
  try {
    // The web workbench's clipboard is the browser's: allow it, as a user's browser would after a prompt.
    const browserContext = await browser.newContext({ viewport: { width: 1600, height: 1000 }, permissions: ['clipboard-read', 'clipboard-write'] });
    const page = await browserContext.newPage();
    if (initScript) await page.addInitScript(initScript);
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

    /**
     * Loads the workbench on `folder` with the suite at `extensionTestsPath` and `env` in its extension host,
     * and waits for the counts it reports. `label` names the run in messages.
     */
    const run = async ({ folder, extensionDevelopmentPath, extensionTestsPath, env, label }) => {
      const payload = [
        ['extensionDevelopmentPath', `vscode-remote://remote${extensionDevelopmentPath}`],
        ['extensionTestsPath', `vscode-remote://remote${extensionTestsPath}`],
        ['skipWelcome', 'true'],
        ['extensionEnvironment', JSON.stringify({ AIOS_UI_BRIDGE: bridgeUrl, AIOS_TEST_RESULTS: resultsDir, ...env })],
      ];
      const url = `${server.url}/?folder=${encodeURIComponent(folder)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
      const exited = new Promise((resolveExit) => (onExit = resolveExit));
      log(`opening the workbench (${label}) (${server.url})`);
      await page.goto(url);
      let timer;
      const timedOut = new Promise((r) => (timer = setTimeout(r, SUITE_TIMEOUT_MS, 'timeout')));
      const exitCode = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (exitCode === 'timeout') {
        const shot = `${label.replace(/[^\w.]+/g, '-').replace(/-+$/, '')}-timeout.png`;
        await page.screenshot({ path: join(resultsDir, shot) }).catch(() => {});
        throw new Error(`the in-host suite (${label}) did not finish within ${SUITE_TIMEOUT_MS / 1000} s (screenshot: test-results/${shot})`);
      }
      const result = bridge.takeSuiteResult();
      // A suite that never reached its end (it failed to load, or the host crashed) counts as a failure.
      if (!result)
        return { passed: 0, failed: 1, pending: 0, exitCode, error: `the in-host suite (${label}) exited with code ${exitCode} without reporting results` };
      return { ...result, exitCode };
    };

    return {
      run,
      close: async () => {
        await browser.close().catch(() => {});
        await bridge.close().catch(() => {});
      },
    };
  } catch (err) {
    await browser.close().catch(() => {});
    await bridge?.close().catch(() => {});
    throw err;
  }
}
