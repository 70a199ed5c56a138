// Learning from the telemetry in the real host against the real Python service: the window's model learns
// from the commands it runs (the DETAILED and REALTIME reports say how its predictions fared, in words; the
// words for running and queued commands), and "Tune Throttling from Telemetry" replays what was recorded,
// shows the table and applies the recommended row.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { CommandResult } from '../../src/core';
import type { TuneCommandResult } from '../../src/commands/tune';
import { Commands } from '../../src/shared/ids';
import { predictionText, queueDrainText } from '../../src/views/predictionText';
import { CURRENT_MARK, RECOMMENDED_MARK, limitLabel, settingChanges } from '../../src/views/tuningReport';
import { NOTIFICATION_ITEM, answerQuickInput, click, evaluate, onScreen, notificationTexts, requireUi, runFromPalette, screenshot } from './ui';
import { healthyAios, waitUntil, withSettings, type AiosApi } from './util';

/** Every setting a tuning row may change (keys below `aios.`). */
const TUNABLE_KEYS = ['maxConcurrency', 'baseDelayMs', 'maxDelayMs', 'cpuThreshold', 'maxQueueSize', 'agingMs', 'throttle.mode'];

/** A burst of SLEEPs and ECHOs recorded at limit 4 (so the queue fills), then the limit set to 1 for the tuning. */
async function recordAtFourTuneAtOne(api: AiosApi): Promise<void> {
  const ctx = api.context;
  await withSettings({ maxConcurrency: 4 }, async () => {
    await waitUntil(() => ctx.middleware.admission.limit === 4, 10_000, 'limit 4');
    const results = await Promise.all([
      ...Array.from({ length: 16 }, () => api.execute({ commandType: 'SLEEP', parameters: { seconds: 0.2 } })),
      ...Array.from({ length: 16 }, (_, i) => api.execute({ commandType: 'ECHO', parameters: { i } })),
    ]);
    assert.ok(results.every((r) => r.success));
  });
  // Tuned at limit 1: the recording (4 at once) shows that more slots shorten the waits.
  await vscode.workspace.getConfiguration('aios').update('maxConcurrency', 1, vscode.ConfigurationTarget.Global);
  await waitUntil(() => ctx.middleware.admission.limit === 1, 10_000, 'limit 1');
}

