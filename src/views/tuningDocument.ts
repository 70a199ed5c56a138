// The tuning reports as read-only Markdown documents (virtual, so they cannot be edited or saved by mistake);
// the last REPORTS_KEPT are kept in memory only.
import * as vscode from 'vscode';
import { showVirtualDocument } from './virtualDocument';

export const TUNING_SCHEME = 'aios-tuning';
const REPORTS_KEPT = 10;

export class TuningDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  /** By path; insertion order is age order. */
  private readonly reports = new Map<string, string>();
  private counter = 0;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return (
      this.reports.get(uri.path) ??
      `This tuning report is no longer kept (only the last ${REPORTS_KEPT} are): run "AIOS: Tune Throttling from Telemetry…" again.\n`
    );
  }

  /** Keeps `markdown` and opens it in a tab of its own. */
  async show(markdown: string): Promise<vscode.TextDocument> {
    const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
    const path = `/Tuning ${stamp} ${++this.counter}.md`;
    this.reports.set(path, markdown);
    while (this.reports.size > REPORTS_KEPT) this.reports.delete(this.reports.keys().next().value as string);
    return showVirtualDocument(vscode.Uri.from({ scheme: TUNING_SCHEME, path }), 'markdown');
  }

  dispose(): void {
    this.reports.clear();
  }
}
