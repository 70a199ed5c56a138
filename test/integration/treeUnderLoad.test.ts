// The telemetry tree while ~1,000 commands/s flow through the middleware (functions under run(), so the
// events, stats, In Flight, the status bar and the panel are all live): a click a person makes lands the
// first time. Every action below is done once, through the real browser; none is retried.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { AiosCommandResult } from '../../src/api';
import {
  click,
  evaluate,
  expandTreeSection,
  hover,
  lastTreeRow,
  markElement,
  notificationTexts,
  personClick,
  press,
  requireUi,
  rightClick,
  screenshot,
  sideBarTitle,
  stillMarked,
  toggleTreeSection,
  TREE_ROW_BY_LABEL,
  treeRowIndex,
  treeRows,
  waitFor,
} from './ui';
import { healthyAios, waitUntil, withSettings, type AiosApi } from './util';

const RATE_PER_S = 1000;
/** ECHOs a second through the service beside the load, for a busy type whose row is pointed at. */
const ECHO_RATE_PER_S = 100;
const TICK_MS = 10;

/** Offers `ratePerS` commands a second, made by `send(i)`, until stopped. */
function startLoad(ratePerS: number, send: (i: number) => Promise<AiosCommandResult>): { started(): number; stop(): Promise<AiosCommandResult[]> } {
  const pending: Promise<AiosCommandResult>[] = [];
  const started = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * ratePerS);
    while (pending.length < due) pending.push(send(pending.length));
  }, TICK_MS);
  return {
    started: () => pending.length,
    stop: () => {
      clearInterval(timer);
      return Promise.all(pending);
    },
  };
}

