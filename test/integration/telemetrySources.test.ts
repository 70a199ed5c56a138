// Telemetry by source in the real host: a command from the palette (typed as a person does), two from the API
// (one a typo), a failing `false` typed in a terminal and a control operation; then the tree (read through the
// browser), the Show Telemetry report, the metrics panel and the Prometheus exporter must say the same thing,
// and the source filter set through the palette (one click on a source, one on OK) narrows all of them.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { SourceKind, SourceStatsReport, SummaryReport } from '../../src/core';
import { Commands, Views } from '../../src/shared/ids';
import { describeSourceStats, pct } from '../../src/views/sourceModel';
import { freePort } from '../support/net';
import {
  QUICK_INPUT_TITLE,
  click,
  evaluate,
  expandTreeSection,
  lastTreeRow,
  requireUi,
  runCommandFromPalette,
  runFromPalette,
  screenshot,
  treeRows,
  waitFor,
  webviewEvaluate,
} from './ui';
import { healthyAios, waitUntil, withSettings, type AiosApi } from './util';

const PANEL = 'AIOS Metrics';

/** The figures of `kind` now minus before. */
function delta(
  after: SummaryReport,
  before: SummaryReport,
  kind: SourceKind,
): Pick<SourceStatsReport, 'count' | 'successCount' | 'errorCount' | 'refusedCount'> {
  const a = after.bySource[kind];
  const b = before.bySource[kind];
  const d = (k: 'count' | 'successCount' | 'errorCount' | 'refusedCount') => (a?.[k] ?? 0) - (b?.[k] ?? 0);
  return { count: d('count'), successCount: d('successCount'), errorCount: d('errorCount'), refusedCount: d('refusedCount') };
}

/** The `aios_commands_total` samples of a /metrics scrape, with their labels. */
async function scrape(port: number): Promise<{ labels: string; value: number }[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('aios_commands_total{'))
    .map((l) => ({ labels: l.slice(l.indexOf('{'), l.lastIndexOf('}') + 1), value: Number(l.slice(l.lastIndexOf(' ') + 1)) }));
}
const sum = (samples: { labels: string; value: number }[], pred: (labels: string) => boolean) =>
  samples.filter((s) => pred(s.labels)).reduce((n, s) => n + s.value, 0);

/** The view's title as the side bar shows it ("AIOS: Telemetry · source: terminal" while the filter is on). */
const VIEW_TITLE = `const h = [...document.querySelectorAll('.composite.title .title-label h2')].find((e) => e.offsetParent !== null && /Telemetry/.test(e.textContent));
  return h ? h.textContent : null;`;

/** The filter's quick pick: one click on the row of `label`, one on OK. */
async function filterThroughPalette(label: string): Promise<void> {
  await runFromPalette('AIOS: Filter Telemetry by Source');
  await waitFor(`const t = (() => { ${QUICK_INPUT_TITLE} })(); return t !== null && /Filter Telemetry by Source/.test(t) ? true : null;`);
  // The row whose label is exactly `label` (a description may contain the word: cli's says "in a terminal").
  const index = await waitFor<string>(
    `const row = [...document.querySelectorAll('.quick-input-list .monaco-list-row')].find((r) => r.querySelector('.label-name')?.textContent.trim() === arg);
     return row ? row.dataset.index : null;`,
    label,
  );
  await click(`.quick-input-list .monaco-list-row[data-index="${index}"]`);
  await waitFor(
    `const row = document.querySelector('.quick-input-list .monaco-list-row[data-index="' + arg + '"]');
     const box = row && row.querySelector('input[type=checkbox], .monaco-custom-toggle, [role=checkbox]');
     const on = box && (box.checked === true || box.getAttribute('aria-checked') === 'true' || box.classList.contains('checked'));
     return on ? true : null;`,
    index,
  );
  await screenshot(`sources-filter-pick-${label.replace(/\W+/g, '-')}`);
  await click('.quick-input-widget .monaco-button', 'OK');
  await waitFor(`return (() => { ${QUICK_INPUT_TITLE} })() === null ? true : null;`);
}

