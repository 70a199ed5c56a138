// A real window reload ("Developer: Reload Window", so the workbench saves its state as it does for a user).
// The suite runs twice in the same window: the first run leaves the metrics panel open with history in its
// charts, notes what it saw in a hand-over file and reloads; the reload starts the suite again, which finds
// the file and checks that VS Code restored the panel through our serializer, that its history survived
// (webview state), and that the new extension host feeds it live numbers, all without anyone opening it.
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { requireUi, screenshot, webviewEvaluate } from './ui';
import { aios, waitUntil } from './util';

const TITLE = 'AIOS Metrics';
const handOver = join(process.env.AIOS_TEST_RESULTS ?? '.', 'reload-hand-over.json');
const reloaded = existsSync(handOver);

interface HandOver {
  points: number;
  pid: number;
  /** The commandId of an ECHO run just before the reload: Recent Events must show it after. */
  lastCommandId: string;
}

const panelData = () =>
  webviewEvaluate<{ total: string | undefined; points: number; restored: string | undefined; service: string | undefined }>(
    `return {
       total: document.querySelector('[data-metric="totalCommands"]')?.dataset.value,
       points: Number(document.querySelector('[data-chart="latency"]')?.dataset.points ?? 0),
       restored: document.documentElement.dataset.restored,
       service: document.querySelector('.service')?.dataset.status,
     };`,
    undefined,
    TITLE,
    30_000,
  );

if (!reloaded) {
  describe('before a window reload', function () {
    this.timeout(90_000);
    it('leaves the metrics panel open with live numbers and chart history (reload, first load)', async function () {
      requireUi(this);
      const api = await aios();
      await waitUntil(() => api.context.supervisor.state.status === 'healthy', 30_000, 'the service');
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
      await vscode.commands.executeCommand('aios.showMetricsPanel');
      for (let i = 0; i < 20; i++) {
        await api.execute({ commandType: 'ECHO', parameters: { i } });
        await new Promise((r) => setTimeout(r, 150));
      }
      const total = String(api.telemetry('SUMMARY').overall.totalCommands);
      const data = await waitUntil(
        async () => {
          const d = await panelData();
          return d.total === total && d.points >= 3 ? d : undefined;
        },
        30_000,
        'the panel to show the numbers and some history',
      );
      await screenshot('reload-before');
      // Control state the user set: it must be back on the new window's service.
      const level = await api.context.control({ operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG' });
      assert.equal(level.success, true, JSON.stringify(level.error));
      const last = await api.execute({ commandType: 'ECHO', parameters: { before: 'reload' } });
      // The event has reached the disk before the window goes (the writer flushes on an interval).
      await api.context.middleware.flush();
      writeFileSync(
        handOver,
        JSON.stringify({ points: data.points, pid: api.context.supervisor.state.pid ?? 0, lastCommandId: last.commandId } satisfies HandOver),
      );
      // This extension host ends here; the suite's second run reports for both.
      void vscode.commands.executeCommand('workbench.action.reloadWindow');
      await new Promise((r) => setTimeout(r, 60_000));
      assert.fail('the window did not reload');
    });
  });
}

if (reloaded) {
  describe('after a window reload', function () {
    this.timeout(90_000);
    it('restores the metrics panel with its history, fed live again by a new extension host (reload, second load)', async function () {
      requireUi(this);
      const before = JSON.parse(readFileSync(handOver, 'utf8')) as HandOver;
      const api = await aios();
      await waitUntil(() => api.context.supervisor.state.status === 'healthy', 30_000, 'the service');
      assert.notEqual(api.context.supervisor.state.pid, before.pid, 'a new window started its own service');
      // Nobody opens the panel here: VS Code restored it and called our serializer.
      const restored = await waitUntil(
        async () => {
          const d = await panelData();
          return d.restored !== undefined ? d : undefined; // its script has run
        },
        30_000,
        'the restored panel to load',
      );
      assert.equal(restored.restored, 'true', 'the webview came back with its saved state');
      assert.ok(restored.points >= before.points, `chart history survived the reload: ${before.points} → ${restored.points} points`);
      await api.execute({ commandType: 'ECHO', parameters: { after: 'reload' } });
      const total = String(api.telemetry('SUMMARY').overall.totalCommands);
      await waitUntil(async () => ((await panelData()).total === total ? true : undefined), 30_000, `the revived panel to show ${total} commands`);
      assert.equal((await panelData()).service, 'healthy');
      await screenshot('reload-after');
    });

    it('re-applies the log level set before the reload, and Recent Events shows the commands from before (reload, second load)', async () => {
      const before = JSON.parse(readFileSync(handOver, 'utf8')) as HandOver;
      const api = await aios();
      try {
        await waitUntil(() => api.context.supervisor.state.status === 'healthy', 30_000, 'the service');
        const health = await api.context.supervisor.checkHealth();
        assert.equal(health?.logLevel, 'DEBUG', 'the log level set before the reload is back on the new service');
        const recent = await waitUntil(
          () => {
            const events = api.context.middleware.telemetry.recentEvents();
            return events.some((e) => e.commandId === before.lastCommandId) ? events : undefined;
          },
          10_000,
          'the command from before the reload in Recent Events',
        );
        assert.ok(recent.filter((e) => e.commandId === before.lastCommandId).length >= 2, 'its START and COMPLETE');
      } finally {
        await api.context.control({ operation: 'UPDATE_LOG_LEVEL', value: 'INFO' });
      }
    });
  });
}
