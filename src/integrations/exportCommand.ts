// "AIOS: Export Telemetry…": the events of every window session between two times, read from the on-disk logs
// (src/core/telemetry/exportFile.ts, read-only: the logs and the stats snapshot stay as they are), written as JSON Lines
// or CSV with progress and Cancel; torn or corrupt lines are skipped, counted and reported at the end.
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { AiosContext } from '../context';
import { exportTelemetry, parseTimeBound, type ExportFormat, type ExportResult } from '../core/telemetry';

/** The part of the extension's services this file uses. */
export type ExportCommandHost = Pick<AiosContext, 'extension' | 'log' | 'middleware'>;

export interface ExportArgs {
  /** From code: no questions. */
  outputPath: string;
  format?: ExportFormat;
  from?: string | number;
  to?: string | number;
}

const RANGES: { label: string; ms?: number; detail?: string }[] = [
  { label: 'The last hour', ms: 3_600_000 },
  { label: 'The last 24 hours', ms: 86_400_000 },
  { label: 'The last 7 days', ms: 7 * 86_400_000 },
  { label: 'Everything on disk' },
  { label: 'Between two times…', detail: 'ISO 8601 (2026-12-01T09:00) or epoch milliseconds' },
];

export async function exportTelemetryCommand(ctx: ExportCommandHost, args?: unknown): Promise<ExportResult | undefined> {
  const given = args as ExportArgs | undefined;
  const storageDir = join(ctx.extension.globalStorageUri.fsPath, 'telemetry');
  // What this window recorded a moment ago is in the export too.
  await ctx.middleware.flush();
  if (given?.outputPath) return exportTelemetry({ storageDir, overwrite: true, ...given });

  const format = await vscode.window.showQuickPick(
    [
      { label: 'JSON Lines', description: '.jsonl: one event per line, as stored', format: 'jsonl' as const },
      { label: 'CSV', description: '.csv: one row per event, for spreadsheets', format: 'csv' as const },
    ],
    { title: 'AIOS: Export Telemetry (1/3): format' },
  );
  if (!format) return undefined;
  const range = await vscode.window.showQuickPick(RANGES, { title: 'AIOS: Export Telemetry (2/3): which events' });
  if (!range) return undefined;
  let from: number | undefined;
  let to: number | undefined;
  if (range.ms) from = Date.now() - range.ms;
  else if (range.detail) {
    const ask = async (which: string, required: boolean) => {
      const text = await vscode.window.showInputBox({
        title: `AIOS: Export Telemetry: ${which}`,
        prompt: `${range.detail}${required ? '' : '; leave empty for open'}`,
        validateInput: (v) => {
          if (!v.trim()) return required ? 'a time is needed' : undefined;
          try {
            parseTimeBound(v.trim(), which);
            return undefined;
          } catch (err) {
            return err instanceof Error ? err.message : String(err);
          }
        },
      });
      return text === undefined ? null : text.trim() ? parseTimeBound(text.trim(), which) : undefined;
    };
    const f = await ask('from (inclusive)', false);
    if (f === null) return undefined;
    const t = await ask('to (exclusive)', false);
    if (t === null) return undefined;
    from = f;
    to = t;
  }
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const target = await vscode.window.showSaveDialog({
    title: 'AIOS: Export Telemetry (3/3): save as',
    defaultUri: vscode.Uri.file(
      join(
        vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? ctx.extension.globalStorageUri.fsPath,
        `aios-telemetry-${stamp}.${format.format === 'csv' ? 'csv' : 'jsonl'}`,
      ),
    ),
    filters: format.format === 'csv' ? { CSV: ['csv'] } : { 'JSON Lines': ['jsonl', 'ndjson'] },
  });
  if (!target) return undefined;

  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'AIOS: exporting telemetry', cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort(new Error('cancelled by the user')));
      let last = 0;
      try {
        return await exportTelemetry({
          storageDir,
          outputPath: target.fsPath,
          format: format.format,
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
          overwrite: true,
          signal: abort.signal,
          onProgress: (p) => {
            const pct = p.totalBytes ? Math.floor((p.bytesRead / p.totalBytes) * 100) : 100;
            progress.report({ message: `${p.eventsWritten.toLocaleString('en-US')} events`, increment: pct - last });
            last = pct;
          },
        });
      } catch (err) {
        if (abort.signal.aborted) return undefined;
        throw err;
      }
    },
  );
  if (!result) {
    void vscode.window.showInformationMessage('AIOS: the export was cancelled; no file was written.');
    return undefined;
  }
  const skipped = result.skippedLines
    ? ` ${result.skippedLines} line${result.skippedLines === 1 ? '' : 's'} skipped (${result.tornLines} torn, ${result.corruptLines} corrupt).`
    : '';
  ctx.log.info(`Exported ${result.eventsWritten} telemetry events from ${result.sessions} window sessions to ${result.outputPath}.${skipped}`);
  void vscode.window
    .showInformationMessage(
      `AIOS: exported ${result.eventsWritten.toLocaleString('en-US')} events from ${result.sessions} window session${result.sessions === 1 ? '' : 's'}.${skipped}`,
      'Open',
    )
    .then((c) => c && vscode.window.showTextDocument(vscode.Uri.file(result.outputPath)));
  return result;
}
