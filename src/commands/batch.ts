// "AIOS: Run Batch…": a JSON Lines file (one request per line) or the active editor's text, submitted through
// the pipeline with the requests' priorities. One notification shows done / failed / waiting and Cancel; at
// the end a summary notification and a read-only results document (JSON Lines, one line per request).
import * as vscode from 'vscode';
import type { AiosContext } from '../context';
import { batchWindow, formatBatchResults, parseJsonLines, runBatch, summarizeBatch, type BatchOutcome } from '../core';
import { showVirtualDocument } from '../views/virtualDocument';

/** The part of the extension's services this file uses. */
export type BatchHost = Pick<AiosContext, 'log' | 'middleware' | 'run'>;

export const BATCH_SCHEME = 'aios-batch';
/** Results documents kept in memory (the newest). */
const KEPT_RESULTS = 5;

export interface RunBatchArgs {
  /** A JSON Lines file. */
  uri?: vscode.Uri | string;
  /** JSON Lines text (instead of a file). */
  text?: string;
  /** Open the results document and show the summary (the palette does; code may not want it). */
  interactive?: boolean;
  /** For tests: the batch's own signal instead of the notification's Cancel. */
  signal?: AbortSignal;
}

export interface BatchRun extends BatchOutcome {
  /** Where its results document is (aios-batch:…). */
  resultsUri: string;
  source: string;
}

/** Whole results a results document leaves out (over BATCH_RESULT_MAX_BYTES), kept per batch up to this. */
const WHOLE_RESULTS_MAX_BYTES = 32 * 1024 * 1024;
/** …results.jsonl/<index in the results>/line-<the request's line>.json: the tab is named after the request's line. */
const LINE_PATH = /^(.*\.results\.jsonl)\/(\d+)\/line-\d+\.json$/;
/** How a results line starts: its link (the request's line number) covers this and the number. */
const LINE_PREFIX = '{"line":';

interface BatchDocument {
  text: string;
  /** By index in the batch's results: the whole results the text leaves out, within the budget. */
  whole: Map<number, unknown>;
}

/**
 * The read-only results documents, by URI, and one request's entry of one, pretty-printed with its whole
 * result: each line's request number is a link to it.
 */
export class BatchResultsProvider implements vscode.TextDocumentContentProvider, vscode.DocumentLinkProvider {
  private readonly docs = new Map<string, BatchDocument>();
  private counter = 0;

  add(name: string, outcome: BatchOutcome): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: BATCH_SCHEME, path: `/${++this.counter}-${name.replace(/[^\w.-]+/g, '_')}.results.jsonl` });
    const whole = new Map<number, unknown>();
    let budget = WHOLE_RESULTS_MAX_BYTES;
    const text = formatBatchResults(outcome, {
      openResult: (index, bytes) => {
        if (bytes > budget) return 'too large to keep: run it alone to see it whole';
        budget -= bytes;
        whole.set(index, outcome.results[index].result);
        return 'follow the link on its line number to open it whole';
      },
    });
    this.docs.set(uri.toString(), { text, whole });
    while (this.docs.size > KEPT_RESULTS) this.docs.delete(this.docs.keys().next().value!);
    return uri;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const one = LINE_PATH.exec(uri.path);
    const doc = this.docs.get((one ? uri.with({ path: one[1] }) : uri).toString());
    if (!doc) return '// These batch results are no longer kept; run the batch again.';
    if (!one) return doc.text;
    const index = Number(one[2]);
    const text = lineAt(doc.text, index);
    if (text === undefined) return `// This batch has no request ${index + 1}.`;
    const entry = JSON.parse(text) as Record<string, unknown>;
    if (doc.whole.has(index)) {
      delete entry.resultOmitted;
      entry.result = doc.whole.get(index);
    }
    return `${JSON.stringify(entry, null, 2)}\n`;
  }

  provideDocumentLinks(document: vscode.TextDocument): vscode.DocumentLink[] {
    if (!this.docs.has(document.uri.toString())) return [];
    const links: vscode.DocumentLink[] = [];
    for (let i = 0; i < document.lineCount; i++) {
      const text = document.lineAt(i).text;
      if (!text.startsWith(LINE_PREFIX)) continue;
      const line = /^\d+/.exec(text.slice(LINE_PREFIX.length))?.[0] ?? '';
      const link = new vscode.DocumentLink(
        new vscode.Range(i, 0, i, LINE_PREFIX.length + line.length),
        document.uri.with({ path: `${document.uri.path}/${i}/line-${line}.json` }),
      );
      link.tooltip = 'Open this request with its whole result';
      links.push(link);
    }
    return links;
  }
}

