// The user interface as a user meets it, in the real host through the browser: the palette, the
// telemetry tree, the status bar under load, settings applied live, cancelling a throttled command.
import * as assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { AiosApi } from './util';
import { readPythonSettings } from '../../src/settings';
import { TelemetrySourceFilter } from '../../src/views/sourceFilter';
import { TelemetryTreeProvider } from '../../src/views/telemetryTree';
import {
  NOTIFICATION_ITEM,
  click,
  expandTreeSection,
  lastTreeRow,
  onScreen,
  notificationTexts,
  press,
  requireUi,
  rightClick,
  runCommandFromPalette,
  screenshot,
  statusBarText,
  treeRows,
  waitFor,
  webviewEvaluate,
} from './ui';
import { healthyAios, waitUntil, withSettings } from './util';

/**
 * Runs ECHO from the palette, waits for its progress notification (`notice`), clicks the notification's
 * Cancel and checks that the ECHO ended in CANCEL. `shot` names a screenshot of the notification.
 */
async function cancelEchoFromItsNotification(api: AiosApi, priority: string, parameters: string, notice: RegExp, what: string, shot?: string): Promise<void> {
  const cancelsBefore = api.telemetry('SUMMARY').overall.cancelledCommands;
  await runCommandFromPalette('ECHO', priority, parameters);
  await waitUntil(async () => ((await notificationTexts()).some((x) => notice.test(x)) ? true : undefined), 10_000, what);
  if (shot) await screenshot(shot);
  await click(`${NOTIFICATION_ITEM} .monaco-button`, 'Cancel');
  await waitUntil(() => api.telemetry('SUMMARY').overall.cancelledCommands === cancelsBefore + 1, 10_000, 'the CANCEL');
  assert.equal(
    api
      .telemetry('DETAILED')
      .recentEvents.filter((e) => e.eventType === 'CANCEL')
      .pop()?.commandType,
    'ECHO',
  );
}

/**
 * With one slot and the given backoff, runs `body` while a SLEEP holds the slot. The SLEEP is long and is
 * cancelled when `body` is done, so a slow machine (palette steps taking seconds) cannot free the slot early.
 */
async function withTheOnlySlotBusy(api: AiosApi, delays: { baseDelayMs: number; maxDelayMs: number }, body: () => Promise<void>): Promise<void> {
  await withSettings({ maxConcurrency: 1, ...delays }, async () => {
    await waitUntil(() => api.context.middleware.admission.limit === 1, 5000, 'limit 1');
    const blocker = api.execute({ commandType: 'SLEEP', parameters: { seconds: 120 } });
    await waitUntil(() => api.context.middleware.admission.active === 1, 5000, 'the slot to be taken');
    try {
      await body();
    } finally {
      const flight = api.context.middleware.inFlight().find((f) => f.commandType === 'SLEEP' && f.stage === 'running');
      if (flight) api.context.middleware.cancel(flight.commandId, 'the test is done with the slot');
    }
    assert.equal((await blocker).error?.code, 'cancelled', 'the slot was held until the test let it go');
  });
}

async function setTheme(name: string): Promise<void> {
  await vscode.workspace.getConfiguration('workbench').update('colorTheme', name, vscode.ConfigurationTarget.Global);
  await new Promise((r) => setTimeout(r, 800)); // let the workbench repaint
}