describe('learning from the telemetry', function () {
  this.timeout(240_000);

  it('learns the commands it runs: the DETAILED and REALTIME reports say in words how its predictions fared; running and queued ones get words', async () => {
    const api = await healthyAios();
    const ctx = api.context;
    await ctx.learning.restored;
    await withSettings({ maxConcurrency: 4 }, async () => {
      await waitUntil(() => ctx.middleware.admission.limit === 4, 10_000, 'limit 4');
      // 40 SLEEPs of 0.15 s, eight at a time: the first 20 teach SLEEP, the rest are predicted and scored.
      for (let batch = 0; batch < 5; batch++) {
        const results = await Promise.all(Array.from({ length: 8 }, () => api.execute({ commandType: 'SLEEP', parameters: { seconds: 0.15 } })));
        assert.deepEqual(
          results.map((r) => r.success),
          Array<boolean>(8).fill(true),
        );
      }
      type Section = {
        summary: { durations: string; byType: Record<string, string> };
        types: string[];
        accuracy: { durations: { total: number; p90Coverage: number }; byType: Record<string, { predictions: number; p90Coverage: number }> };
      };
      // The report a person opens: "AIOS: Show Telemetry" at DETAILED says it in words, then in figures.
      const doc = await vscode.commands.executeCommand<vscode.TextDocument>(Commands.showTelemetry, 'DETAILED');
      const section = (JSON.parse(doc.getText()) as { learning: Section }).learning;
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
      assert.ok(section.types.includes('SLEEP'), `SLEEP is modelled: ${section.types.join(', ')}`);
      const sleep = section.accuracy.byType.SLEEP;
      assert.ok(sleep?.predictions >= 10, `SLEEP's predictions were scored: ${JSON.stringify(sleep)}`);
      assert.ok(section.accuracy.durations.p90Coverage >= 0 && section.accuracy.durations.p90Coverage <= 1);
      assert.match(section.summary.durations, /^p90 covered \d+ % of (the last )?\d+ scored durations/);
      assert.ok(
        section.summary.byType.SLEEP.startsWith(`p90 covered ${Math.round(sleep.p90Coverage * 100)} % of ${sleep.predictions} scored durations; mean error `),
        section.summary.byType.SLEEP,
      );
      const realtime = (api.telemetry('REALTIME') as unknown as { learning: Section }).learning;
      assert.ok(realtime.summary.byType.SLEEP, 'REALTIME holds the same section');

      // Six long SLEEPs at limit 4: four run, two wait.
      const long = Array.from({ length: 6 }, () => api.execute({ commandType: 'SLEEP', parameters: { seconds: 2 } }));
      const flights = await waitUntil(
        () => {
          const f = ctx.middleware.inFlight().filter((x) => x.commandType === 'SLEEP');
          return f.filter((x) => x.stage === 'running').length === 4 && f.length === 6 && f;
        },
        10_000,
        'four SLEEPs running and two waiting',
      );
      const forecast = ctx.learning.forecast();
      for (const f of flights) {
        const text = predictionText(ctx.learning, f.commandId, forecast);
        if (f.stage === 'running') assert.match(text ?? '', /^(longer than usual, )?~(<1|\d+) s left \(p90 (<1|\d+) s\)$/, `running ${f.commandId}: ${text}`);
        else assert.match(text ?? '', /^starts in ~(<1|\d+) s$/, `${f.stage} ${f.commandId}: ${text}`);
      }
      assert.match(queueDrainText(ctx.learning, forecast) ?? '', /^queue drains in ~(<1|\d+) s$/);
      const ended: CommandResult[] = await Promise.all(long);
      assert.ok(ended.every((r) => r.success));
      assert.equal(predictionText(ctx.learning, flights[0].commandId), undefined, 'a command no longer in flight has no words');
    });
  });

  it('"Tune Throttling from Telemetry": the table holds the current row and the recommended one; applying writes them', async () => {
    const api = await healthyAios();
    const ctx = api.context;
    const cfg = () => vscode.workspace.getConfiguration('aios');
    const before = Object.fromEntries(TUNABLE_KEYS.map((k) => [k, cfg().inspect(k)?.globalValue]));
    try {
      await recordAtFourTuneAtOne(api);

      await assert.rejects(Promise.resolve(vscode.commands.executeCommand(Commands.tuneThrottling, { period: 'month' })), /period must be one of "hour"/);
      const answer = await vscode.commands.executeCommand<TuneCommandResult>(Commands.tuneThrottling, { period: 'hour', apply: 'user' });
      assert.ok(answer?.result && answer.uri, `a report: ${JSON.stringify(answer?.tooLittle)}`);
      const { result } = answer;
      assert.equal(result.current.settings.maxConcurrency, 1, 'the current row is the settings in force');
      assert.ok(result.commands >= 32, `the commands just run were replayed: ${result.commands}`);

      const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === answer.uri);
      assert.ok(doc, 'the report is open');
      assert.equal(doc.languageId, 'markdown');
      const rows = doc
        .getText()
        .split('\n')
        .filter((l) => l.startsWith('|'))
        .slice(2)
        .map((l) =>
          l
            .slice(1, -1)
            .split('|')
            .map((c) => c.trim()),
        );
      assert.equal(rows.length, result.rows.length);
      const current = rows.find((r) => r[0].split(', ').includes(CURRENT_MARK));
      const recommended = rows.find((r) => r[0].split(', ').includes(RECOMMENDED_MARK));
      assert.equal(current?.[1], limitLabel(result.current.settings), 'the current settings are a row');
      assert.equal(recommended?.[1], limitLabel(result.recommended.settings), 'the recommended row is marked');
      assert.ok(doc.getText().includes(`**Objective:** ${result.objective}`), 'the objective is stated');
      assert.equal(result.recommended.current, false, 'limit 1 is not the best for what was recorded at 4');

      // Applied to the user's settings, and the middleware follows them.
      const written = settingChanges(result.recommended.changes);
      assert.deepEqual(answer.applied, { target: 'user', settings: written });
      for (const [k, v] of Object.entries(written)) assert.equal(cfg().inspect(k)?.globalValue, v, `aios.${k} written`);
      const limit = (written.maxConcurrency as number | undefined) ?? 1;
      await waitUntil(() => ctx.middleware.config.maxConcurrency === limit, 10_000, `the middleware at limit ${limit}`);
      await ctx.learning.restored;

      if (onScreen()) {
        // Read back through the browser: the editor shows the report's title and the marked rows.
        // The editor draws only the lines in view (its height depends on the panel below): the top first, then
        // the recommended row scrolled to, as a reader does.
        const editor = await vscode.window.showTextDocument(doc, { preview: false });
        const onScreen = () =>
          evaluate<string>(
            `return [...document.querySelectorAll('.part.editor .monaco-editor .view-lines')].map((e) => e.textContent).join('\\n').replace(/\\u00a0/g, ' ');`,
          );
        const shown = await waitUntil(
          async () => {
            const text = await onScreen();
            return text.includes('# AIOS: Tune Throttling from Telemetry') && text;
          },
          20_000,
          'the tuning report on screen',
        );
        assert.ok(shown.includes(`**Recommended: ${result.recommended.label}**`), 'the recommendation is on screen');
        const markLine = doc.lineAt(doc.positionAt(doc.getText().indexOf(RECOMMENDED_MARK)).line);
        editor.revealRange(markLine.range, vscode.TextEditorRevealType.InCenter);
        await waitUntil(async () => (await onScreen()).includes(RECOMMENDED_MARK) || undefined, 10_000, 'the recommended row on screen');
        await screenshot('learning-tuning-report');
      }
    } finally {
      for (const [k, v] of Object.entries(before)) await cfg().update(k, v, vscode.ConfigurationTarget.Global);
    }
  });

  it('from the palette: a period picked, the report shown, nothing written until "Apply Recommended Settings" and a target are picked', async function () {
    requireUi(this);
    const api = await healthyAios();
    const cfg = () => vscode.workspace.getConfiguration('aios');
    const before = Object.fromEntries(TUNABLE_KEYS.map((k) => [k, cfg().inspect(k)?.globalValue]));
    try {
      await recordAtFourTuneAtOne(api);
      await vscode.commands.executeCommand('notifications.clearAll');
      await runFromPalette('AIOS: Tune Throttling from Telemetry');
      await answerQuickInput(/which period to replay/, 'The last hour');
      const offer = await waitUntil(
        async () => (await notificationTexts()).find((t) => t.includes('AIOS: recommended: aios.')),
        60_000,
        'the recommendation offered',
      );
      const doc = await waitUntil(
        () => (vscode.window.activeTextEditor?.document.uri.scheme === 'aios-tuning' ? vscode.window.activeTextEditor.document : undefined),
        10_000,
        'the tuning report',
      );
      assert.ok(doc.getText().includes(RECOMMENDED_MARK));
      await screenshot('learning-tune-offer');
      assert.equal(cfg().inspect('maxConcurrency')?.globalValue, 1, `nothing written before the click (offered: ${offer})`);

      await click(`${NOTIFICATION_ITEM} .monaco-button`, 'Apply Recommended Settings');
      await answerQuickInput(/where to write them/, 'User Settings');
      const written = await waitUntil(
        async () => (await notificationTexts()).find((t) => /AIOS: \d+ settings? written to User settings/.test(t)),
        20_000,
        'the settings written',
      );
      const changed = TUNABLE_KEYS.filter((k) => cfg().inspect(k)?.globalValue !== (k === 'maxConcurrency' ? 1 : before[k]));
      assert.ok(changed.length > 0, `some setting written: ${written}`);
      assert.ok(offer.includes(`aios.${changed[0]} `), `what was written is what was offered: ${offer}`);
    } finally {
      for (const [k, v] of Object.entries(before)) await cfg().update(k, v, vscode.ConfigurationTarget.Global);
    }
  });
});
