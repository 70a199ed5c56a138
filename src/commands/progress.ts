// Runs a command with throttle feedback: nothing is shown unless the middleware delays or queues it; a
// short wait shows in the window's progress area, a longer one as a cancellable notification whose
// Cancel aborts the command (ending it in CANCEL).
import * as vscode from 'vscode';
import type { CommandResult, ExecuteOptions, ProgressUpdate } from '../core';

/** Waits at least this long get a notification with a Cancel button. */
export const NOTIFICATION_DELAY_MS = 1000;

export async function runWithThrottleProgress(
  title: string,
  run: (options: ExecuteOptions) => Promise<CommandResult>,
  outer?: AbortSignal,
): Promise<CommandResult> {
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(outer?.reason);
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  let report: ((u: ProgressUpdate) => void) | undefined;
  let finish: (() => void) | undefined;
  const done = new Promise<void>((r) => (finish = r));
  let shown = false;

  const onProgress = (u: ProgressUpdate) => {
    if (u.stage === 'running') {
      report?.(u);
      return;
    }
    if (!shown) {
      shown = true;
      const long = u.stage === 'queued' || u.delayMs >= NOTIFICATION_DELAY_MS;
      void vscode.window.withProgress(
        {
          location: long ? vscode.ProgressLocation.Notification : vscode.ProgressLocation.Window,
          title: `AIOS: ${title}`,
          cancellable: long,
        },
        (progress, token) => {
          token.onCancellationRequested(() => abort.abort(new Error('cancelled by the user')));
          let lastFraction = 0;
          report = (p) => {
            const message = describe(p);
            // withProgress's increment is cumulative: send only the new part of the delay.
            const fraction = p.stage === 'throttled' && p.delayMs > 0 ? Math.min(1, 1 - p.remainingMs / p.delayMs) : lastFraction;
            progress.report({ message, increment: Math.max(0, (fraction - lastFraction) * 100) });
            lastFraction = fraction;
          };
          report(u);
          return done;
        },
      );
    } else {
      report?.(u);
    }
  };
  try {
    return await run({ signal: abort.signal, onProgress });
  } finally {
    outer?.removeEventListener('abort', onOuterAbort);
    finish?.();
  }
}

function describe(u: ProgressUpdate): string {
  if (u.stage === 'throttled') return `throttled for ${Math.ceil(u.remainingMs / 100) / 10} s (${u.reason})`;
  if (u.stage === 'queued') return `queued, position ${u.queuePosition}`;
  return 'running';
}
