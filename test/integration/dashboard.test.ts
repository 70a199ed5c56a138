// The metrics dashboard in a real browser tab against the real extension: the control endpoint serves the
// panel's bundle, the one-time login sets the cookie, SSE moves the counters and charts while commands run,
// a second tab has its own stream, closing a tab frees it, a restart of the endpoint makes the cookie stale,
// and the control buttons appear only with aios.controlServer.dashboardControls (each press a control event).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { Commands } from '../../src/shared/ids';
import { openedTabs, openTab, requireUi, tabClick, tabClose, tabEvaluate, tabInfo, tabScreenshot, tabWaitFor } from './ui';
import { healthyAios, waitUntil, withSettings, type AiosApi } from './util';

const counter = (id: number, key: string) => tabEvaluate<string>(id, `return document.getElementById('metric-' + arg)?.textContent ?? '';`, key);
const snapshotsReceived = (id: number) => tabEvaluate<number>(id, 'return Number(document.documentElement.dataset.snapshotsReceived);');

/** No CSP report, no page error, no console line about a blocked resource. */
async function assertClean(id: number): Promise<void> {
  const info = await tabInfo(id);
  const violations = await tabEvaluate<string>(id, 'return document.documentElement.dataset.cspViolations;');
  assert.equal(violations, '0', `securitypolicyviolation events: ${info.console.join(' | ')}`);
  assert.deepEqual(
    info.console.filter((l) => /Content Security Policy|Refused to|CSP/i.test(l)),
    [],
  );
  assert.deepEqual(info.errors, []);
}

