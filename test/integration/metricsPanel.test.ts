// The metrics panel in a real VS Code host, looked at through the real browser. The subject is the panel,
// so a synthetic MetricsSource feeds it (the end-to-end test with middleware data lives elsewhere).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { MetricsPanel, type MetricsSource } from '../../src/views/metricsPanel';
import type { MetricsSnapshot } from '../../src/webview/protocol';
import { requireUi, screenshot, waitFor, webviewEvaluate } from './ui';
import { aios } from './util';

const EXTENSION_ID = 'aios.aios-middleware';
const TITLE = 'AIOS Metrics';

class FakeSource implements MetricsSource {
  snapshotCalls = 0;
  private readonly listeners = new Set<() => void>();

  constructor(public current: MetricsSnapshot) {}

  snapshot(): MetricsSnapshot {
    this.snapshotCalls++;
    return { ...structuredClone(this.current), at: Date.now() };
  }

  onDidChange(listener: () => void) {
    this.listeners.add(listener);
    return { dispose: () => void this.listeners.delete(listener) };
  }

  /** Changes the numbers and tells the panel, as the middleware does on every event. */
  update(mutate: (s: MetricsSnapshot) => void): void {
    mutate(this.current);
    for (const l of this.listeners) l();
  }
}

function initialSnapshot(): MetricsSnapshot {
  return {
    at: Date.now(),
    overall: {
      totalCommands: 1234,
      successfulCommands: 1172,
      failedCommands: 62,
      successRate: 1172 / 1234,
      averageDurationMs: 18.25,
      throttledCommands: 40,
      cancelledCommands: 3,
      blockedCommands: 7,
    },
    latency: { p50: 12, p95: 48.5, p99: 95 },
    admission: { active: 3, limit: 8, queued: { HIGH: 1, NORMAL: 5, LOW: 2 }, paused: false, lastDelayMs: 120 },
    system: { cpuPercent: 42.5, memoryPercent: 63.1, pythonProcesses: 2 },
    service: { status: 'healthy', pid: 4242, logLevel: 'INFO', uptimeS: 3725 },
    perType: [
      { commandType: 'ANALYZE', count: 900, averageDurationMs: 15, p95: 40, errorCount: 12, lastExecuted: new Date().toISOString() },
      { commandType: 'GENERATE', count: 334, averageDurationMs: 26.4, p95: 70, errorCount: 50 },
    ],
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fnBody` inside the panel's webview until it returns something truthy. */
async function inPanel<T>(fnBody: string, arg?: unknown, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    last = await webviewEvaluate<T>(fnBody, arg, TITLE, timeoutMs);
    if (last) return last as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting in the webview for: ${fnBody.slice(0, 120)} (last: ${JSON.stringify(last)})`);
    await sleep(150);
  }
}

const readCounters = () =>
  webviewEvaluate<Record<string, { value: string; text: string; label: string }>>(
    `const out = {};
     for (const dd of document.querySelectorAll('[data-metric]')) {
       out[dd.dataset.metric] = { value: dd.dataset.value, text: dd.textContent, label: dd.previousElementSibling.textContent };
     }
     return out;`,
    undefined,
    TITLE,
  );

