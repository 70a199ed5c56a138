// Shows a command started from the palette or the tree while it is under way, and lets the user stop it.
// It starts in the window's progress area (quiet: most commands end within milliseconds); a command still
// going after NOTIFICATION_DELAY_MS, a wait in the queue, a wait for the Python service to (re)start (neither
// has a known end) or a long backoff moves to a notification with Cancel, which aborts the command (it ends in
// CANCEL, in Python too). Once in a notification it stays there, so Cancel is where the user saw it.
import * as vscode from 'vscode';
import type { CommandResult, ExecuteOptions, ProgressUpdate } from '../core';

/** A command under way this long, or a backoff at least this long, gets a notification with Cancel. */
export const NOTIFICATION_DELAY_MS = 1000;
/** Progress reports reach the window at most this often (a queue position can change a thousand times a second). */
const REPORT_INTERVAL_MS = 250;

interface Shown {
  cancellable: boolean;
  report(u: ProgressUpdate): void;
  close(): void;
}

/** `predict`: words on what is left or the wait ("~4 s left (p90 11 s)"), when the learned model knows the type. */
export async function runWithProgress(
  title: string,
  run: (options: ExecuteOptions) => Promise<CommandResult>,
  predict?: (commandId: string) => string | undefined,
): Promise<CommandResult> {
  const abort = new AbortController();
  let commandId: string | undefined;
  const startedAt = Date.now();
  let last: ProgressUpdate = { stage: 'running', delayMs: 0, remainingMs: 0, queuePosition: 0, reason: '' };
  let shown: Shown | undefined;

  const show = (cancellable: boolean, first: ProgressUpdate): Shown => {
    let close!: () => void;
    const closed = new Promise<void>((r) => (close = r));
    let report: (u: ProgressUpdate) => void = () => undefined;
    void vscode.window.withProgress(
      { location: cancellable ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window, title: `AIOS: ${title}`, cancellable },
      (progress, token) => {
        token.onCancellationRequested(() => abort.abort(new Error('cancelled by the user')));
        let lastFraction = 0;
        let lastAt = -Infinity;
        let pending: ProgressUpdate | undefined;
        let timer: NodeJS.Timeout | undefined;
        const send = () => {
          timer = undefined;
          const p = pending;
          pending = undefined;
          if (!p) return;
          lastAt = Date.now();
          // withProgress's increment is cumulative: send only the new part of the delay.
          const fraction = p.stage === 'throttled' && p.delayMs > 0 ? Math.min(1, 1 - p.remainingMs / p.delayMs) : lastFraction;
          const words = commandId !== undefined ? predict?.(commandId) : undefined;
          const message = `${describe(p, lastAt - startedAt)}${words ? ` · ${words}` : ''}`;
          progress.report({ message, increment: Math.max(0, (fraction - lastFraction) * 100) });
          lastFraction = fraction;
        };
        // Coalesced: the newest update, at most every REPORT_INTERVAL_MS.
        report = (p) => {
          pending = p;
          if (timer) return;
          const wait = lastAt + REPORT_INTERVAL_MS - Date.now();
          if (wait <= 0) send();
          else timer = setTimeout(send, wait);
        };
        report(first);
        void closed.then(() => clearTimeout(timer));
        return closed;
      },
    );
    return { cancellable, report: (u) => report(u), close };
  };

  const escalate = (u: ProgressUpdate): void => {
    if (shown?.cancellable) return;
    shown?.close();
    shown = show(true, u);
  };

  const onProgress = (u: ProgressUpdate): void => {
    last = u;
    // A queue or a wait for the service has no known end: those get Cancel at once.
    const wantsCancel = u.stage === 'queued' || u.stage === 'waiting' || (u.stage === 'throttled' && u.delayMs >= NOTIFICATION_DELAY_MS);
    if (wantsCancel) escalate(u);
    else if (shown) shown.report(u);
    else shown = show(false, u);
  };
  shown = show(false, last);
  const timer = setTimeout(() => escalate(last), NOTIFICATION_DELAY_MS);
  // While shown, the elapsed time in the message moves on.
  const ticker = setInterval(() => shown?.report(last), 1000);
  try {
    return await run({ signal: abort.signal, onProgress, onCommandId: (id) => (commandId = id) });
  } finally {
    clearTimeout(timer);
    clearInterval(ticker);
    shown?.close();
  }
}

/** In the words of the tree and the status bar (stateWord): a backoff is a detail of being queued. */
export function describe(u: ProgressUpdate, elapsedMs: number): string {
  const elapsed = elapsedMs >= 1000 ? ` (${Math.floor(elapsedMs / 1000)} s)` : '';
  if (u.stage === 'throttled') return `queued, position ${u.queuePosition} · backoff ${Math.ceil(u.remainingMs / 100) / 10} s left (${u.reason})${elapsed}`;
  if (u.stage === 'queued') return `queued, position ${u.queuePosition}${elapsed}`;
  if (u.stage === 'waiting') return `${u.reason}${elapsed}`;
  return `running${elapsed}`;
}