/** The panel's scope line and per-source counts, once it shows `expect` (its updates come a few times a second). */
async function panelBySource(
  expect: (p: { sources: string; rows: Record<string, string> }) => boolean,
): Promise<{ sources: string; rows: Record<string, string> }> {
  let last: { sources: string; rows: Record<string, string> } | undefined;
  await waitUntil(
    async () => {
      last = await webviewEvaluate<{ sources: string; rows: Record<string, string> }>(
        `const scope = document.getElementById('scope');
         const rows = {};
         for (const tr of document.querySelectorAll('tr[data-source]')) rows[tr.dataset.source] = tr.children[1].textContent;
         return { sources: scope ? scope.dataset.sources : '?', rows };`,
        undefined,
        PANEL,
      );
      return expect(last);
    },
    20_000,
    'the metrics panel to show the figures',
  ).catch((err: Error) => {
    throw new Error(`${err.message}; the panel showed ${JSON.stringify(last)}`);
  });
  return last!;
}

describe('telemetry by source', function () {
  this.timeout(180_000);
  let api: AiosApi;
  const typo = `NOPE_TYPO_${Date.now()}`;

  before(async () => {
    api = await healthyAios();
    await vscode.commands.executeCommand(Commands.filterTelemetryBySource, 'all');
  });

  after(async () => {
    await vscode.commands.executeCommand(Commands.filterTelemetryBySource, 'all');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.commands.executeCommand('notifications.clearAll');
  });

  it('palette, API, a failing `false` in a terminal and a control operation: the tree, the report, the panel and Prometheus agree', async function () {
    requireUi(this);
    const port = await freePort();
    await withSettings({ 'export.prometheus.port': port, 'terminal.recordCommands': true }, async () => {
      await waitUntil(() => api.context.exports.health().prometheus, 30_000, 'the Prometheus exporter');
      const before = api.telemetry('SUMMARY') as SummaryReport;

      // A person at the palette.
      await runCommandFromPalette('ECHO', 'NORMAL', '{"from":"palette"}');
      await waitUntil(() => delta(api.telemetry('SUMMARY') as SummaryReport, before, 'palette').count === 1 || undefined, 20_000, 'the palette ECHO');
      await vscode.commands.executeCommand('notifications.clearAll');
      // Another extension: a command, a typo the service does not know, a control operation.
      assert.equal((await api.execute({ commandType: 'ECHO', parameters: { from: 'api' } })).success, true);
      const nope = await api.execute({ commandType: typo });
      assert.equal(nope.error?.code, 'unknown_command_type', JSON.stringify(nope.error));
      assert.equal((await api.control('FLUSH_CACHE', 'result_cache')).success, true);
      // `false` typed in a terminal: the user's program fails; AIOS only records it.
      const terminal = vscode.window.createTerminal({ name: 'aios-sources' });
      try {
        terminal.show();
        const si = await waitUntil(() => terminal.shellIntegration, 30_000, 'shell integration in the terminal');
        si.executeCommand('false');
        await waitUntil(() => delta(api.telemetry('SUMMARY') as SummaryReport, before, 'terminal').count === 1 || undefined, 20_000, 'the terminal `false`');
      } finally {
        terminal.dispose();
      }

      const report = api.telemetry('SUMMARY') as SummaryReport;
      assert.deepEqual(delta(report, before, 'palette'), { count: 1, successCount: 1, errorCount: 0, refusedCount: 0 });
      assert.deepEqual(delta(report, before, 'api'), { count: 2, successCount: 1, errorCount: 1, refusedCount: 1 });
      assert.deepEqual(delta(report, before, 'terminal'), { count: 1, successCount: 0, errorCount: 1, refusedCount: 0 });
      assert.equal(delta(report, before, 'control').count, 1);
      // The headline: the palette's and the API's three; not the terminal's `false`, not the control operation.
      assert.equal(report.overall.totalCommands - before.overall.totalCommands, 3);
      assert.equal(report.overall.successfulCommands - before.overall.successfulCommands, 2);
      assert.equal(report.overall.refusedCommands - before.overall.refusedCommands, 1);

      // Prometheus: every command with its source; control operations are not commands.
      const samples = await scrape(port);
      assert.ok(!samples.some((s) => s.labels.includes('CONTROL:')), `no control operation among the commands: ${samples.map((s) => s.labels).join('\n')}`);
      assert.equal(
        sum(samples, (l) => l.includes('source="terminal"')),
        1,
      );
      assert.equal(
        sum(samples, (l) => l.includes('source="palette"')),
        1,
      );
      assert.equal(
        sum(samples, (l) => l.includes('source="api"')),
        2,
      );
      assert.equal(
        sum(samples, (l) => !l.includes('source="terminal"')),
        3,
        'the headline over Prometheus: every source but terminal',
      );

      // The Show Telemetry report: the same per-source figures, no filter.
      const doc = await vscode.commands.executeCommand<vscode.TextDocument>(Commands.showTelemetry, 'SUMMARY');
      const shown = JSON.parse(doc.getText()) as SummaryReport;
      assert.equal(shown.filter, undefined);
      for (const kind of ['palette', 'api', 'terminal', 'control'] as const) assert.equal(shown.bySource[kind]?.count, report.bySource[kind]?.count, kind);
      assert.equal(shown.overall.totalCommands, report.overall.totalCommands);

      // The tree, through the browser: By Source as the report says it, the headline and where the terminal went.
      const rows = (kind: SourceKind) => `${kind}: ${describeSourceStats(kind, report.bySource[kind]!)}`;
      await expandTreeSection('By Source');
      await waitUntil(
        async () => {
          const seen = await treeRows('Telemetry');
          return ['palette', 'api', 'terminal', 'control'].every((k) => seen.includes(rows(k as SourceKind))) || undefined;
        },
        20_000,
        'By Source as the report says',
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${(await treeRows('Telemetry')).join(' | ')}`);
      });
      await screenshot('sources-tree-by-source');
      await expandTreeSection('Overview');
      const t = report.bySource.terminal!;
      const overview = await waitUntil(
        async () => {
          const seen = await treeRows('Telemetry');
          return seen.includes(`Commands: ${report.overall.totalCommands}`) ? seen : undefined;
        },
        20_000,
        'the headline in Overview',
      );
      assert.ok(overview.includes(`Success rate: ${pct(report.overall.successRate)}`), overview.join(' | '));
      assert.ok(overview.includes(`Typed in a terminal: ${t.count} · ${t.errorCount} non-zero · not in the figures above`), overview.join(' | '));
      // The typo is no Command Types row of its own: it is under Refused, which one click opens.
      await expandTreeSection('Command Types');
      const types = await waitUntil(
        async () => {
          const seen = await treeRows('Telemetry');
          return seen.some((l) => l.startsWith('Refused (never ran)')) ? seen : undefined;
        },
        20_000,
        'the Refused row',
      );
      assert.ok(!types.some((l) => l.startsWith(typo)), `${typo} has no row of its own: ${types.join(' | ')}`);
      await click('.pane .monaco-list-row', 'Refused (never ran)');
      // Its rows are the last of the view: below what shows once the suite's earlier types fill Command Types.
      await lastTreeRow(typo, 10_000);
      await waitUntil(
        async () => (await treeRows('Telemetry')).includes(`${typo}: 1× · unknown_command_type`) || undefined,
        10_000,
        'the typo under Refused',
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${(await treeRows('Telemetry')).join(' | ')}`);
      });
      await screenshot('sources-tree-refused');

      // The metrics panel: the same per-source counts, for all sources.
      await vscode.commands.executeCommand(Commands.showMetricsPanel);
      const panel = await panelBySource(
        // The panel writes counts as a person reads them (482,689).
        (p) =>
          p.sources === '' &&
          ['palette', 'api', 'terminal', 'control'].every((k) => p.rows[k] === (report.bySource[k as SourceKind]?.count ?? 0).toLocaleString('en-US')),
      );
      assert.equal(panel.rows.terminal, t.count.toLocaleString('en-US'));
      await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    });
  });

  it('the filter set through the palette narrows the tree, the report and the panel, says so, and is remembered; All sources clears it', async function () {
    requireUi(this);
    await vscode.commands.executeCommand(`${Views.telemetry}.focus`);
    await filterThroughPalette('terminal');
    assert.deepEqual(api.context.extension.workspaceState.get('aios.telemetry.sourceFilter'), ['terminal'], 'remembered in the workspace');
    const report = api.telemetry('SUMMARY') as SummaryReport;
    const terminal = report.bySource.terminal!;

    // The tree's title says the filter is on, and the tree shows the terminal's figures only.
    const title = await waitFor<string>(`const t = (() => { ${VIEW_TITLE} })(); return t && t.includes('source:') ? t : null;`, undefined, 10_000).catch(
      async (err: Error) => {
        const titles = await evaluate<string[]>(`return [...document.querySelectorAll('.composite.title .title-label')].map((h) => h.textContent);`);
        throw new Error(`${err.message}: no "source:" in the view's title; titles: ${titles.join(' | ')}`);
      },
    );
    assert.equal(title, 'AIOS: Telemetry · source: terminal');
    await expandTreeSection('Overview');
    const overview = await waitUntil(
      async () => {
        const seen = await treeRows('Telemetry');
        return seen.includes(`Commands: ${terminal.count}`) ? seen : undefined;
      },
      20_000,
      'the filtered Overview',
    );
    assert.ok(
      overview.some((l) => /^Overview.*source: terminal/.test(l)),
      `the Overview header says it too: ${overview.join(' | ')}`,
    );
    await expandTreeSection('By Source');
    const bySource = await waitUntil(
      async () => {
        const seen = await treeRows('Telemetry');
        return seen.includes(`terminal: ${describeSourceStats('terminal', terminal)}`) ? seen : undefined;
      },
      20_000,
      'By Source filtered',
    );
    assert.ok(!bySource.some((l) => /^(palette|api|control): /.test(l)), bySource.join(' | '));
    await expandTreeSection('Recent Events');
    const events = await waitUntil(
      async () => {
        const seen = (await treeRows('Telemetry')).filter((l) => /^(START|COMPLETE|ERROR|CANCEL|THROTTLE) /.test(l));
        return seen.length > 0 ? seen : undefined;
      },
      10_000,
      'the rows of Recent Events',
    );
    assert.ok(
      events.every((l) => /^\w+ TERMINAL:/.test(l)),
      `only terminal events: ${events.join(' | ')}`,
    );
    await screenshot('sources-tree-filtered');

    // The report covers the terminal only, and says so.
    const doc = await vscode.commands.executeCommand<vscode.TextDocument>(Commands.showTelemetry, 'DETAILED');
    const shown = JSON.parse(doc.getText()) as SummaryReport & { recentEvents: { commandType: string }[] };
    assert.deepEqual(shown.filter, { sources: ['terminal'] });
    assert.equal(shown.overall.totalCommands, terminal.count);
    assert.deepEqual(Object.keys(shown.bySource), ['terminal']);
    assert.ok(shown.recentEvents.every((e) => e.commandType.startsWith('TERMINAL:')));

    // The panel too.
    await vscode.commands.executeCommand(Commands.showMetricsPanel);
    const panel = await panelBySource((p) => p.sources === 'terminal');
    assert.deepEqual(Object.keys(panel.rows), ['terminal']);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');

    // All sources again, through the palette: the title says so no more, the headline comes back.
    await vscode.commands.executeCommand(`${Views.telemetry}.focus`);
    await filterThroughPalette('All sources');
    assert.equal(api.context.extension.workspaceState.get('aios.telemetry.sourceFilter'), undefined);
    await waitFor(`const t = (() => { ${VIEW_TITLE} })(); return t === 'AIOS: Telemetry' ? true : null;`, undefined, 10_000);
    await expandTreeSection('Overview');
    const headline = api.telemetry('SUMMARY').overall.totalCommands;
    const again = await waitUntil(
      async () => {
        const seen = await treeRows('Telemetry');
        return seen.includes(`Commands: ${headline}`) ? seen : undefined;
      },
      20_000,
      'the headline again',
    );
    assert.ok(!again.some((l) => l.includes('source:')), again.join(' | '));
  });
});