const diag = () => webviewEvaluate<Record<string, string>>('return { ...document.documentElement.dataset }', undefined, TITLE);

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe('the metrics panel (webview)', function () {
  let source: FakeSource;
  let panel: MetricsPanel;
  let extensionUri: vscode.Uri;

  before(async function () {
    requireUi(this);
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not installed in this host`);
    extensionUri = ext.extensionUri;
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.commands.executeCommand('workbench.action.closePanel');
    source = new FakeSource(initialSnapshot());
    panel = MetricsPanel.createOrShow(extensionUri, source);
  });

  after(() => {
    panel?.dispose();
  });

  it('opens with the title, icon and the snapshot numbers as labelled text', async () => {
    assert.equal(panel.panel.title, 'AIOS Metrics');
    assert.equal(panel.panel.viewType, 'aios.metrics');
    assert.equal(MetricsPanel.createOrShow(extensionUri, source), panel, 'a second open reveals the same panel');
    await inPanel(`return document.querySelector('[data-metric="totalCommands"]')?.dataset.value === '1234'`);
    const c = await readCounters();
    assert.deepEqual(
      { total: c.totalCommands, failed: c.failedCommands.text, rate: c.successRate.text, p95: c.p95.text, avg: c.averageDurationMs.text },
      { total: { value: '1234', text: '1,234', label: 'Commands' }, failed: '62', rate: '95 %', p95: '48.5 ms', avg: '18.3 ms' },
    );
    assert.equal(c.active.text, '3 / 8');
    assert.equal(c.queued.value, '8');
    assert.equal(c.cpuPercent.text, '42.5 %');
    assert.equal(c.pythonProcesses.text, '2');
    const header = await webviewEvaluate<{ status: string; service: string; title: string; rows: string[] }>(
      `const s = document.querySelector('.service');
       return { status: s.dataset.status, service: s.textContent, title: document.title,
                rows: [...document.querySelectorAll('.per-type tbody th')].map((th) => th.textContent) };`,
      undefined,
      TITLE,
    );
    assert.equal(header.title, 'AIOS Metrics');
    assert.equal(header.status, 'healthy');
    assert.match(header.service, /Service healthy · pid 4242 · up 1 h 2 min · log INFO/);
    assert.deepEqual(header.rows, ['ANALYZE', 'GENERATE'], 'per-type rows, most frequent first');
  });

  it('follows the source at 1,000 changes/s with at most a few batched posts a second', async () => {
    const postsBefore = panel.postCount;
    const received = Number((await diag()).snapshotsReceived);
    const started = Date.now();
    let changes = 0;
    // ~1,000 change notifications over a second, in bursts as a busy middleware produces them.
    while (Date.now() - started < 1000) {
      for (let i = 0; i < 10; i++) {
        changes++;
        source.update((s) => {
          s.overall.totalCommands++;
          s.overall.successfulCommands++;
        });
      }
      await sleep(10);
    }
    const elapsedS = (Date.now() - started) / 1000;
    const total = String(source.current.overall.totalCommands);
    await inPanel(`return document.querySelector('[data-metric="totalCommands"]').dataset.value === arg`, total);
    const posts = panel.postCount - postsBefore;
    assert.ok(changes >= 500, `only ${changes} changes were generated`);
    // ≤ 4 coalesced posts a second, +1 for the idle heartbeat/trailing edge at either end.
    assert.ok(posts <= Math.ceil(elapsedS * 4) + 2, `${posts} posts for ${changes} changes in ${elapsedS.toFixed(2)} s`);
    assert.ok(posts >= 2, `the panel should have been updated during the burst, got ${posts} posts`);
    const d = await diag();
    assert.ok(Number(d.snapshotsReceived) - received <= posts, 'the webview got no more snapshots than the host posted');
    const c = await readCounters();
    assert.equal(c.totalCommands.text, Number(total).toLocaleString('en-US'));
    assert.notEqual(c.throughput.value, '', 'throughput is derived once two chart points exist');
  });

  it('draws every chart with uPlot at a non-zero size, with data points', async () => {
    await inPanel(`return Number(document.querySelector('[data-chart="throughput"]').dataset.points) >= 2`);
    const charts = await webviewEvaluate<{ id: string; canvas: number[] | null; points: number; empty: boolean; label: string }[]>(
      `return [...document.querySelectorAll('[data-chart]')].map((f) => {
         const c = f.querySelector('.uplot canvas');
         return { id: f.dataset.chart, canvas: c ? [c.width, c.height, c.getBoundingClientRect().width] : null,
                  points: Number(f.dataset.points), empty: !f.querySelector('.chart-empty').hidden,
                  label: f.querySelector('.plot').getAttribute('aria-label') };
       });`,
      undefined,
      TITLE,
    );
    assert.deepEqual(
      charts.map((c) => c.id),
      ['throughput', 'latency', 'queue', 'throttle', 'system', 'success'],
    );
    for (const c of charts) {
      assert.ok(c.canvas && c.canvas[0] > 0 && c.canvas[1] > 0 && c.canvas[2] > 100, `${c.id}: canvas ${JSON.stringify(c.canvas)}`);
      assert.ok(c.points >= 2, `${c.id}: ${c.points} points`);
      assert.equal(c.empty, false, `${c.id} shows its empty state`);
      assert.match(c.label, /over the last 5 minutes; now: /, `${c.id} has an accessible summary`);
    }
    assert.match(charts[1].label, /p95 48\.5 ms/);
  });

  it('drops malformed messages with a warning and keeps the last good numbers', async () => {
    const before = await diag();
    await webviewEvaluate(
      `window.postMessage({ type: 'snapshot', snapshot: { at: 'yesterday' } }, '*');
       window.postMessage({ type: 'runCommand', command: 'workbench.action.quit' }, '*');
       window.postMessage('not even an object', '*');`,
      undefined,
      TITLE,
    );
    await inPanel(`return Number(document.documentElement.dataset.rejectedMessages) >= Number(arg) + 3`, before.rejectedMessages);
    const c = await readCounters();
    assert.equal(c.totalCommands.value, String(source.current.overall.totalCommands));
  });

  it('runs only allow-listed commands from its buttons', async () => {
    // aios.showOutput is registered by the extension; the others appear once their features do.
    const buttons = await inPanel<string[]>(
      `const b = [...document.querySelectorAll('.actions button')].map((b) => b.dataset.command); return b.length ? b : null;`,
    );
    assert.ok(buttons.includes('aios.showOutput'), `buttons: ${buttons.join(', ')}`);
    assert.ok(!buttons.includes('aios.resumeAdmission'), 'resume shows only while paused');
    const marker = `panel button check ${Date.now().toString(36)}`;
    (await aios()).context.log.info(marker);
    await webviewEvaluate(`document.querySelector('[data-command="aios.showOutput"]').click(); return true;`, undefined, TITLE);
    await waitFor(
      `const panel = document.querySelector('.part.panel');
       return (panel && panel.offsetParent !== null && panel.innerText.replace(/\\u00a0/g, ' ').includes(arg)) || null;`,
      marker,
    );
    await vscode.commands.executeCommand('workbench.action.closePanel');
  });

  it('shows the service state and a paused admission as they change', async () => {
    source.update((s) => {
      s.service = { status: 'crashed', detail: 'exit code 3' };
      s.admission.paused = true;
      s.system = null;
    });
    const seen = await inPanel<{ status: string; paused: boolean; cpu: string; buttons: string[] }>(
      `const s = document.querySelector('.service');
       if (s.dataset.status !== 'crashed') return null;
       return { status: s.querySelector('.status').textContent, paused: !document.querySelector('.paused').hidden,
                cpu: document.querySelector('[data-metric="cpuPercent"]').textContent,
                buttons: [...document.querySelectorAll('.actions button')].map((b) => b.dataset.command) };`,
    );
    assert.deepEqual({ ...seen, buttons: undefined }, { status: 'crashed', paused: true, cpu: '—', buttons: undefined });
    assert.ok(!seen.buttons.includes('aios.pauseAdmission'), 'pause hides while paused');
    await screenshot('metrics-panel-crashed-paused');
    source.update((s) => {
      s.service = { status: 'healthy', pid: 4243, uptimeS: 5 };
      s.admission.paused = false;
      s.system = { cpuPercent: 40, memoryPercent: 60, pythonProcesses: 2 };
    });
    await inPanel(`return document.querySelector('.service').dataset.status === 'healthy'`);
  });

  it('posts nothing while hidden, and restores its history with fresh numbers when shown again', async () => {
    const pointsBefore = Number(await webviewEvaluate<string>(`return document.querySelector('[data-chart="latency"]').dataset.points`, undefined, TITLE));
    const doc = await vscode.workspace.openTextDocument({ content: 'hiding the metrics panel' });
    await vscode.window.showTextDocument(doc, { viewColumn: panel.panel.viewColumn, preview: false });
    await until(() => !panel.panel.visible, 'the panel to be hidden');
    const postsWhileHidden = panel.postCount;
    const callsWhileHidden = source.snapshotCalls;
    for (let i = 0; i < 20; i++) {
      source.update((s) => (s.overall.totalCommands += 10));
      await sleep(60);
    }
    assert.equal(panel.postCount, postsWhileHidden, 'no message is posted to a hidden panel');
    assert.equal(source.snapshotCalls, callsWhileHidden, 'no snapshot is even taken while hidden');

    // Close the editor that covered the panel (closing the panel instead would end this test's subject).
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    MetricsPanel.createOrShow(extensionUri, source);
    await until(() => panel.panel.visible, 'the panel to be visible again');
    const total = String(source.current.overall.totalCommands);
    await inPanel(`return document.querySelector('[data-metric="totalCommands"]').dataset.value === arg`, total);
    const d = await diag();
    assert.equal(d.restored, 'true', 'the recreated webview restored its state (getState)');
    const pointsAfter = Number(await webviewEvaluate<string>(`return document.querySelector('[data-chart="latency"]').dataset.points`, undefined, TITLE));
    assert.ok(pointsAfter >= pointsBefore, `chart history survived: ${pointsBefore} → ${pointsAfter} points`);
  });

  describe('themes', () => {
    let previousTheme: string | undefined;
    before(() => {
      previousTheme = vscode.workspace.getConfiguration('workbench').inspect<string>('colorTheme')?.globalValue;
    });
    after(async () => {
      await vscode.workspace.getConfiguration('workbench').update('colorTheme', previousTheme, vscode.ConfigurationTarget.Global);
    });

    const themes: [string, string, string][] = [
      ['Default Light Modern', 'vscode-light', 'light'],
      ['Default Dark Modern', 'vscode-dark', 'dark'],
      ['Default High Contrast', 'vscode-high-contrast', 'high-contrast'],
    ];
    const chartColours: Record<string, string> = {};
    for (const [theme, bodyClass, name] of themes) {
      it(`follows the ${name} theme (screenshot metrics-panel-${name})`, async () => {
        MetricsPanel.createOrShow(extensionUri, source);
        await vscode.workspace.getConfiguration('workbench').update('colorTheme', theme, vscode.ConfigurationTarget.Global);
        const fg = await inPanel<string>(
          `return document.body.classList.contains(arg) && document.documentElement.dataset.chartTheme
             && getComputedStyle(document.body).getPropertyValue('--vscode-charts-foreground').trim() === document.documentElement.dataset.chartTheme.split('|')[0]
             ? document.documentElement.dataset.chartTheme : null`,
          bodyClass,
        );
        chartColours[name] = fg;
        // Let a couple of updates land so the screenshot shows moving charts, not a half-drawn frame.
        await sleep(1200);
        const d = await diag();
        assert.equal(d.cspViolations, '0', 'no Content Security Policy violation');
        await screenshot(`metrics-panel-${name}`);
        if (name === 'dark') assert.notEqual(chartColours.dark, chartColours.light, 'chart colours were re-read for the dark theme');
      });
    }

    it('never violated its Content Security Policy, and it is the same panel throughout', async () => {
      assert.equal(MetricsPanel.createOrShow(extensionUri, source), panel);
      const d = await diag();
      assert.equal(d.cspViolations, '0');
    });
  });
});
