// The daily flows as a user meets them, in the real host through the browser: a running command is visible and
// can be stopped, results in full, Run Command remembers, control operations say what they did, control state
// survives a restart, and the worker pool follows the concurrency limit.
import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { Commands, STATUS_BAR_ITEM } from '../../src/shared/ids';
import {
  NOTIFICATION_ITEM,
  QUICK_INPUT_TITLE,
  answerQuickInput,
  click,
  evaluate,
  expandTreeSection,
  lastTreeRow,
  fill,
  markElement,
  notificationTexts,
  personClick,
  press,
  requireUi,
  runCommandFromPalette,
  runFromPalette,
  screenshot,
  sideBarTitle,
  statusBarText,
  stillMarked,
  treeRows,
  waitFor,
  webviewEvaluate,
} from './ui';
import { healthyAios, waitUntil, withSettings, type AiosApi } from './util';

/** The rows of the open quick pick, as a user reads them. */
const quickPickRows = () =>
  evaluate<string[]>(
    `return [...document.querySelectorAll('.quick-input-widget .quick-input-list .monaco-list-row')].map((r) => r.textContent.replace(/\\u00a0/g, ' '));`,
  );

/** The value in the open quick input's box. */
const quickInputValue = () => evaluate<string>(`return document.querySelector('.quick-input-widget input')?.value ?? '';`);

async function closeQuickInput(): Promise<void> {
  await press('Escape');
  await waitFor(`const t = (() => { ${QUICK_INPUT_TITLE} })(); return t === null ? true : null;`);
}

/** The palette's rows, in order, for `text` typed as a user types it (the palette is closed again). */
async function paletteRows(text: string): Promise<string[]> {
  // As View > Command Palette opens it (F1 does not reach the workbench from a focused terminal).
  await vscode.commands.executeCommand('workbench.action.showCommands');
  await waitFor(
    `return document.querySelector('.quick-input-widget input') && document.querySelector('.quick-input-widget').offsetParent !== null ? true : null;`,
  );
  await fill('.quick-input-widget input', `>${text}`);
  // The list settles once the matches are rendered (rows sorted by data-index, as they show).
  const rows = await waitFor<string[]>(
    `const rows = [...document.querySelectorAll('.quick-input-widget .quick-input-list .monaco-list-row[data-index]')]
       .sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index))
       .map((r) => (r.querySelector('.label-name')?.textContent ?? r.textContent).replace(/\u00a0/g, ' ').trim());
     return rows.length > 0 && rows.some((r) => r.startsWith(arg)) ? rows : null;`,
    text.split(' ')[0],
  );
  await press('Escape');
  return rows;
}

async function clearNotifications(): Promise<void> {
  await vscode.commands.executeCommand('notifications.clearAll');
}

/** Waits until the Python service has no busy worker: a cancelled SLEEP really stopped in Python. */
async function serviceIdle(api: AiosApi, what: string): Promise<void> {
  await waitUntil(async () => ((await api.context.supervisor.checkHealth())?.workers.busy === 0 ? true : undefined), 10_000, what);
}