describe('the telemetry tree under load', function () {
  this.timeout(120_000);
  let api: AiosApi;

  before(async () => {
    api = await healthyAios();
  });

  it('1,000 commands/s: a section opens, Cancel, Run Again and the context menu act on the row clicked, each at the first click', async function () {
    requireUi(this);
    await withSettings({ maxConcurrency: 64, maxQueueSize: 100_000 }, async () => {
      await waitUntil(() => api.context.middleware.admission.limit === 64, 5000, 'limit 64');
      const marker = `under-load-${Date.now()}`;
      const echo = await api.execute({ commandType: 'ECHO', parameters: { marker } });
      assert.equal(echo.success, true);
      await vscode.commands.executeCommand('notifications.clearAll');
      // RATE_PER_S commands a second; each takes ~10 ms, so ~10 run at a time.
      const load = startLoad(RATE_PER_S, (i) => api.run('UI_LOAD', () => new Promise<number>((r) => setTimeout(() => r(i), 10))));
      let echoes: ReturnType<typeof startLoad> | undefined;
      const longEnds = new AbortController(); // ends UI_LONG if a check below fails first
      let results: AiosCommandResult[];
      let echoed: AiosCommandResult[];
      try {
        // The load's own commands (the window's total already counts earlier suites').
        await waitUntil(() => load.started() > 1500 || undefined, 20_000, 'the load to flow');

        // One click on a section's header opens it (expandTreeSection fails if the first click does not).
        await expandTreeSection('In Flight');

        // A long command among the load's short ones. In Flight lists only what has been in flight for a second
        // or more, so the short ones never come and go under the pointer: the long one's row (selected with one
        // click, its inline Cancel marked) is not re-rendered while the load flows and seconds pass (a re-render
        // rebuilds the inline actions and loses a click that straddles it), and one person's click on Cancel
        // cancels it.
        const long = api.run('UI_LONG', (ctx) => new Promise<never>((_, reject) => ctx.onCancel(() => reject(new Error('cancelled')))), {
          signal: longEnds.signal,
        });
        const header = await waitUntil(
          async () => (await treeRows('Telemetry')).find((l) => /^In Flight.*1 running · 0 queued, over 1 s/.test(l)),
          10_000,
          'In Flight listing the long command, counting running and queued apart',
        );
        assert.ok(header);
        const longRow = await treeRowIndex('UI_LONG');
        // Its tooltip, worked out as the pointer rests on the row: how long so far.
        await hover(`.pane .monaco-list-row[data-index="${longRow}"] .label-name`);
        const tip = await waitFor<string>(
          `const h = [...document.querySelectorAll('.monaco-hover, .workbench-hover')].find((e) => e.offsetParent !== null && e.textContent.includes('UI_LONG'));
           return h ? h.textContent : null;`,
        );
        assert.match(tip, /UI_LONG \(.+\), NORMAL: running for [\d.]+ s at \d\d:\d\d:\d\d/);
        await hover('.part.sidebar .composite.title');
        await press('Escape');
        await personClick(`.pane .monaco-list-row[data-index="${longRow}"]`);
        const CANCEL = '.pane .monaco-list-row.focused .action-label[aria-label="Cancel"]';
        assert.equal(await markElement(CANCEL), true, 'the selected UI_LONG row shows Cancel');
        const startedBefore = load.started();
        await new Promise((r) => setTimeout(r, 2500));
        assert.ok(load.started() - startedBefore > 1500, `the load flowed meanwhile: ${load.started() - startedBefore} commands`);
        const listed = await evaluate<string[]>(
          `return [...document.querySelectorAll('.pane .monaco-list-row[aria-level="2"]')].map((r) => r.querySelector('.label-name')?.textContent ?? '');`,
        );
        assert.deepEqual(listed, ['UI_LONG'], 'In Flight lists the long command alone');
        await screenshot('tree-under-load-in-flight');
        assert.equal(await stillMarked(CANCEL), true, 'the UI_LONG row was re-rendered while the load flowed');
        await personClick(CANCEL);
        const cancelled = await Promise.race([long, new Promise<undefined>((r) => setTimeout(r, 10_000))]);
        assert.ok(cancelled, 'one click on Cancel ended UI_LONG');
        assert.equal(cancelled.error?.code, 'cancelled', JSON.stringify(cancelled.error));
        assert.equal(
          api
            .telemetry('DETAILED')
            .recentEvents.filter((e) => e.commandType === 'UI_LONG' && e.eventType === 'CANCEL')
            .pop()?.metadata?.by,
          'user',
        );
        await expandTreeSection('Command Types');
        // UI_LONG's row too (a row that joins later refreshes the whole section, rightly).
        await waitUntil(
          async () => {
            const rows = await treeRows('Telemetry');
            return rows.some((l) => /^UI_LOAD/.test(l)) && rows.some((l) => /^UI_LONG/.test(l)) ? true : undefined;
          },
          10_000,
          'the UI_LOAD and UI_LONG type rows',
        );

        // The ECHO type's row (types keep the order they were first seen in, whatever their counts), selected
        // with one click, then its inline Run Again once: the rerun carries the ECHO's own parameters.
        const echoRow = await treeRowIndex('ECHO');
        await click(`.pane .monaco-list-row[data-index="${echoRow}"]`);
        // While UI_LOAD's figures move, the ECHO row is not re-rendered: a re-render rebuilds the row's inline
        // actions, and a click that straddles it is lost. Its Run Again element is marked, then must still be
        // the one on screen after UI_LOAD's row has changed twice.
        const RUN_AGAIN = '.pane .monaco-list-row.focused .action-label[aria-label="Run Again"]';
        const UI_LOAD_ROW = `${TREE_ROW_BY_LABEL} return row?.textContent ?? null;`;
        assert.equal(await markElement(RUN_AGAIN), true, 'the selected ECHO row shows Run Again');
        const ALL = `return [...document.querySelectorAll('.pane .monaco-list-row')].map((r) => r.dataset.index + ' ' + r.textContent);`;
        const rowsAtMark = await evaluate<string[]>(ALL);
        let loadRow = await evaluate<string | null>(UI_LOAD_ROW, 'UI_LOAD');
        for (let moved = 0; moved < 2; moved++) {
          const before = loadRow;
          loadRow = await waitUntil(
            async () => {
              const now = await evaluate<string | null>(UI_LOAD_ROW, 'UI_LOAD');
              return now !== null && now !== before ? now : undefined;
            },
            8000, // a row with inline actions is re-rendered at most every 5 s
            "UI_LOAD's row to change",
          );
        }
        assert.equal(
          await stillMarked(RUN_AGAIN),
          true,
          `the ECHO row was re-rendered while only UI_LOAD changed: ${JSON.stringify(rowsAtMark)} -> ${JSON.stringify(await evaluate<string[]>(ALL))}`,
        );
        await personClick(RUN_AGAIN);
        // Any ending of the rerun (done, failed, cancelled), so a failure names itself.
        const note = await waitUntil(
          async () => (await notificationTexts()).find((t) => /AIOS: ECHO (done in|failed|was cancelled)/.test(t)),
          15_000,
          'the rerun result',
        ).catch(async (err: Error) => {
          throw new Error(
            `${err.message}; notifications: ${JSON.stringify(await notificationTexts())}; in flight: ${JSON.stringify(api.context.middleware.inFlight())}`,
          );
        });
        assert.ok(note.includes(marker), `Run Again reran the row clicked: ${note}`);
        await vscode.commands.executeCommand('notifications.clearAll');

        // A row of Recent Events clicked once (its list is then held: the rows stop moving), then its context menu
        // opened once: Copy Event JSON copies the event of that row, not of one that moved under the pointer.
        // Under this load every refresh replaces every event shown, so a click often meets a refresh in flight:
        // two rounds of click (held), then the header twice (released, closed, opened), each click once.
        await expandTreeSection('Recent Events');
        const HELD = /Telemetry.* · Recent Events held while a row is selected/;
        const ROUNDS = 2;
        let index = '';
        for (let round = 1; round <= ROUNDS; round++) {
          index = await lastTreeRow('COMPLETE UI_LOAD');
          await personClick(`.pane .monaco-list-row[data-index="${index}"]`);
          await waitUntil(async () => (HELD.test(await sideBarTitle()) ? true : undefined), 5000, 'the list held, as the title says').catch(
            async (err: Error) => {
              const ROWS = `return [...document.querySelectorAll('.pane .monaco-list-row')].map((r) => r.dataset.index + (r.classList.contains('selected') ? ' [selected] ' : ' ') + (r.getAttribute('aria-label') || r.textContent));`;
              const rows = await evaluate<string[]>(ROWS);
              await screenshot('tree-under-load-not-held');
              await new Promise((r) => setTimeout(r, 1500));
              const later = await evaluate<string[]>(ROWS);
              throw new Error(
                `${err.message} (round ${round} of ${ROUNDS}); clicked row ${index}; rows: ${JSON.stringify(rows)}; 1.5 s later: ${JSON.stringify(later)}`,
              );
            },
          );
          if (round === ROUNDS) break;
          for (const open of [false, true]) await toggleTreeSection('Recent Events', open);
          await waitUntil(async () => (HELD.test(await sideBarTitle()) ? undefined : true), 5000, 'the list released');
        }
        const rowText = await evaluate<string>(`return document.querySelector('.pane .monaco-list-row[data-index="' + arg + '"]').textContent;`, index);
        await screenshot('tree-under-load');
        await vscode.env.clipboard.writeText('');
        await rightClick(`.pane .monaco-list-row[data-index="${index}"]`);
        await waitFor(`return document.querySelector('.context-view') && document.querySelector('.context-view').offsetParent !== null || null;`);
        await screenshot('tree-under-load-menu');
        await click('.context-view .action-label', 'Copy Event JSON');
        const copied = await waitUntil(async () => (await vscode.env.clipboard.readText()) || undefined, 5000, 'the clipboard');
        const event = JSON.parse(copied) as { eventType: string; commandType: string; timestamp: string };
        assert.ok(
          rowText.startsWith(`${event.eventType} ${event.commandType}${event.timestamp.slice(11, 23)}`),
          `the context menu acted on the row clicked: row "${rowText}", copied ${event.eventType} ${event.commandType} ${event.timestamp}`,
        );

        // A busy type's row: ECHOs flow through the service too now, so ECHO's figures move all the time. Its row is
        // re-rendered at most every 5 s (a re-render rebuilds Run Again and disposes the row's tooltip, shown or
        // pending). Right after one, the pointer comes to rest on the row (not selected): its tooltip shows, VS
        // Code asks the extension for it, and the row is then kept as it is for 10 s. Its Run Again element,
        // marked, is still the one on screen 6 s later (past the 5 s), and one person's click on it reruns ECHO.
        await expandTreeSection('Command Types');
        echoes = startLoad(ECHO_RATE_PER_S, () => api.execute({ commandType: 'ECHO', parameters: { marker } }));
        const echoCount = () => api.context.middleware.telemetry.byType().ECHO?.count ?? 0;
        const ECHO_ROW = `${TREE_ROW_BY_LABEL} return row ? row.dataset.index + '\u0000' + row.textContent : null;`;
        const echoesBefore = echoCount();
        await waitUntil(async () => (echoCount() > echoesBefore + 50 ? true : undefined), 10_000, 'the ECHOs to flow');
        const shownBefore = await waitFor<string>(ECHO_ROW, 'ECHO');
        const rendered = await waitUntil(
          async () => {
            const now = await evaluate<string | null>(`return (() => { ${ECHO_ROW} })();`, 'ECHO');
            return now !== null && now !== shownBefore ? now : undefined;
          },
          8000,
          "ECHO's row to be re-rendered with new figures while ECHOs flow",
        ).catch(async (err: Error) => {
          await screenshot('tree-under-load-echo-row');
          throw new Error(`${err.message}: rows ${JSON.stringify(await evaluate<string[]>(ALL))}, ECHO ran ${echoCount()}`);
        });
        const [busyRow, keptText] = rendered.split('\u0000');
        await hover(`.pane .monaco-list-row[data-index="${busyRow}"] .label-name`);
        const busyTip = await waitFor<string>(
          `const h = [...document.querySelectorAll('.monaco-hover, .workbench-hover')].find((e) => e.offsetParent !== null && e.textContent.includes('Runs'));
           return h ? h.textContent : null;`,
          undefined,
          4000,
        );
        assert.match(busyTip, /ECHO.*Runs\s*\d+/s);
        await screenshot('tree-under-load-busy-tooltip');
        const BUSY_RUN_AGAIN = `.pane .monaco-list-row[data-index="${busyRow}"] .action-label[aria-label="Run Again"]`;
        await hover(BUSY_RUN_AGAIN);
        assert.equal(await markElement(BUSY_RUN_AGAIN), true, 'the ECHO row pointed at shows Run Again');
        const echoesAtMark = echoCount();
        await new Promise((r) => setTimeout(r, 6000));
        const rowNow = await evaluate<string>(`return document.querySelector('.pane .monaco-list-row[data-index="' + arg + '"]').textContent;`, busyRow);
        assert.ok(echoCount() - echoesAtMark > 100, `ECHOs ran meanwhile: ${echoCount() - echoesAtMark}`);
        assert.equal(rowNow, keptText, 'the row pointed at was kept as it was');
        assert.equal(await stillMarked(BUSY_RUN_AGAIN), true, 'the ECHO row pointed at was re-rendered while ECHOs ran');
        await screenshot('tree-under-load-busy-row');
        await personClick(BUSY_RUN_AGAIN);
        const rerun = await waitUntil(
          async () => (await notificationTexts()).find((t) => /AIOS: ECHO (done in|failed|was cancelled)/.test(t)),
          15_000,
          'the busy row rerun result',
        );
        assert.ok(rerun.includes(marker), `Run Again on the busy row reran ECHO: ${rerun}`);
        await hover('.part.sidebar .composite.title');
      } finally {
        longEnds.abort();
        echoed = (await echoes?.stop()) ?? [];
        results = await load.stop();
        await vscode.commands.executeCommand('notifications.clearAll');
      }
      // Nothing was lost while the UI was used.
      assert.ok(results.length > 1500, `${results.length} commands`);
      assert.equal(results.filter((r) => r.success).length, results.length, JSON.stringify(results.find((r) => !r.success)?.error));
      assert.equal(echoed.filter((r) => r.success).length, echoed.length, JSON.stringify(echoed.find((r) => !r.success)?.error));
    });
  });
});
