// The README's pictures (`npm run screenshots`, test/host/screenshots.mjs): the status bar with its tooltip,
// the telemetry tree and the metrics panel, in a light and a dark theme, after some everyday traffic. Not a
// test of its own (the *.test.ts suites check what these show); it fails only when a view does not appear.
import * as vscode from 'vscode';
import { Commands, STATUS_BAR_ITEM, Views } from '../../src/shared/ids';
import { expandTreeSection, hover, press, requireUi, screenshotOf, statusBarTooltip, waitFor, webviewEvaluate } from './ui';
import { aios, waitUntil } from './util';

const THEMES = [
  ['light', 'Light 2026'],
  ['dark', 'Dark 2026'],
] as const;
const PANEL = 'AIOS Metrics';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('README screenshots', function () {
  this.timeout(240_000);

  it('takes the status bar, the tree and the panel in a light and a dark theme', async function () {
    requireUi(this);
    const api = await aios();
    await waitUntil(() => api.context.supervisor.state.status === 'healthy', 60_000, 'the service');
    const workbench = vscode.workspace.getConfiguration('workbench');
    const previousTheme = workbench.inspect<string>('colorTheme')?.globalValue;

    // Everyday traffic for about 20 s, so the charts have a history: a mix of types and priorities, bursts
    // that queue behind the limit, a slow one still running, one blocked by the policy, one failing.
    const prompts = ['The keeper of the light', 'A model of the sea', 'Night falls on the harbour'];
    const inFlight: Promise<unknown>[] = [];
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 6; i++) {
        const priority = (['HIGH', 'NORMAL', 'LOW'] as const)[(round + i) % 3];
        inFlight.push(
          api.execute({ commandType: 'AI_INFERENCE', priority, parameters: { prompt: prompts[i % 3], maxTokens: 40 + round, seed: round * 10 + i } }),
        );
        inFlight.push(api.execute({ commandType: 'ECHO', priority, parameters: { round, i } }));
      }
      if (round % 4 === 0) inFlight.push(api.execute({ commandType: 'SLEEP', parameters: { seconds: 0.8 } }));
      if (round === 5) inFlight.push(api.execute({ commandType: 'DROP_TABLE', parameters: {} }));
      if (round === 9) inFlight.push(api.execute({ commandType: 'SLEEP', parameters: { seconds: -1 } }));
      await sleep(1000);
    }
    await Promise.all(inFlight);
    // Something waiting and running while the pictures are taken.
    const stop = new AbortController();
    const background = [1, 2, 3, 4, 5, 6].map((i) =>
      api.execute({ commandType: 'SLEEP', priority: i > 4 ? 'LOW' : 'NORMAL', parameters: { seconds: 60 } }, { signal: stop.signal }),
    );

    try {
      for (const [name, theme] of THEMES) {
        await workbench.update('colorTheme', theme, vscode.ConfigurationTarget.Global);
        await waitFor(`return document.querySelector('.monaco-workbench.' + arg) ? true : null;`, name === 'light' ? 'vs' : 'vs-dark');
        await sleep(1000);

        // The tree: In Flight, Overview and Command Types open.
        await vscode.commands.executeCommand('workbench.action.closeAllEditors');
        await vscode.commands.executeCommand(`workbench.view.extension.${Views.container}`);
        await expandTreeSection('In Flight', { alone: false });
        await expandTreeSection('Command Types', { alone: false });
        await sleep(500);
        await screenshotOf(`readme-tree-${name}`, ['.part.sidebar .composite.title', '.part.sidebar .monaco-list-row'], 4);

        // The panel, once its charts have points.
        await vscode.commands.executeCommand(Commands.showMetricsPanel);
        await webviewEvaluate(`return Number(document.querySelector('[data-chart="latency"]')?.dataset.points ?? 0) >= 10 || null;`, undefined, PANEL, 30_000);
        await sleep(1500);
        await screenshotOf(`readme-panel-${name}`, ['.part.editor']);

        // The status bar's item and its tooltip (the mouse leaves it first: a hover shows once per entry).
        await hover('.part.sidebar .composite.title');
        await sleep(500);
        await statusBarTooltip(STATUS_BAR_ITEM, /Limit/);
        await sleep(300);
        await screenshotOf(`readme-status-bar-${name}`, [`.statusbar-item[id$="${STATUS_BAR_ITEM}"]`, '.workbench-hover, .monaco-hover'], 8);
        // The tooltip (it holds while the mouse is over it) must not show in the next theme's pictures.
        await hover('.part.sidebar .composite.title');
        await press('Escape');
        await waitFor(`return [...document.querySelectorAll('.monaco-hover, .workbench-hover')].every((e) => e.offsetParent === null) || null;`);
        await vscode.commands.executeCommand('workbench.action.focusActiveEditorGroup');
      }
    } finally {
      stop.abort();
      await Promise.all(background);
      await workbench.update('colorTheme', previousTheme, vscode.ConfigurationTarget.Global);
    }
  });
});