describe('the daily flows', function () {
  this.timeout(120_000);
  let api: AiosApi;

  before(async () => {
    api = await healthyAios();
  });

  afterEach(async () => {
    for (const f of api.context.middleware.inFlight()) api.context.middleware.cancel(f.commandId, 'test clean-up');
    await clearNotifications();
  });

  it('a running command shows as progress, then a notification with Cancel; the tree lists it and its inline Cancel stops it in Python', async function () {
    requireUi(this);
    const cancelsBefore = api.telemetry('SUMMARY').overall.cancelledCommands;
    await runCommandFromPalette('SLEEP', 'NORMAL', '{"seconds": 60}');
    await waitUntil(() => api.context.middleware.inFlight().some((f) => f.commandType === 'SLEEP' && f.stage === 'running'), 10_000, 'the SLEEP to run');
    // Past a second it moves from the window's progress area to a notification with Cancel.
    await waitUntil(
      async () => ((await notificationTexts()).some((t) => /AIOS: SLEEP.*running/.test(t) && /Cancel/.test(t)) ? true : undefined),
      10_000,
      'the progress notification',
    );
    await screenshot('daily-running-notification');

    await expandTreeSection('In Flight');
    const rows = await waitUntil(
      async () => {
        const r = await treeRows('Telemetry');
        return r.some((l) => /^In Flight.*1 running · 0 queued/.test(l)) && r.some((l) => /SLEEP.*running since \d\d:\d\d:\d\d · NORMAL/.test(l))
          ? r
          : undefined;
      },
      10_000,
      'the In Flight section with the SLEEP',
    );
    assert.ok(rows.length > 0);
    // Select the row, then its inline action (shown for the focused row).
    await click('.pane .monaco-list-row', 'running since');
    await screenshot('daily-tree-running');
    await click('.pane .monaco-list-row.focused .action-label[aria-label="Cancel"]');
    await waitUntil(() => api.telemetry('SUMMARY').overall.cancelledCommands === cancelsBefore + 1, 10_000, 'the CANCEL');
    const cancel = api
      .telemetry('DETAILED')
      .recentEvents.filter((e) => e.eventType === 'CANCEL')
      .pop();
    assert.equal(cancel?.commandType, 'SLEEP');
    assert.equal(cancel?.metadata?.by, 'user');
    assert.equal(cancel?.metadata?.stage, 'running');
    await serviceIdle(api, 'the SLEEP to stop in the service long before its 60 s');
  });

  it('"AIOS: Cancel Running Command…" lists what runs and waits, and cancels the chosen one', async function () {
    requireUi(this);
    // With nothing to cancel the palette leaves it out: "AIOS: Run Command" typed in full is Run Command.
    await waitUntil(() => api.context.middleware.inFlight().length === 0 || undefined, 10_000, 'no command in flight');
    let idle: string[] = [];
    await waitUntil(
      async () => {
        idle = await paletteRows('AIOS: Run Command');
        return !idle.some((r) => r.startsWith('AIOS: Cancel Running Command')) || undefined;
      },
      5000,
      'the palette without Cancel Running Command while nothing runs',
    ).catch(() => assert.fail(idle.join('\n')));
    assert.ok(idle.includes('AIOS: Run Command…'), idle.join('\n'));
    await withSettings({ maxConcurrency: 1, baseDelayMs: 0 }, async () => {
      await waitUntil(() => api.context.middleware.admission.limit === 1, 5000, 'limit 1');
      const running = api.execute({ commandType: 'SLEEP', priority: 'HIGH', parameters: { seconds: 60 } });
      const queued = api.execute({ commandType: 'ECHO', priority: 'LOW', parameters: { waiting: true } });
      await waitUntil(() => api.context.middleware.inFlight().length === 2, 5000, 'two commands in flight');
      // What a user sees before reaching for the palette; the window has the context key by then (it is sent
      // before the status bar's text).
      await statusBarText(STATUS_BAR_ITEM, /1 queued/);
      await waitUntil(
        async () => ((await paletteRows('AIOS: Cancel')).some((r) => r.startsWith('AIOS: Cancel Running Command')) ? true : undefined),
        5000,
        'Cancel Running Command in the palette while commands run',
      );
      await runFromPalette('AIOS: Cancel Running Command');
      await waitFor(`const t = (() => { ${QUICK_INPUT_TITLE} })(); return t !== null && /Cancel Running Command/.test(t) ? true : null;`);
      const items = await quickPickRows();
      assert.ok(
        items.some((r) => /SLEEP.*HIGH · running · [\d.]+ (ms|s)/.test(r)),
        items.join('\n'),
      );
      assert.ok(
        items.some((r) => /ECHO.*LOW · queued/.test(r)),
        items.join('\n'),
      );
      await screenshot('daily-cancel-picker');
      await fill('.quick-input-widget input', 'ECHO');
      await press('Enter');
      const r = await queued;
      assert.equal(r.error?.code, 'cancelled');
      assert.match(r.error.message, /from the list of running commands/);
      assert.equal(api.context.middleware.inFlight().length, 1, 'the SLEEP runs on');
      assert.equal(await vscode.commands.executeCommand<boolean>(Commands.cancelCommand, api.context.middleware.inFlight()[0].commandId), true);
      assert.equal((await running).error?.code, 'cancelled');
    });
    await serviceIdle(api, 'the cancelled SLEEP to stop in the service');
  });

  it('a result notification opens the whole result as a read-only document, and copies it', async function () {
    requireUi(this);
    await clearNotifications();
    const parameters = { full: 'x'.repeat(300), nested: { list: [1, 2, 3] } };
    await runCommandFromPalette('ECHO', 'HIGH', JSON.stringify(parameters));
    await waitUntil(async () => ((await notificationTexts()).some((t) => /ECHO done in \d+ ms/.test(t)) ? true : undefined), 10_000, 'the result notification');
    await screenshot('daily-result-notification');
    await click(`${NOTIFICATION_ITEM} .monaco-button`, 'Show Result');
    const doc = await waitUntil(
      () => (vscode.window.activeTextEditor?.document.uri.scheme === 'aios-result' ? vscode.window.activeTextEditor.document : undefined),
      10_000,
      'the result document',
    );
    assert.deepEqual(JSON.parse(doc.getText()), parameters, 'the whole result, not the 120-character preview');
    assert.equal(doc.languageId, 'json');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');

    // A button closes its notification: a second run for Copy.
    await clearNotifications();
    await runCommandFromPalette('ECHO', 'HIGH', JSON.stringify(parameters));
    await waitUntil(
      async () => ((await notificationTexts()).some((t) => /ECHO done in \d+ ms/.test(t)) ? true : undefined),
      10_000,
      'the second result notification',
    );
    await vscode.env.clipboard.writeText('');
    await click(`${NOTIFICATION_ITEM} .monaco-button`, 'Copy');
    const copied = await waitUntil(async () => (await vscode.env.clipboard.readText()) || undefined, 5000, 'the clipboard');
    assert.deepEqual(JSON.parse(copied), parameters);
  });

  it('Run Command remembers the last priority and parameters of a type, and offers a typed name as an item', async function () {
    requireUi(this);
    const parameters = { remembered: Date.now() };
    await runCommandFromPalette('ECHO', 'LOW', JSON.stringify(parameters));
    await waitUntil(() => api.context.middleware.inFlight().length === 0, 10_000, 'the ECHO to end');

    await runFromPalette('AIOS: Run Command');
    await waitFor(`const t = (() => { ${QUICK_INPUT_TITLE} })(); return t !== null && /\\(1\\/3\\)/.test(t) ? true : null;`);
    await fill('.quick-input-widget input', 'A_TYPE_NOBODY_REGISTERED');
    const typed = await waitUntil(
      async () => {
        const r = await quickPickRows();
        return r.some((x) => /A_TYPE_NOBODY_REGISTERED.*run this command type/.test(x)) ? r : undefined;
      },
      10_000,
      'the typed name offered as an item',
    );
    assert.ok(typed.length > 0);
    await screenshot('daily-typed-type');
    // The beginning of a known type and Enter at once (no wait for the list) picks that type, as any quick
    // pick picks its best match.
    await fill('.quick-input-widget input', 'ECH');
    await press('Enter');
    const step2 = await waitFor<string>(`const t = (() => { ${QUICK_INPUT_TITLE} })(); return t !== null && /\\(2\\/3\\)/.test(t) ? t : null;`);
    assert.match(step2, /Run ECHO \(2\/3\)/);
    const priorities = await quickPickRows();
    assert.match(
      priorities[0],
      /^LOW.*used last time/,
      `${priorities.join('\n')}\nremembered: ${JSON.stringify(api.context.extension.workspaceState.get('aios.runCommand.last'))}`,
    );
    await press('Enter');
    await waitFor(`const t = (() => { ${QUICK_INPUT_TITLE} })(); return t !== null && /\\(3\\/3\\)/.test(t) ? true : null;`);
    assert.deepEqual(JSON.parse(await quickInputValue()), parameters, 'the last parameters of ECHO');
    await closeQuickInput();
  });

  it('a type the security policy blocks is refused as soon as it is picked, before any other question', async function () {
    requireUi(this);
    const before = api.telemetry('SUMMARY').overall.totalCommands;
    await runFromPalette('AIOS: Run Command');
    await answerQuickInput(/\(1\/3\): command type/, 'TABLE_DROP');
    await waitUntil(
      async () => ((await notificationTexts()).some((t) => /TABLE_DROP' is blocked by the deny pattern '\*DROP\*'.*It was not run/.test(t)) ? true : undefined),
      10_000,
      'the blocked notice',
    );
    const title = await evaluate<string | null>(QUICK_INPUT_TITLE);
    assert.ok(title === null || !/\(2\/3\)/.test(title), 'no priority question after a blocked type');
    assert.equal(api.telemetry('SUMMARY').overall.totalCommands, before, 'nothing was run');
  });

  it('a custom control command lists its hints, starts from its own sample arguments, and shows what it returned', async function () {
    requireUi(this);
    await runFromPalette('AIOS: Send Control Command');
    await waitFor(`const t = (() => { ${QUICK_INPUT_TITLE} })(); return t !== null && /control command/.test(t) ? true : null;`);
    const commands = await waitUntil(
      async () => {
        const r = await quickPickRows();
        return r.some((x) => /reduce_complexity/.test(x)) ? r : undefined;
      },
      10_000,
      'the control commands',
    );
    assert.ok(
      commands.some((x) => /reduce_complexity.*arguments: factor/.test(x)),
      commands.join('\n'),
    );
    await fill('.quick-input-widget input', 'reduce_complexity');
    await press('Enter');
    await waitFor(`const t = (() => { ${QUICK_INPUT_TITLE} })(); return t !== null && /reduce_complexity: arguments/.test(t) ? true : null;`);
    assert.deepEqual(JSON.parse(await quickInputValue()), { factor: 0.5 }, 'the sample arguments of this command');
    await press('Enter');
    const shown = await waitUntil(
      async () => (await notificationTexts()).find((t) => /reduce_complexity returned/.test(t)),
      10_000,
      'the control result notification',
    );
    assert.match(shown, /0\.5/);
    await screenshot('daily-control-result');
    const reset = await api.context.control({ operation: 'CUSTOM_COMMAND', parameters: { command: 'reduce_complexity', arguments: { factor: 1 } } });
    assert.equal(reset.success, true);
  });

  it("the tree's Run Again reruns a command with the parameters it ran with", async function () {
    requireUi(this);
    const marker = `again-${Date.now()}`;
    const ran = await api.execute({ commandType: 'ECHO', parameters: { marker } });
    await clearNotifications();
    // The ECHO's row, found by what it shows (its event and time: no other row reads the same), then its
    // inline Run Again (shown for the focused row). Once each: the rows stay in place, and a selected row's
    // list is held.
    const complete = api.context.middleware.telemetry.recentEvents().find((e) => e.commandId === ran.commandId && e.eventType === 'COMPLETE');
    assert.ok(complete, 'the COMPLETE event of the ECHO');
    await expandTreeSection('Recent Events');
    // The list's header says how to hold it (always the same words: a changed header re-renders its rows).
    assert.ok(
      (await treeRows('Telemetry')).some((l) => /^Recent Events.*select a row to hold the list/.test(l)),
      'the header says a selected row holds the list',
    );
    const index = await lastTreeRow(`COMPLETE ECHO${complete.timestamp.slice(11, 23)}`, 10_000);
    const started = () => api.telemetry('SUMMARY').overall.totalCommands;
    const before = started();
    const rowText = () => evaluate<string>(`return document.querySelector('.pane .monaco-list-row' + arg)?.textContent ?? '';`, `[data-index="${index}"]`);
    const chosen = await rowText();
    await click(`.pane .monaco-list-row[data-index="${index}"]`);
    assert.equal(
      await evaluate<string>(`return document.querySelector('.pane .monaco-list-row.focused')?.textContent ?? '';`),
      chosen,
      'the row clicked is the one chosen (the rows stayed in place)',
    );
    // Holding the list re-renders no row: once the title says it is held (and a refresh that was on its way when
    // the row was clicked has landed), the Run Again the pointer is heading for stays the element on screen. (The
    // list's header said "held" before, and refreshing a header re-renders every row under it.)
    const RUN_AGAIN = '.pane .monaco-list-row.focused .action-label[aria-label="Run Again"]';
    await waitUntil(
      async () => (/Recent Events held while a row is selected/.test(await sideBarTitle()) ? true : undefined),
      5000,
      'the title saying the list is held',
    );
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await markElement(RUN_AGAIN), true, 'the selected row shows Run Again');
    await new Promise((r) => setTimeout(r, 600)); // past the tree's next check
    assert.equal(await stillMarked(RUN_AGAIN), true, 'the same Run Again element while the list is held');
    await personClick(RUN_AGAIN);
    await waitUntil(() => started() > before || undefined, 5000, 'the rerun to run after one click');
    const note = await waitUntil(async () => (await notificationTexts()).find((t) => /ECHO done in/.test(t)), 10_000, 'the rerun result');
    assert.ok(note.includes(marker), `rerun with the same parameters: ${note}`);
  });

  it('raising aios.maxConcurrency grows the service worker pool: more really run at once', async () => {
    await serviceIdle(api, 'earlier commands to be gone from the service');
    await withSettings({ maxConcurrency: 9 }, async () => {
      await waitUntil(async () => ((await api.context.supervisor.checkHealth())?.workers.max ?? 0) >= 9 || undefined, 10_000, 'a pool of 9');
      const sleeps = Array.from({ length: 9 }, () => api.execute({ commandType: 'SLEEP', parameters: { seconds: 30 } }));
      let last: unknown;
      await waitUntil(
        async () => {
          const h = await api.context.supervisor.checkHealth();
          last = h?.workers;
          return h?.workers.busy === 9 ? true : undefined;
        },
        15_000,
        'nine SLEEPs busy at once in the service',
      ).catch((err: Error) => {
        throw new Error(`${err.message}; the service said ${JSON.stringify(last)}, the middleware ${JSON.stringify(api.context.middleware.admission)}`);
      });
      for (const f of api.context.middleware.inFlight()) api.context.middleware.cancel(f.commandId);
      for (const r of await Promise.all(sleeps)) assert.equal(r.error?.code, 'cancelled');
    });
    await serviceIdle(api, 'the SLEEPs to stop');
  });

  it('control state survives a crash (the log says what was re-applied); a fresh restart forgets it', async () => {
    const set = await api.context.control({ operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG' });
    assert.equal(set.success, true);
    const pid = api.context.supervisor.state.pid!;
    process.kill(pid, 'SIGKILL');
    await waitUntil(
      () => (api.context.supervisor.state.status === 'healthy' && api.context.supervisor.state.pid !== pid ? true : undefined),
      30_000,
      'the restarted service',
    );
    const health = await api.context.supervisor.checkHealth();
    assert.equal(health?.logLevel, 'DEBUG', 'the level set before the crash is back');
    await vscode.commands.executeCommand(Commands.restartPythonServiceFresh);
    await waitUntil(() => (api.context.supervisor.state.status === 'healthy' ? true : undefined), 30_000, 'the fresh service');
    assert.equal((await api.context.supervisor.checkHealth())?.logLevel, 'INFO', 'a fresh restart starts from the config');
  });

  /** Edits `.aios/<name>` in an editor as a user does (replace `from` with `to`, save), runs `body`, then puts the
   *  file back the same way. Returns the 1-based line of the edit. */
  async function withEditedFile(name: string, from: string, to: string, body: (line: number, uri: vscode.Uri) => Promise<void>): Promise<void> {
    const file = join(process.env.AIOS_TEST_WORKSPACE!, '.aios', name);
    const original = readFileSync(file, 'utf8');
    const doc = await vscode.workspace.openTextDocument(file);
    const editor = await vscode.window.showTextDocument(doc);
    const at = doc.getText().indexOf(from);
    assert.ok(at >= 0, `${from} is in ${name}`);
    const range = new vscode.Range(doc.positionAt(at), doc.positionAt(at + from.length));
    try {
      await editor.edit((e) => e.replace(range, to));
      await doc.save();
      await body(range.start.line + 1, doc.uri);
    } finally {
      const whole = new vscode.Range(doc.positionAt(0), doc.positionAt(doc.getText().length));
      await editor.edit((e) => e.replace(whole, original));
      await doc.save();
      if (readFileSync(file, 'utf8') !== original) writeFileSync(file, original);
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    }
  }

  /** The diagnostics AIOS put on `uri` (VS Code's JSON validation may add its own). */
  const ours = (uri: vscode.Uri) => vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'AIOS');

  /** The Problems panel's rows, as a user reads them. */
  async function problemsPanel(): Promise<string[]> {
    // Focus, not toggle: asking twice must not close it.
    await vscode.commands.executeCommand('workbench.panel.markers.view.focus');
    return evaluate<string[]>(
      `return [...document.querySelectorAll('.markers-panel .monaco-list-row')].map((r) => (r.getAttribute('aria-label') || r.textContent).replace(/\u00a0/g, ' '));`,
    );
  }

  it('a broken handlers.py saved in the editor: an error naming the file and line, a diagnostic there, the previous handlers still run; fixing it clears it', async function () {
    requireUi(this);
    await clearNotifications();
    await withEditedFile('handlers.py', 'def summarize(params, ctx):', 'def summarize(params, ctx:', async (line, uri) => {
      const note = await waitUntil(async () => (await notificationTexts()).find((t) => /reload failed/.test(t)), 15_000, 'the reload error');
      assert.match(note, new RegExp(`handlers\\.py, line ${line}`), note);
      assert.match(note, /previous handlers .*stay in force/, note);
      const diags = await waitUntil(() => (ours(uri).length ? ours(uri) : undefined), 10_000, 'the diagnostic');
      assert.equal(diags[0].range.start.line, line - 1, 'on the line the service named');
      assert.equal(diags[0].source, 'AIOS');
      const rows = await waitUntil(
        async () => {
          const r = await problemsPanel();
          return r.some((x) => /SyntaxError/.test(x)) ? r : undefined;
        },
        10_000,
        'the Problems panel row',
      );
      assert.ok(
        rows.some((r) => /stay in force/.test(r)),
        rows.join('\n'),
      );
      await screenshot('daily-reload-problems');
      const stillThere = await api.execute({ commandType: 'WORD_COUNT', parameters: { text: 'the handlers from before still run' } });
      assert.equal(stillThere.success, true, JSON.stringify(stillThere.error));
    });
    const cleared = await waitUntil(
      () => (ours(vscode.Uri.file(join(process.env.AIOS_TEST_WORKSPACE!, '.aios', 'handlers.py'))).length === 0 ? true : undefined),
      15_000,
      'the diagnostic to clear once the file is fixed',
    );
    assert.equal(cleared, true);
  });

  it('a bad value saved in config.json: the error and the Problems panel name its line; the config in force stays', async function () {
    requireUi(this);
    await clearNotifications();
    await withEditedFile('config.json', '"workers": 4', '"workers": -1', async (line, uri) => {
      const note = await waitUntil(async () => (await notificationTexts()).find((t) => /reload failed/.test(t)), 15_000, 'the reload error');
      assert.match(note, new RegExp(`config\\.json, line ${line}`), note);
      assert.match(note, /workers/);
      const diags = await waitUntil(() => (ours(uri).length ? ours(uri) : undefined), 10_000, 'the diagnostic');
      assert.equal(diags[0].range.start.line, line - 1);
      assert.equal((await api.context.supervisor.checkHealth())?.config.workers, 4, 'the config in force stays');
    });
    await waitUntil(
      () => (ours(vscode.Uri.file(join(process.env.AIOS_TEST_WORKSPACE!, '.aios', 'config.json'))).length === 0 ? true : undefined),
      15_000,
      'the diagnostic to clear',
    );
  });

  it("the metrics panel's charts start from the history the middleware already has, not from when it opened", async function () {
    requireUi(this);
    // The host samples once a second from activation on; by now it has at least several seconds of history.
    for (let i = 0; i < 5; i++) await api.execute({ commandType: 'ECHO', parameters: { i } });
    await new Promise((r) => setTimeout(r, 2500));
    const openedAt = Date.now();
    await vscode.commands.executeCommand(Commands.showMetricsPanel);
    const from = await waitUntil(
      async () => {
        const v = await webviewEvaluate<string>(`return document.documentElement.dataset.historyFrom || '';`, undefined, 'AIOS Metrics');
        return v ? Number(v) * 1000 : undefined;
      },
      15_000,
      "the panel's chart history",
    );
    assert.ok(from < openedAt - 2000, `the charts begin ${openedAt - from} ms before the panel opened`);
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('with no usable Python the status bar says so and one notification says how to fix it', async function () {
    requireUi(this);
    await clearNotifications();
    await withSettings({ 'python.interpreterPath': '/nonexistent/python3' }, async () => {
      const label = await statusBarText('aios.status', /no Python/, 30_000);
      assert.match(label, /AIOS: no Python/);
      const notes = await waitUntil(
        async () => {
          const t = (await notificationTexts()).filter((x) => /No Python 3\.9\+ found/.test(x));
          return t.length ? t : undefined;
        },
        10_000,
        'the no-Python notification',
      );
      assert.equal(notes.length, 1, 'one notification');
      assert.match(notes[0], /aios\.python\.interpreterPath/);
      assert.match(notes[0], /Python: Select Interpreter/);
      await screenshot('daily-no-python');
    });
    await waitUntil(() => (api.context.supervisor.state.status === 'healthy' ? true : undefined), 30_000, 'the service back');
  });
});
