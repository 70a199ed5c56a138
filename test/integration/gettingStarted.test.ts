// The getting-started walkthrough in the real host, read from the screen: "AIOS: Get Started" from the
// palette opens it with its steps and each step's page, and a step completes on the real event it names
// (a command run through the pipeline), shown as a check a person sees, even when the event came before
// VS Code registered the walkthrough.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { click, evaluate, requireUi, runFromPalette, screenshot, waitFor } from './ui';
import { healthyAios, waitUntil } from './util';

/** The walkthrough's steps as shown: title and whether its check is ticked. */
const steps = () =>
  evaluate<{ title: string; done: boolean }[]>(
    `return [...document.querySelectorAll('.getting-started-step')].map((s) => ({
       title: s.querySelector('.step-title')?.textContent ?? '',
       done: !!s.querySelector('.codicon-getting-started-step-checked'),
     }));`,
  );

describe('the getting-started walkthrough', function () {
  this.timeout(90_000);

  it('"AIOS: Get Started" shows the steps and their pages; running a command ticks "Run your first command"', async function () {
    requireUi(this);
    const api = await healthyAios();
    await runFromPalette('AIOS: Get Started');
    await waitFor(`return document.querySelector('.gettingStartedContainer')?.textContent.includes('Get Started with AIOS Middleware') || null;`);
    const shown = await waitUntil(
      async () => {
        const s = await steps();
        return s.length ? s : undefined;
      },
      10_000,
      'the steps',
    );
    // A Python was found, so the step that says how to give one is left out.
    assert.deepEqual(
      shown.map((s) => s.title),
      ['Your Python service is running', 'Run your first command', 'See it in the telemetry tree', 'Watch the metrics panel', 'Add a command of your own'],
    );

    // The service came up before the walkthrough was first opened (VS Code registers it then, or 5 s after
    // start when offline): its step is ticked all the same.
    assert.equal(shown.find((s) => s.title === 'Your Python service is running')?.done, true, 'the service step is ticked');
    // The selected step's page (media/walkthrough/*.md) renders beside the steps, in a webview.
    await waitFor(`return document.querySelector('.getting-started-media iframe.webview.ready') ? true : null;`);
    await click('.getting-started-step .step-title', 'Run your first command');
    const ran = shown.find((s) => s.title === 'Run your first command')!;
    if (!ran.done) {
      const r = await api.execute({ commandType: 'ECHO', parameters: { walkthrough: true } });
      assert.equal(r.success, true);
    }
    await waitUntil(async () => ((await steps()).find((s) => s.title === 'Run your first command')?.done ? true : undefined), 10_000, 'the step ticked');
    await screenshot('walkthrough');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });
});
