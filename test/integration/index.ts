// The extensionTestsPath entry: VS Code (or code-server's smoke-test driver) calls run() inside the
// extension host. Rejecting fails the run; the counts also go to the UI bridge so `npm test` can add them up.
// AIOS_TEST_PHASE picks what runs: unset, every *.test.js; a name, <name>.phase.js (`reload` reloads the
// window once and runs again).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { hasUi, reportResult, screenshot, setCurrentTest } from './ui';

/** The in-host tests of the reliability tier: test/run.mjs runs them with this as AIOS_TEST_GREP. */
export const RELIABILITY_GREP = 'reliability:';

export function run(): Promise<void> {
  // mocha stays external to the bundle: it loads test files by path at run time.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Mocha = require('mocha') as typeof import('mocha');
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 60_000, slow: 5_000 });
  if (process.env.AIOS_TEST_GREP) mocha.grep(process.env.AIOS_TEST_GREP);
  // The in-host part of the reliability tier (its describes start with "reliability:") runs there, by name.
  else mocha.grep(RELIABILITY_GREP).invert();
  mocha.suite.beforeEach(function () {
    setCurrentTest(this.currentTest);
  });
  // A failed test leaves a picture of the screen behind: test-results/failed-<title>.png.
  mocha.suite.afterEach(async function () {
    const test = this.currentTest;
    if (hasUi && test?.state === 'failed') {
      await screenshot(
        `failed-${test
          .fullTitle()
          .replace(/[^\w.-]+/g, '_')
          .slice(0, 70)}`,
      ).catch((err) => console.error(`screenshot failed: ${err}`));
    }
  });
  const suffix = process.env.AIOS_TEST_PHASE ? `${process.env.AIOS_TEST_PHASE}.phase.js` : '.test.js';
  for (const file of readdirSync(__dirname)
    .filter((f) => f.endsWith(suffix))
    .sort()) {
    mocha.addFile(join(__dirname, file));
  }
  return new Promise((resolve, reject) => {
    const runner = mocha.run((failures) => {
      const stats = runner.stats ?? { passes: 0, failures, pending: 0 };
      void reportResult({ passed: stats.passes, failed: stats.failures, pending: stats.pending })
        .catch(() => {})
        .then(() => (failures > 0 ? reject(new Error(`${failures} in-host test(s) failed`)) : resolve()));
    });
  });
}