describe('the user interface', function () {
  this.timeout(120_000);
  let api: AiosApi;

  before(async () => {
    api = await healthyAios();
  });

  afterEach(async () => {
    api.context.middleware.resume();
  });

  it('"AIOS: Run Command…" from the palette runs ECHO and its events appear in the telemetry tree', async function () {
    requireUi(this);
    const before = api.telemetry('SUMMARY').overall.totalCommands;
    await runCommandFromPalette('ECHO', 'HIGH', '{"from": "the palette"}');
    await waitUntil(() => api.telemetry('SUMMARY').overall.totalCommands > before, 20_000, 'the command to finish');
    const event = api
      .telemetry('DETAILED')
      .recentEvents.filter((e) => e.commandType === 'ECHO')
      .pop();
    assert.equal(event?.eventType, 'COMPLETE');
    assert.equal(event?.priority, 'HIGH');

    // Recent Events is oldest first: the ECHO is at the bottom, where a user scrolls to.
    await expandTreeSection('Recent Events');
    await lastTreeRow('COMPLETE ECHO');
    await expandTreeSection('Command Types');
    const rows = await waitUntil(
      async () => {
        const r = await treeRows('Telemetry');
        return r.some((l) => /^ECHO/.test(l)) ? r : undefined;
      },
      10_000,
      'ECHO under Command Types',
    );
    assert.ok(
      rows.some((l) => /^Overview/.test(l)),
      'Overview section',
    );
    await screenshot('ui-tree-after-palette-run');
    const notes = await waitUntil(
      async () => {
        const t = await notificationTexts();
        return t.some((x) => /ECHO done in \d+ ms/.test(x)) ? t : undefined;
      },
      10_000,
      'the result notification',
    );
    assert.ok(
      notes.some((x) => x.includes('"from":"the palette"')),
      notes.join('\n'),
    );
    await vscode.commands.executeCommand('notifications.clearAll');
  });

  it('a burst over the limit throttles: the status bar warns, THROTTLE events are recorded, all finish', async () => {
    // A backoff of 1 s: long enough for the status bar (rendered every 250 ms at most) to show it.
    await withSettings({ maxConcurrency: 1, baseDelayMs: 1000 }, async () => {
      await waitUntil(() => api.context.middleware.admission.limit === 1, 5000, 'the limit to apply');
      const throttledBefore = api.telemetry('SUMMARY').overall.throttledCommands;
      const burst = Array.from({ length: 6 }, (_, i) =>
        api.execute({ commandType: 'SLEEP', priority: i % 2 ? 'LOW' : 'NORMAL', parameters: { seconds: 0.4 } }),
      );
      if (onScreen()) {
        // The commands over the limit wait out their backoff before they may start, and the text says so.
        const label = await statusBarText('aios.status', /queued \(\d in backoff\)/);
        assert.match(label, /1\/1 · 5 queued \(\d in backoff\)/);
        await screenshot('ui-status-bar-throttling');
      }
      const results = await Promise.all(burst);
      assert.ok(
        results.every((r) => r.success),
        JSON.stringify(results.filter((r) => !r.success)),
      );
      assert.ok(results.filter((r) => r.throttled).length >= 4, 'commands over the limit were delayed');
      assert.ok(api.telemetry('SUMMARY').overall.throttledCommands >= throttledBefore + 4);
      if (onScreen()) await statusBarText('aios.status', /AIOS 0\/1/);
    });
  });

  it('settings apply live, and an invalid value is refused with a clear message and the old value kept', async function () {
    await withSettings({ maxConcurrency: 3 }, async () => {
      await waitUntil(() => api.context.middleware.admission.limit === 3, 5000, 'limit 3');
      if (onScreen()) await statusBarText('aios.status', /\/3/);
      await vscode.workspace.getConfiguration('aios').update('maxConcurrency', 0, vscode.ConfigurationTarget.Global);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(api.context.middleware.admission.limit, 3, 'the previous value is kept');
      if (onScreen()) {
        const toasts = await waitUntil(
          async () => {
            const t = await notificationTexts();
            return t.some((x) => /maxConcurrency/.test(x)) ? t : undefined;
          },
          10_000,
          'the warning about maxConcurrency',
        );
        assert.ok(
          toasts.some((x) => /aios\.maxConcurrency must be an integer from 1 to 256 \(got 0\)/.test(x)),
          toasts.join('\n'),
        );
        await screenshot('ui-invalid-setting');
        await vscode.commands.executeCommand('notifications.clearAll');
      }
    });
  });

  it('a throttled command run from the palette shows a cancellable progress notification; Cancel ends it in CANCEL', async function () {
    requireUi(this);
    await withTheOnlySlotBusy(api, { baseDelayMs: 4000, maxDelayMs: 8000 }, () =>
      cancelEchoFromItsNotification(api, 'NORMAL', '{}', /queued, position \d+ · backoff [\d.]+ s left/, 'the throttle progress', 'ui-throttle-progress'),
    );
  });

  it('a short backoff then a wait in the queue moves the progress to a notification whose Cancel works', async function () {
    requireUi(this);
    await withTheOnlySlotBusy(api, { baseDelayMs: 200, maxDelayMs: 400 }, () =>
      cancelEchoFromItsNotification(api, 'LOW', '{}', /queued, position 1/, 'the queued notification'),
    );
    await vscode.commands.executeCommand('notifications.clearAll');
  });

  it('a command waiting for the service to start says so, and its Cancel means it is never sent', async function () {
    requireUi(this);
    if (process.platform === 'win32') this.skip(); // the slow interpreter below is a shell script
    // An interpreter whose version probe takes 6 s (the service itself then runs on the sys.executable the
    // probe reports): switching to it leaves the service down long enough to see and cancel the notice.
    const dir = mkdtempSync(join(tmpdir(), 'aios-slow-python-'));
    const slow = join(dir, 'python3');
    writeFileSync(slow, '#!/bin/sh\nsleep 6\nexec python3 "$@"\n', { mode: 0o755 });
    try {
      await withSettings({ 'python.interpreterPath': slow }, async () => {
        await waitUntil(() => (api.context.supervisor.state.status === 'starting' ? true : undefined), 10_000, 'the restart to begin');
        await cancelEchoFromItsNotification(
          api,
          'NORMAL',
          '{"waited": true}',
          /waiting for the Python service/,
          'the waiting notification',
          'ui-waiting-for-service',
        );
        await waitUntil(() => (api.context.supervisor.state.status === 'healthy' ? true : undefined), 30_000, 'the slow start to finish');
        assert.match(api.context.supervisor.state.interpreter ?? '', /aios-slow-python/);
        const health = await api.context.supervisor.checkHealth();
        assert.equal(health?.bcm.ECHO?.calls ?? 0, 0, 'the service started after the Cancel never ran the ECHO');
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await vscode.commands.executeCommand('notifications.clearAll');
    }
    await waitUntil(
      () => (api.context.supervisor.isReady && !/aios-slow-python/.test(api.context.supervisor.state.interpreter ?? '') ? true : undefined),
      30_000,
      'the usual interpreter again',
    );
  });

  it('a tree shown while stale catches up in the same turn, not a debounce later (rows must not move under a first click)', async () => {
    // The tree's own provider on a view of the test's making, hidden, so what it does when shown can be counted.
    const visibility = new vscode.EventEmitter<vscode.TreeViewVisibilityChangeEvent>();
    const never = new vscode.EventEmitter<never>().event;
    const view = {
      visible: false,
      selection: [],
      title: '',
      onDidChangeVisibility: visibility.event,
      onDidExpandElement: never,
      onDidCollapseElement: never,
      onDidChangeSelection: never,
    };
    const filter = new TelemetrySourceFilter(api.context.extension.workspaceState);
    const tree = new TelemetryTreeProvider(api.context, filter);
    let fired = 0;
    const sub = tree.onDidChangeTreeData(() => fired++);
    try {
      tree.attach(view as unknown as vscode.TreeView<never>);
      assert.ok((await api.execute({ commandType: 'ECHO', parameters: {} })).success); // the sections, not the welcome view
      const roots = tree.getChildren();
      const events = roots.find((n) => tree.getTreeItem(n).label === 'Recent Events');
      assert.ok(events, 'the Recent Events section');
      tree.getChildren(events); // shown open, as a user who expanded it has it
      await new Promise((r) => setTimeout(r, 700)); // past the debounce: what is pending now is from below
      fired = 0;
      const marker = `stale-${Date.now()}`;
      assert.ok((await api.execute({ commandType: 'ECHO', parameters: { marker } })).success);
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(fired, 0, 'nothing is refreshed while the view is hidden');
      view.visible = true;
      visibility.fire({ visible: true });
      assert.ok(fired > 0, 'refreshed in the turn the view was shown');
      const rows = tree.getChildren(events).map((n) => {
        const label = tree.getTreeItem(n).label;
        return typeof label === 'string' ? label : (label?.label ?? '');
      });
      assert.ok(
        rows.some((l) => l.includes('COMPLETE ECHO')),
        rows.join('\n'),
      );
    } finally {
      sub.dispose();
      tree.dispose();
      filter.dispose();
      visibility.dispose();
    }
  });

  it("the tree's context menu copies an event as JSON", async function () {
    requireUi(this);
    await api.execute({ commandType: 'ECHO', parameters: { copy: 'me' } });
    await expandTreeSection('Recent Events');
    await vscode.env.clipboard.writeText('');
    // The newest event (the one just run) is the last COMPLETE ECHO under Recent Events (oldest first). The
    // menu lists Run Again, then Copy Event JSON; a keyboard user picks it the same way. Once: the rows stay in
    // place and the menu stays open while other events arrive.
    const clipboard = async () => (await vscode.env.clipboard.readText()) || undefined;
    await rightClick(`.pane .monaco-list-row[data-index="${await lastTreeRow('COMPLETE ECHO')}"]`);
    await waitFor(`return document.querySelector('.context-view') && document.querySelector('.context-view').offsetParent !== null || null;`);
    await press('ArrowDown', 'ArrowDown', 'Enter');
    const copied = await waitUntil(clipboard, 5000, 'the clipboard');
    const event = JSON.parse(copied);
    assert.equal(event.eventType, 'COMPLETE');
    assert.equal(event.commandType, 'ECHO');
    assert.equal(typeof event.durationMs, 'number');
    assert.match(event.timestamp, /^\d{4}-\d\d-\d\dT.*Z$/);
  });

  it("the metrics panel shows the middleware's own figures as commands run", async function () {
    requireUi(this);
    await vscode.commands.executeCommand('aios.showMetricsPanel');
    for (let i = 0; i < 3; i++) await api.execute({ commandType: 'ECHO', parameters: { i } });
    await api.execute({ commandType: 'DROP_EVERYTHING' });
    const overall = api.telemetry('SUMMARY').overall;
    const shown = await waitUntil(
      async () => {
        const v = await webviewEvaluate<Record<string, string>>(
          `const out = {}; for (const dd of document.querySelectorAll('[data-metric]')) out[dd.dataset.metric] = dd.dataset.value; return out;`,
          undefined,
          'AIOS Metrics',
        );
        return Number(v.totalCommands) === overall.totalCommands ? v : undefined;
      },
      15_000,
      `the panel to show ${overall.totalCommands} commands`,
    );
    assert.equal(Number(shown.blockedCommands), overall.blockedCommands);
    assert.ok(overall.blockedCommands >= 1);
    assert.equal(Number(shown.failedCommands), overall.failedCommands);
    await screenshot('ui-panel-live');
  });

  it('"AIOS: Show Telemetry" opens the report as a read-only JSON document', async () => {
    const doc = await vscode.commands.executeCommand<vscode.TextDocument>('aios.showTelemetry', 'REALTIME');
    assert.equal(doc.uri.scheme, 'aios-telemetry');
    assert.equal(doc.languageId, 'json');
    const report = JSON.parse(doc.getText());
    assert.equal(report.level, 'REALTIME');
    assert.ok(report.overall.totalCommands > 0);
    assert.ok(report.admission && report.system && report.service);
    assert.equal(report.service.status, 'healthy');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('pausing admission holds new commands until resumed', async () => {
    await vscode.commands.executeCommand('aios.pauseAdmission');
    const pending = api.execute({ commandType: 'ECHO', parameters: { paused: true } });
    await waitUntil(() => api.context.middleware.admission.queued.NORMAL === 1, 5000, 'the command to wait');
    if (onScreen()) assert.match(await statusBarText('aios.status', /paused/), /paused/);
    await vscode.commands.executeCommand('aios.resumeAdmission');
    assert.equal((await pending).success, true);
  });

  it('an untrusted workspace cannot choose the interpreter', async () => {
    const cfg = vscode.workspace.getConfiguration('aios.python');
    await cfg.update('interpreterPath', '/workspace/chosen/python', vscode.ConfigurationTarget.Workspace);
    try {
      assert.equal(readPythonSettings(undefined, true).settings.interpreterPath, '/workspace/chosen/python');
      assert.equal(readPythonSettings(undefined, false).settings.interpreterPath, undefined);
    } finally {
      await cfg.update('interpreterPath', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });

  it('"AIOS: Clear Telemetry" empties the statistics, and the tree shows its welcome view', async function () {
    await vscode.commands.executeCommand('workbench.view.extension.aios');
    const cleared = await vscode.commands.executeCommand('aios.clearTelemetry', { confirm: true });
    assert.equal(cleared, true);
    assert.equal(api.telemetry('SUMMARY').overall.totalCommands, 0);
    if (onScreen()) {
      await waitFor(
        `return [...document.querySelectorAll('.pane .welcome-view-content')].some((e) => e.textContent.includes('No commands have run yet')) || null;`,
      );
      await screenshot('ui-tree-welcome');
    }
    const r = await api.execute({ commandType: 'ECHO', parameters: {} });
    assert.equal(r.success, true);
    assert.equal(api.telemetry('SUMMARY').overall.totalCommands, 1);
  });

  it('looks right in light and dark themes (status bar, tree, panel)', async function () {
    requireUi(this);
    const original = vscode.workspace.getConfiguration('workbench').inspect('colorTheme')?.globalValue;
    try {
      await vscode.commands.executeCommand('workbench.view.extension.aios');
      await vscode.commands.executeCommand('aios.showMetricsPanel');
      for (const [name, file] of [
        ['Default Light Modern', 'light'],
        ['Default Dark Modern', 'dark'],
        ['Default High Contrast', 'high-contrast'],
      ]) {
        await setTheme(name);
        await screenshot(`ui-${file}`);
      }
    } finally {
      await vscode.workspace.getConfiguration('workbench').update('colorTheme', original, vscode.ConfigurationTarget.Global);
    }
  });
});
