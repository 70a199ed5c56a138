// Batches: many requests submitted through the pipeline with their priorities, a bounded number at a time so
// a batch never fills the admission queue on its own. A bad line is reported with its number and skipped;
// the rest run. Cancel stops what has not finished (each ends in CANCEL, recorded like any other).
import type { CommandResult, ErrorCode, ExecuteOptions, Priority } from '../types';
import type { LimitChange } from '../admission';
import { validateRequest } from '../pipeline';
import { sourceString } from '../telemetry';

/** One request of a batch and where it came from (its line in a JSON Lines text, or its index). */
export interface BatchItem {
  /** 1-based line number, or the 0-based index of an array the API was given. */
  readonly line: number;
  readonly request: unknown;
}

export interface BatchLineError {
  readonly line: number;
  readonly message: string;
}

export interface ParsedBatch {
  items: BatchItem[];
  /** Lines that are not a valid request (bad JSON, or the request checks failed): skipped. */
  errors: BatchLineError[];
  /** Non-blank lines seen. */
  lines: number;
}

/**
 * Parses JSON Lines: one request object per line; blank lines are ignored. Each line is checked like a
 * request is (so its error names the field), and the ones that fail are listed with their line number.
 */
export function parseJsonLines(text: string, maxParameterBytes: number): ParsedBatch {
  const items: BatchItem[] = [];
  const errors: BatchLineError[] = [];
  let lines = 0;
  let start = 0;
  let lineNo = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const raw = text.slice(start, end).trim();
    start = end + 1;
    if (!raw) continue;
    lines++;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      errors.push({ line: lineNo, message: `not valid JSON (${(e as Error).message})` });
      continue;
    }
    try {
      validateRequest(value, maxParameterBytes);
    } catch (e) {
      errors.push({ line: lineNo, message: (e as Error).message });
      continue;
    }
    const request = value as Record<string, unknown>;
    // Source `batch`; a line's own `source` is its caller (`batch:nightly`), never a kind it could claim.
    items.push({ line: lineNo, request: { ...request, source: sourceString('batch', request.source) } });
  }
  return { items, errors, lines };
}

export interface BatchProgress {
  readonly total: number;
  /** Finished successfully. */
  readonly done: number;
  /** Finished with an error (not a cancel). */
  readonly failed: number;
  readonly cancelled: number;
  /** Not finished yet: queued, delayed, running or not yet submitted. */
  readonly waiting: number;
}

export interface BatchItemResult {
  readonly line: number;
  readonly commandId?: string;
  readonly commandType: string;
  readonly success: boolean;
  readonly durationMs: number;
  readonly error?: { readonly code: ErrorCode; readonly message: string };
  /** The line was never submitted (it is not a valid request). */
  readonly skipped?: boolean;
  readonly result?: unknown;
}

export interface BatchOutcome {
  readonly results: BatchItemResult[];
  readonly total: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly cancelled: number;
  readonly skipped: number;
  readonly durationMs: number;
}

export interface RunBatchOptions {
  signal?: AbortSignal;
  /**
   * Requests submitted and not yet finished at most (default 64): a number, or a function read again each time
   * a request may be submitted (the limit in force, which an adaptive or shared limit moves).
   */
  window?: number | (() => number);
  onProgress?: (progress: BatchProgress) => void;
  /** onProgress is called at most this often while commands finish, and once at the end (default 200). */
  progressIntervalMs?: number;
  /** Lines reported by parseJsonLines: they appear in the results as skipped. */
  skipped?: readonly BatchLineError[];
  /** Keep each command's result value in the outcome (the API wants it; a results document does not). */
  keepResults?: boolean;
  now?: () => number;
}

/** What batchWindow follows: the limit in force now, and its changes. */
export interface BatchWindowSource {
  readonly admission: { readonly limit: number };
  onLimitChange(listener: (change: LimitChange) => void): { dispose(): void };
}