describe('the dashboard in the browser', function () {
  this.timeout(180_000);
  let api: AiosApi;

  before(async function () {
    requireUi(this);
    api = await healthyAios();
  });

  it('serves the panel live over SSE, one stream per tab, read-only, with a one-time login and a cookie that goes stale', async function () {
    await withSettings({ 'controlServer.enabled': true, 'controlServer.dashboardControls': false }, async () => {
      const url = await waitUntil(() => api.context.controlServer.url, 15_000, 'the control endpoint to listen');
      const dashboard = () => api.context.controlServer.dashboardServer!;

      // The command itself: it opens a tab through asExternalUri (code-server maps the port to its /proxy/<port>/,
      // whose requests carry code-server's Host), the login redirects to ./ and the panel runs there.
      const before = (await openedTabs()).length;
      assert.equal(await vscode.commands.executeCommand(Commands.openDashboard), true);
      const popup = await waitUntil(async () => (await openedTabs())[before], 10_000, 'the workbench to open a tab');
      const landed = await waitUntil(
        async () => {
          const u = (await openedTabs())[before].url;
          return /^https?:/.test(u) && !u.includes('code=') && u;
        },
        15_000,
        'the opened tab to leave its login link',
      );
      console.log(`      aios.openDashboard opened a tab that landed on ${landed}`);
      assert.ok(landed.endsWith('/'), landed);
      await tabWaitFor(
        popup.id,
        `return document.documentElement.dataset.stream === 'open' && Number(document.documentElement.dataset.snapshotsReceived) > 0;`,
      );
      await assertClean(popup.id);
      // code-server's proxy keeps its upstream connection after the tab closes: the page's beacon as it goes
      // away (pagehide) frees its stream; the stream's age limit is the backstop (unit-tested).
      const viaProxy = dashboard().openStreams;
      assert.ok(viaProxy >= 1, `${viaProxy} streams`);
      await tabClose(popup.id);
      await waitUntil(() => dashboard().openStreams === viaProxy - 1 || undefined, 10_000, 'the tab closed behind the proxy to free its stream');

      const login = api.context.controlServer.dashboardLoginUri()!.toString(true);
      const tab = await openTab(login);
      const info = await tabInfo(tab);
      assert.equal(info.status, 200);
      assert.equal(info.url, `${url}/`, 'the code left the address bar');
      await tabWaitFor(tab, `return document.documentElement.dataset.stream === 'open' && Number(document.documentElement.dataset.snapshotsReceived) > 0;`);
      assert.equal(await tabEvaluate(tab, 'return document.documentElement.dataset.transport;'), 'browser');
      assert.equal(await tabEvaluate(tab, 'return document.cookie;'), '', 'the session cookie is HttpOnly');
      const token = await api.context.controlServer.token();
      assert.equal(await tabEvaluate(tab, 'return document.documentElement.outerHTML.includes(arg);', token), false, 'no token in the page');
      // The login link works once.
      const again = await fetch(login, { redirect: 'manual' });
      assert.equal(again.status, 401);
      assert.equal(((await again.json()) as { error: { code: string } }).error.code, 'invalid_login_code');
      assert.equal((await fetch(`${url}/`)).status, 401, 'no cookie, no page');

      // Charts render: one canvas per chart, laid out.
      const charts = await tabWaitFor<number>(tab, `const c = document.querySelectorAll('figure.chart canvas'); return c.length >= 6 && c.length;`);
      assert.ok(charts >= 6, `${charts} chart canvases`);
      assert.deepEqual(
        await tabEvaluate(tab, "return [...document.querySelectorAll('.actions button')].map((b) => b.textContent);"),
        [],
        'read-only by default',
      );

      // Counters and charts move while commands run.
      const total1 = await counter(tab, 'totalCommands');
      const points1 = Number(await tabEvaluate(tab, `return document.querySelector('[data-chart=throughput]').dataset.points;`));
      const received1 = await snapshotsReceived(tab);
      for (let i = 0; i < 30; i++) await api.execute({ commandType: 'ECHO', priority: 'NORMAL', parameters: { i } });
      const total2 = await tabWaitFor<string>(tab, `const t = document.getElementById('metric-totalCommands').textContent; return t !== arg && t;`, total1);
      assert.notEqual(total2, total1);
      const points2 = await tabWaitFor<number>(
        tab,
        `const p = Number(document.querySelector('[data-chart=throughput]').dataset.points); return p > arg && p;`,
        points1,
      );
      assert.ok(points2 > points1);
      const received2 = await snapshotsReceived(tab);
      // 30 commands are 60+ events: coalesced, far fewer snapshots reached the page.
      assert.ok(received2 - received1 < 30, `${received2 - received1} snapshots for 30 commands`);
      await tabScreenshot(tab, 'dashboard-browser');
      await assertClean(tab);

      // A second tab: its own stream; closing it frees it.
      const second = await openTab(api.context.controlServer.dashboardLoginUri()!.toString(true));
      await tabWaitFor(second, `return Number(document.documentElement.dataset.snapshotsReceived) > 0;`);
      assert.equal(await counter(second, 'totalCommands'), await counter(tab, 'totalCommands'));
      const streams = dashboard().openStreams;
      assert.ok(streams >= 2, `${streams} streams`);
      await assertClean(second);
      await tabClose(second);
      await waitUntil(() => dashboard().openStreams === streams - 1 || undefined, 10_000, 'the closed tab to free its stream');

      // A restart of the endpoint (same port) forgets every session: the open tab's cookie is now stale.
      const port = Number(new URL(url).port);
      await withSettings({ 'controlServer.port': port }, async () => {
        await waitUntil(() => (api.context.controlServer.dashboardServer !== undefined && dashboard().openStreams === 0) || undefined, 15_000, 'the restart');
        await tabWaitFor(tab, `return document.documentElement.dataset.stream === 'closed';`);
        const stale = await tabEvaluate<{ status: number; code: string }>(
          tab,
          `return fetch('events').then(async (r) => ({ status: r.status, code: (await r.json()).error.code }));`,
        );
        assert.deepEqual(stale, { status: 401, code: 'unauthorized' });
        assert.equal(dashboard().openStreams, 0);
      });
      // The policy is enforced, not just sent: an inline script is blocked and reported.
      const blocked = await tabEvaluate<boolean>(
        tab,
        `const s = document.createElement('script'); s.textContent = 'window.__inlineRan = true'; document.head.append(s); return window.__inlineRan === undefined;`,
      );
      assert.equal(blocked, true);
      await tabWaitFor(tab, `return document.documentElement.dataset.cspViolations === '1';`);
      await tabClose(tab);
    });
    await waitUntil(() => api.context.controlServer.url === undefined || undefined, 10_000, 'the endpoint to stop');
  });

  it('shows pause, resume and restart only with aios.controlServer.dashboardControls, each press a control event from the dashboard', async function () {
    await withSettings({ 'controlServer.enabled': true, 'controlServer.dashboardControls': true }, async () => {
      await waitUntil(() => api.context.controlServer.url, 15_000, 'the control endpoint to listen');
      const tab = await openTab(api.context.controlServer.dashboardLoginUri()!.toString(true));
      const labels = await tabWaitFor<string[]>(
        tab,
        `const b = [...document.querySelectorAll('.actions button')].map((x) => x.textContent); return b.length > 0 && b;`,
      );
      assert.deepEqual(labels, ['Pause admission', 'Restart service']);
      await tabClick(tab, `.actions button[data-command="${Commands.pauseAdmission}"]`);
      await waitUntil(() => api.context.middleware.paused || undefined, 10_000, 'admission to pause');
      await tabWaitFor(tab, `return !document.querySelector('.badge.paused').hidden;`);
      await tabClick(tab, `.actions button[data-command="${Commands.resumeAdmission}"]`);
      await waitUntil(() => !api.context.middleware.paused || undefined, 10_000, 'admission to resume');
      const events = api
        .telemetry('DETAILED')
        .recentEvents.filter((e) => e.eventType === 'START' && e.commandType.startsWith('CONTROL:') && e.commandType.endsWith('_ADMISSION'));
      assert.deepEqual(
        events.slice(-2).map((e) => [e.commandType, e.metadata?.source, e.metadata?.caller]),
        [
          ['CONTROL:PAUSE_ADMISSION', 'control', 'endpoint:dashboard'],
          ['CONTROL:RESUME_ADMISSION', 'control', 'endpoint:dashboard'],
        ],
      );
      await tabScreenshot(tab, 'dashboard-browser-controls');
      await assertClean(tab);
      await tabClose(tab);
    });
    await waitUntil(() => api.context.controlServer.url === undefined || undefined, 10_000, 'the endpoint to stop');
  });
});
