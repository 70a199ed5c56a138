// "Show Result": a command's whole result as a read-only JSON document (a virtual document, so it can't be
// edited or saved by mistake). The last RESULTS_KEPT results are kept in memory only.
import * as vscode from 'vscode';
import { showVirtualDocument } from './virtualDocument';

export const RESULT_SCHEME = 'aios-result';
const RESULTS_KEPT = 50;

export class ResultDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  /** Insertion order is age order. */
  private readonly results = new Map<string, string>();

  /** Keeps `value` (pretty-printed) under `commandId`, forgetting the oldest beyond RESULTS_KEPT. */
  keep(commandId: string, value: unknown): void {
    this.results.delete(commandId);
    this.results.set(commandId, `${JSON.stringify(value, null, 2) ?? 'null'}\n`);
    while (this.results.size > RESULTS_KEPT) this.results.delete(this.results.keys().next().value as string);
  }

  has(commandId: string): boolean {
    return this.results.has(commandId);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const id = uri.path.replace(/^\/(?:[^/]*\/)?/, '').replace(/\.json$/, '');
    return this.results.get(id) ?? `// The result of ${id} is no longer kept (only the last ${RESULTS_KEPT} are).\n`;
  }

  /** Opens the kept result of `commandId` (named after its command type in the tab). */
  async show(commandId: string, commandType: string): Promise<vscode.TextDocument> {
    const uri = vscode.Uri.from({ scheme: RESULT_SCHEME, path: `/${commandType.replace(/[^\w.:-]+/g, '_')}/${commandId}.json` });
    return showVirtualDocument(uri, 'json');
  }

  dispose(): void {
    this.results.clear();
  }
}