/**
 * A batch keeps as many requests submitted as the limit in force lets run at once, and no more: a request
 * submitted over the limit waits admission's backoff (`aios.baseDelayMs` and up) before it may queue, so a
 * batch that kept a queue of its own waiting would be paced by its own backoff (about window / delay a
 * second, whatever the service could do). At the limit, each finished request's slot goes first to whatever
 * other sources queued meanwhile (the queue's head is started as the slot frees), then to the batch's next:
 * the batch yields to the palette, terminals and other callers and is backed off only when they compete.
 * Follows the limit as an adaptive or shared limit moves it; call dispose() when the batch ends.
 */
export function batchWindow(source: BatchWindowSource): { window: () => number; dispose(): void } {
  let limit = source.admission.limit;
  const sub = source.onLimitChange((c) => (limit = c.to));
  return { window: () => Math.max(1, limit), dispose: () => sub.dispose() };
}

export type ExecuteFn = (request: unknown, options?: ExecuteOptions) => Promise<CommandResult>;

const PRIORITY_RANK: Record<string, number> = { HIGH: 0, high: 0, NORMAL: 1, normal: 1, LOW: 2, low: 2 };

function rank(request: unknown): number {
  const p = (request as { priority?: Priority } | null)?.priority;
  return p === undefined ? 1 : (PRIORITY_RANK[p] ?? 1);
}

/**
 * Submits every item through `execute` (the middleware with its router), HIGH before NORMAL before LOW (in
 * order within one priority), with at most `window` outstanding; the pipeline's queues order them further
 * against other sources. Never rejects: each item's outcome is in the results, in line order.
 */
export async function runBatch(execute: ExecuteFn, items: readonly BatchItem[], options: RunBatchOptions = {}): Promise<BatchOutcome> {
  const now = options.now ?? (() => performance.now());
  const t0 = now();
  const n = items.length;
  const order = items.map((_, i) => i);
  order.sort((a, b) => rank(items[a].request) - rank(items[b].request) || a - b);
  const results: (BatchItemResult | undefined)[] = new Array<BatchItemResult | undefined>(n);
  const given = options.window ?? 64;
  const window = typeof given === 'function' ? given : () => given;
  const signal = options.signal;
  const execOptions: ExecuteOptions | undefined = signal ? { signal } : undefined;
  const keep = options.keepResults === true;
  let next = 0;
  let outstanding = 0;
  let done = 0;
  let failed = 0;
  let cancelled = 0;
  const interval = options.progressIntervalMs ?? 200;
  let lastReport = -Infinity;
  const onProgress = options.onProgress;
  const report = (force: boolean) => {
    if (!onProgress) return;
    const t = now();
    if (!force && t - lastReport < interval) return;
    lastReport = t;
    onProgress({ total: n, done, failed, cancelled, waiting: n - done - failed - cancelled });
  };
  report(true);

  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const settle = (i: number, r: CommandResult): void => {
    const item = items[i];
    if (r.success) done++;
    else if (r.error?.code === 'cancelled') cancelled++;
    else failed++;
    results[i] = {
      line: item.line,
      commandId: r.commandId,
      commandType: r.commandType,
      success: r.success,
      durationMs: r.durationMs,
      ...(r.error ? { error: { code: r.error.code, message: r.error.message } } : {}),
      ...(keep && r.success ? { result: r.result } : {}),
    };
    outstanding--;
    settledCount++;
    report(false);
    pump(false);
  };
  // Refilling in groups, in a window of 8 or more: while replies keep coming back, a freed slot waits until
  // half the window is free (two groups keep both sides busy), or until a turn of the event loop passes with
  // no reply (vscode-jsonrpc hands over one reply per turn). A group's requests then leave in one write and
  // their replies come back in one read: per command, the pipe's syscalls and the wake-ups they cause cost the
  // host more than the pipeline does (bench/README.md, batches). A slow command delays the refill by one turn.
  // A smaller window refills slot by slot: its replies come back one per read, so a turn without a reply
  // follows each and a group never forms.
  let settledCount = 0;
  let watching = false;
  let seen = 0;
  const watch = (): void => {
    if (settledCount !== seen) {
      seen = settledCount;
      setImmediate(watch);
      return;
    }
    watching = false;
    pump(true);
  };
  // Submits while under the window (read again each time: the limit may have moved); the pipeline never
  // rejects, so every submitted request settles once.
  const pump = (force: boolean): void => {
    const w = Math.max(1, window());
    if (!force && w >= 8 && next < n && outstanding > 0 && w - outstanding < w / 2) {
      if (!watching) {
        watching = true;
        seen = settledCount;
        setImmediate(watch);
      }
      return;
    }
    while (outstanding < w && next < n) {
      const i = order[next++];
      outstanding++;
      void execute(items[i].request, execOptions).then((r) => settle(i, r));
    }
    if (outstanding === 0 && next >= n) finish();
  };
  pump(true);
  await finished;
  report(true);

  const all = results as BatchItemResult[];
  const skipped = options.skipped ?? [];
  for (const s of skipped) {
    all.push({ line: s.line, commandType: '(invalid)', success: false, durationMs: 0, skipped: true, error: { code: 'invalid_request', message: s.message } });
  }
  if (skipped.length) all.sort((a, b) => a.line - b.line);
  return { results: all, total: n + skipped.length, succeeded: done, failed, cancelled, skipped: skipped.length, durationMs: now() - t0 };
}

