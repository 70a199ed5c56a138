// "AIOS: Show Telemetry": the report at a detail level as a read-only JSON document (a virtual document,
// so it can't be edited or saved by mistake, and refreshes each time it is opened).
import * as vscode from 'vscode';
import { DETAIL_LEVELS, type DetailLevel } from '../core';
import type { AiosContext } from '../context';
import type { TelemetrySourceFilter } from './sourceFilter';
import { showVirtualDocument } from './virtualDocument';

/** The part of the extension's services this file uses. */
export type DocumentHost = Pick<AiosContext, 'middleware'>;

export const TELEMETRY_SCHEME = 'aios-telemetry';

export class TelemetryDocumentProvider implements vscode.TextDocumentContentProvider {
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.emitter.event;

  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly ctx: DocumentHost,
    private readonly sourceFilter: TelemetrySourceFilter,
  ) {
    // An open report follows the filter (its `filter` field says which sources it covers).
    this.subscription = sourceFilter.onDidChange(() => {
      for (const level of DETAIL_LEVELS) this.emitter.fire(TelemetryDocumentProvider.uri(level));
    });
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const level = uri.path
      .replace(/^\//, '')
      .replace(/\.json$/, '')
      .toUpperCase() as DetailLevel;
    if (!DETAIL_LEVELS.includes(level)) return `// Unknown detail level "${level}": use ${DETAIL_LEVELS.slice(0, -1).join(', ')} or ${DETAIL_LEVELS.at(-1)}.`;
    return JSON.stringify(this.ctx.middleware.telemetry.query(level, this.sourceFilter.filter), null, 2);
  }

  static uri(level: DetailLevel): vscode.Uri {
    return vscode.Uri.from({ scheme: TELEMETRY_SCHEME, path: `/${level}.json` });
  }

  /** Opens (or refreshes) the document for `level`. */
  async show(level: DetailLevel): Promise<vscode.TextDocument> {
    const uri = TelemetryDocumentProvider.uri(level);
    this.emitter.fire(uri);
    return showVirtualDocument(uri, 'json');
  }

  dispose(): void {
    this.subscription.dispose();
    this.emitter.dispose();
  }
}
