// "AIOS: Tune Throttling from Telemetry…": the recorded arrivals and service times of a period, replayed for a
// grid of admission settings (src/core/learning: loadWorkload, tune), shown as a table in a read-only
// document; "Apply Recommended Settings" then writes the recommended row's aios.* settings where the user
// picks. Nothing changes without that click. From code, `{ period, apply? }` asks nothing.
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { AiosContext } from '../context';
import { loadWorkload, tunableSettings, tune, type TuningResult, type TuningRow } from '../core';
import { SECTION } from '../settings';
import type { TuningDocuments } from '../views/tuningDocument';
import { TUNING_PERIODS, describeChanges, settingChanges, tooLittleTelemetry, tuningMarkdown, tuningPeriod, type TuningPeriod } from '../views/tuningReport';

/** The part of the extension's services this file uses. */
export type TuneHost = Pick<AiosContext, 'extension' | 'log' | 'middleware'>;

export type ApplyTarget = 'workspace' | 'user';

export interface TuneArgs {
  period: TuningPeriod;
  /** Apply the recommended row there at once (no question); absent: only the report. */
  apply?: ApplyTarget;
}

export interface TuneCommandResult {
  /** The one line shown when the period held too little to tune from (nothing else happened). */
  tooLittle?: string;
  result?: TuningResult;
  /** The report's document. */
  uri?: string;
  /** The aios.* settings written (keys below `aios.`) and where; absent when nothing was applied. */
  applied?: { target: ApplyTarget; settings: Record<string, unknown> };
}

const TITLE = 'AIOS: Tune Throttling from Telemetry';
const APPLY = 'Apply Recommended Settings';

export async function tuneThrottlingCommand(ctx: TuneHost, documents: TuningDocuments, args?: unknown): Promise<TuneCommandResult | undefined> {
  const given = args as Partial<TuneArgs> | undefined;
  if (given?.apply !== undefined && given.apply !== 'workspace' && given.apply !== 'user')
    throw new Error(`apply must be "workspace" or "user"; got ${JSON.stringify(given.apply)}`);
  const period =
    given?.period !== undefined
      ? tuningPeriod(given.period)
      : (
          await vscode.window.showQuickPick(
            TUNING_PERIODS.map((p) => ({ label: p.label[0].toUpperCase() + p.label.slice(1), period: p })),
            { title: `${TITLE}: which period to replay` },
          )
        )?.period;
  if (!period) return undefined;

  const storageDir = join(ctx.extension.globalStorageUri.fsPath, 'telemetry');
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'AIOS: tuning throttling', cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      const cancelled = token.onCancellationRequested(() => abort.abort(new Error('cancelled by the user')));
      try {
        // What this window recorded a moment ago is replayed too.
        await ctx.middleware.flush();
        progress.report({ message: `reading ${period.label} of telemetry…` });
        const from = 'ms' in period ? Date.now() - period.ms : undefined;
        const workload = await loadWorkload(storageDir, { ...(from !== undefined ? { from } : {}), signal: abort.signal });
        const tooLittle = tooLittleTelemetry(workload, period.label);
        if (tooLittle) return { tooLittle };
        let last = 0;
        const result = await tune(workload, {
          current: tunableSettings(ctx.middleware.config),
          signal: abort.signal,
          onProgress: (done, total) => {
            const pct = Math.floor((done / total) * 100);
            progress.report({
              message: `replaying ${workload.commands.length.toLocaleString('en-US')} commands: ${done} of ${total} settings`,
              increment: pct - last,
            });
            last = pct;
          },
        });
        return { result, markdown: tuningMarkdown(result, { periodLabel: period.label, workload }) };
      } catch (err) {
        if (abort.signal.aborted) return undefined;
        throw err;
      } finally {
        cancelled.dispose();
      }
    },
  );
  if (!outcome) {
    void vscode.window.showInformationMessage('AIOS: tuning was cancelled; nothing changed.');
    return undefined;
  }
  if ('tooLittle' in outcome) {
    void vscode.window.showInformationMessage(`AIOS: ${outcome.tooLittle}`);
    return { tooLittle: outcome.tooLittle };
  }
  const { result, markdown } = outcome;
  const doc = await documents.show(markdown);
  const rec = result.recommended;
  ctx.log.info(
    `Tuning replayed ${result.commands} commands (${period.label}) for ${result.rows.length} settings in ${Math.round(result.elapsedMs)} ms; recommended: ${rec.current ? 'the current settings' : rec.label}`,
  );
  const answer: TuneCommandResult = { result, uri: doc.uri.toString() };
  if (rec.current) {
    if (!given) void vscode.window.showInformationMessage(`AIOS: the current settings are the recommended ones (${rec.label}): nothing to change.`);
    return answer;
  }
  if (given?.apply) return { ...answer, applied: await applyRow(ctx, rec, given.apply) };
  // From the palette: offered, not asked (no modal); the report stays open whatever is chosen.
  if (!given) void offerApply(ctx, result);
  return answer;
}

async function offerApply(ctx: TuneHost, result: TuningResult): Promise<void> {
  const rec = result.recommended;
  const choice = await vscode.window.showInformationMessage(`AIOS: recommended: ${describeChanges(rec, result.current.settings)}.`, APPLY);
  if (choice !== APPLY) return;
  const targets: Array<{ label: string; description: string; target: ApplyTarget }> = [
    ...(vscode.workspace.workspaceFolders?.length
      ? [{ label: 'Workspace Settings', description: 'this workspace only (.vscode/settings.json)', target: 'workspace' as const }]
      : []),
    { label: 'User Settings', description: 'every window', target: 'user' as const },
  ];
  const where = await vscode.window.showQuickPick(targets, { title: `${APPLY}: where to write them` });
  if (!where) return;
  try {
    await applyRow(ctx, rec, where.target);
  } catch (err) {
    void vscode.window.showErrorMessage(`AIOS: the settings could not be written: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Writes each setting the row changes in `target`; says what it did, and which workspace values still win over the user's. */
async function applyRow(ctx: TuneHost, row: TuningRow, target: ApplyTarget): Promise<{ target: ApplyTarget; settings: Record<string, unknown> }> {
  const settings = settingChanges(row.changes);
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const scope = target === 'workspace' ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  for (const [key, value] of Object.entries(settings)) await cfg.update(key, value, scope);
  const shadowed = target === 'user' ? Object.keys(settings).filter((k) => cfg.inspect(k)?.workspaceValue !== undefined) : [];
  const where = target === 'workspace' ? 'Workspace' : 'User';
  ctx.log.info(`Applied the recommended throttling settings to ${where} settings: ${JSON.stringify(settings)}`);
  void vscode.window.showInformationMessage(
    `AIOS: ${Object.keys(settings).length} setting${Object.keys(settings).length === 1 ? '' : 's'} written to ${where} settings (${row.label}).` +
      (shadowed.length ? ` This workspace's own ${shadowed.map((k) => `aios.${k}`).join(', ')} still take${shadowed.length === 1 ? 's' : ''} precedence.` : ''),
  );
  return { target, settings };
}