/** A result larger than this (JSON bytes) is left out of its line of the results document, with a note. */
export const BATCH_RESULT_MAX_BYTES = 4096;

/**
 * The results document: one JSON object per line (line, commandId, commandType, success, durationMs, then
 * the command's `result` or its `error` code and message). A result over `maxResultBytes` is replaced by
 * `resultOmitted` saying its size and how to see it whole: `openResult`, a note, or a function of the
 * result's index in `outcome.results` and its size that keeps it and says how to open it (or not, undefined).
 */
export function formatBatchResults(
  outcome: BatchOutcome,
  opts: { maxResultBytes?: number; openResult?: string | ((index: number, bytes: number) => string | undefined) } = {},
): string {
  const max = opts.maxResultBytes ?? BATCH_RESULT_MAX_BYTES;
  let out = '';
  for (const [index, r] of outcome.results.entries()) {
    const line: Record<string, unknown> = { line: r.line };
    if (r.commandId !== undefined) line.commandId = r.commandId;
    line.commandType = r.commandType;
    line.success = r.success;
    line.durationMs = Math.round(r.durationMs * 1000) / 1000;
    if (r.skipped) line.skipped = true;
    if (r.error) line.error = { code: r.error.code, message: r.error.message };
    if (r.success && 'result' in r) {
      const text = JSON.stringify(r.result) ?? 'null';
      const bytes = Buffer.byteLength(text, 'utf8');
      if (bytes <= max) line.result = r.result ?? null;
      else {
        const note = typeof opts.openResult === 'function' ? opts.openResult(index, bytes) : opts.openResult;
        line.resultOmitted = `${bytes} bytes, over the ${max} bytes shown here${note ? `; ${note}` : ''}`;
      }
    }
    out += `${JSON.stringify(line)}\n`;
  }
  return out;
}

/** One sentence for the end of a batch. */
export function summarizeBatch(outcome: BatchOutcome): string {
  const parts = [`${outcome.succeeded} succeeded`];
  if (outcome.failed) parts.push(`${outcome.failed} failed`);
  if (outcome.cancelled) parts.push(`${outcome.cancelled} cancelled`);
  if (outcome.skipped) parts.push(`${outcome.skipped} bad line${outcome.skipped > 1 ? 's' : ''} skipped`);
  return `${outcome.total} request${outcome.total === 1 ? '' : 's'}: ${parts.join(', ')} in ${(outcome.durationMs / 1000).toFixed(1)} s`;
}
