// Runs a command with throttle feedback: nothing is shown unless the command is delayed. A short backoff shows
// in the window's progress area; a long one, any wait in the queue, or a wait for the Python service to
// (re)start (neither has a known end) as a notification with Cancel, which aborts the command (ending it in
// CANCEL). A wait that starts short and then queues is moved from the window to a notification, so Cancel is
// there when it matters.
import * as vscode from 'vscode';
import type { CommandResult, ExecuteOptions, ProgressUpdate } from '../core';

/** Backoff delays at least this long get a notification with a Cancel button. */
export const NOTIFICATION_DELAY_MS = 1000;

interface Shown {
  cancellable: boolean;
  report(u: ProgressUpdate): void;
  close(): void;
}

export async function runWithThrottleProgress(title: string, run: (options: ExecuteOptions) => Promise<CommandResult>): Promise<CommandResult> {
  const abort = new AbortController();
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
        report = (p) => {
          // withProgress's increment is cumulative: send only the new part of the delay.
          const fraction = p.stage === 'throttled' && p.delayMs > 0 ? Math.min(1, 1 - p.remainingMs / p.delayMs) : lastFraction;
          progress.report({ message: describe(p), increment: Math.max(0, (fraction - lastFraction) * 100) });
          lastFraction = fraction;
        };
        report(first);
        return closed;
      },
    );
    return { cancellable, report: (u) => report(u), close };
  };

  const onProgress = (u: ProgressUpdate) => {
    if (u.stage === 'running') {
      shown?.report(u);
      return;
    }
    // A queue or a wait for the service has no known end: those get Cancel at once.
    const wantsCancel = u.stage === 'queued' || u.stage === 'waiting' || u.delayMs >= NOTIFICATION_DELAY_MS;
    if (shown && (shown.cancellable || !wantsCancel)) {
      shown.report(u);
      return;
    }
    shown?.close();
    shown = show(wantsCancel, u);
  };
  try {
    return await run({ signal: abort.signal, onProgress });
  } finally {
    shown?.close();
  }
}

function describe(u: ProgressUpdate): string {
  if (u.stage === 'throttled') return `throttled for ${Math.ceil(u.remainingMs / 100) / 10} s (${u.reason})`;
  if (u.stage === 'queued') return `queued, position ${u.queuePosition}`;
  if (u.stage === 'waiting') return u.reason;
  return 'running';
}