/** The `index`-th line of `text` (0-based), without splitting all of it. */
function lineAt(text: string, index: number): string | undefined {
  let start = 0;
  for (let i = 0; i < index; i++) {
    start = text.indexOf('\n', start) + 1;
    if (start === 0) return undefined;
  }
  const end = text.indexOf('\n', start);
  const line = text.slice(start, end < 0 ? undefined : end);
  return line || undefined;
}

export const batchResults = new BatchResultsProvider();

async function pickInput(args: RunBatchArgs | undefined): Promise<{ text: string; name: string } | undefined> {
  if (args?.text !== undefined) return { text: args.text, name: 'text' };
  if (args?.uri !== undefined) {
    const uri = typeof args.uri === 'string' ? vscode.Uri.file(args.uri) : args.uri;
    return { text: new TextDecoder().decode(await vscode.workspace.fs.readFile(uri)), name: uri.path.split('/').pop() ?? 'batch' };
  }
  const editor = vscode.window.activeTextEditor;
  const items: (vscode.QuickPickItem & { id: 'editor' | 'file' })[] = [];
  if (editor)
    items.push({ id: 'editor', label: 'The active editor', description: vscode.workspace.asRelativePath(editor.document.uri), detail: 'one request per line' });
  items.push({ id: 'file', label: 'A JSON Lines file…', detail: 'one request per line, like {"commandType": "ECHO", "priority": "HIGH", "parameters": {}}' });
  const choice = items.length === 1 ? items[0] : await vscode.window.showQuickPick(items, { title: 'AIOS: Run Batch: requests from' });
  if (!choice) return undefined;
  if (choice.id === 'editor' && editor) return { text: editor.document.getText(), name: editor.document.uri.path.split('/').pop() ?? 'editor' };
  const picked = await vscode.window.showOpenDialog({
    title: 'AIOS: Run Batch',
    canSelectMany: false,
    filters: { 'JSON Lines': ['jsonl', 'ndjson', 'txt'], All: ['*'] },
  });
  if (!picked?.[0]) return undefined;
  return pickInput({ uri: picked[0] });
}

export async function runBatchCommand(ctx: BatchHost, args?: unknown): Promise<BatchRun | undefined> {
  const given = args as RunBatchArgs | undefined;
  const interactive = given === undefined || given.interactive === true;
  let input: { text: string; name: string } | undefined;
  try {
    input = await pickInput(given);
  } catch (err) {
    void vscode.window.showErrorMessage(`AIOS: Run Batch: could not read the requests: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  if (!input) return undefined;
  const cfg = ctx.middleware.config;
  const parsed = parseJsonLines(input.text, cfg.maxParameterBytes);
  for (const e of parsed.errors) ctx.log.warn(`Batch ${input.name}: line ${e.line} skipped: ${e.message}`);
  if (parsed.items.length === 0 && parsed.errors.length === 0) {
    void vscode.window.showWarningMessage('AIOS: Run Batch: there are no requests (one JSON object per line).');
    return undefined;
  }
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `AIOS: Batch ${input.name}`, cancellable: true },
    (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort(new Error('batch cancelled by the user')));
      given?.signal?.addEventListener('abort', () => abort.abort(given.signal!.reason), { once: true });
      let reported = 0;
      const window = batchWindow(ctx.middleware);
      return runBatch((r, o) => ctx.run(r, o), parsed.items, {
        signal: abort.signal,
        window: window.window,
        skipped: parsed.errors,
        // What each command returned goes into the results document (capped per line by formatBatchResults).
        keepResults: true,
        onProgress: (p) => {
          const finished = p.done + p.failed + p.cancelled;
          const bad = parsed.errors.length ? ` · ${parsed.errors.length} bad line${parsed.errors.length > 1 ? 's' : ''} skipped` : '';
          // withProgress's increment is cumulative: send only what is new.
          const increment = p.total ? ((finished - reported) / p.total) * 100 : 0;
          reported = finished;
          progress.report({
            message: `${p.done} done · ${p.failed} failed${p.cancelled ? ` · ${p.cancelled} cancelled` : ''} · ${p.waiting} waiting${bad}`,
            increment,
          });
        },
      }).finally(() => window.dispose());
    },
  );
  const summary = summarizeBatch(outcome);
  ctx.log.info(`Batch ${input.name}: ${summary}`);
  const resultsUri = batchResults.add(input.name, outcome);
  if (interactive) {
    await showVirtualDocument(resultsUri);
    const firstBad = parsed.errors[0];
    const detail = firstBad ? ` First bad line: ${firstBad.line} (${firstBad.message.slice(0, 120)}).` : '';
    const show = outcome.failed || outcome.skipped || outcome.cancelled ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    void show(`AIOS: Batch ${input.name}: ${summary}.${detail}`, 'Show Output').then((c) => c && ctx.log.show(true));
  }
  return { ...outcome, resultsUri: resultsUri.toString(), source: input.name };
}
