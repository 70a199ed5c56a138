// `npm run screenshots`: the README's pictures (docs/images/) from the real host. Runs the in-host phase
// test/integration/screenshots.phase.ts in code-server with this repository as the development extension:
// it stages some traffic and takes the status bar, the tree and the metrics panel in a light and a dark
// theme; this script copies them into docs/images/ and names them. Never leaves a process behind.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { provision, repoRoot } from './provision.mjs';
import { makeSandbox, startCodeServer } from './server.mjs';
import { openSuiteDriver, workspaceCopy } from './suite.mjs';

const log = (msg) => process.stderr.write(`[screenshots] ${msg}\n`);
const PREFIX = 'readme-';

execFileSync(process.execPath, ['esbuild.mjs', '--tests'], { cwd: repoRoot, stdio: 'inherit' });
const host = provision();
const sandbox = makeSandbox();
const workspace = workspaceCopy(sandbox);
const resultsDir = mkdtempSync(join(tmpdir(), 'aios-screenshots-'));
const server = await startCodeServer({ host, sandbox, folder: workspace, smokeTestDriver: true, verbose: process.env.AIOS_VERBOSE === '1' });
let driver;
let failed = true;
try {
  driver = await openSuiteDriver({ host, sandbox, server, resultsDir, log });
  const r = await driver.run({
    folder: workspace,
    extensionDevelopmentPath: repoRoot,
    extensionTestsPath: join(repoRoot, 'out', 'test', 'integration', 'index.js'),
    env: { AIOS_TEST_WORKSPACE: workspace, AIOS_TEST_PHASE: 'screenshots' },
    label: 'screenshots',
  });
  const pictures = readdirSync(resultsDir).filter((f) => f.startsWith(PREFIX) && f.endsWith('.png'));
  if (r.failed > 0 || r.exitCode !== 0 || pictures.length === 0) {
    log(`the phase failed (${r.failed} failed${r.error ? `: ${r.error}` : ''}); what it left is in ${resultsDir}`);
  } else {
    const out = join(repoRoot, 'docs', 'images');
    mkdirSync(out, { recursive: true });
    for (const f of pictures) copyFileSync(join(resultsDir, f), join(out, f.slice(PREFIX.length)));
    log(`wrote ${pictures.map((f) => `docs/images/${f.slice(PREFIX.length)}`).join(', ')}`);
    rmSync(resultsDir, { recursive: true, force: true });
    failed = false;
  }
} finally {
  await driver?.close();
  server.dispose();
}
process.exit(failed || !existsSync(join(repoRoot, 'docs', 'images')) ? 1 : 0);
