// "AIOS: Cancel Running Command…": every command waiting for a slot or running, whoever started it, with its
// type, priority, stage and elapsed time; the chosen one is cancelled (it ends in CANCEL, in Python too).
import * as vscode from 'vscode';
import type { InFlightCommand } from '../core';
import type { AiosContext } from '../context';
import { stateWord } from '../views/treeOrder';

/** The part of the extension's services this file uses. */
export type CancelHost = Pick<AiosContext, 'log' | 'middleware'>;

function describeElapsed(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function describeFlight(f: InFlightCommand, now = Date.now()): string {
  return `${f.priority} · ${stateWord(f.stage)} · ${describeElapsed(now - f.submittedAt)}${f.source ? ` · from ${f.source}` : ''}`;
}

/** From code: `executeCommand('aios.cancelCommand', commandId)` returns whether it was cancelled. */
export async function cancelRunningCommand(ctx: CancelHost, commandId?: unknown): Promise<boolean> {
  if (typeof commandId === 'string') return ctx.middleware.cancel(commandId);
  const flights = ctx.middleware.inFlight();
  if (flights.length === 0) {
    void vscode.window.showInformationMessage('AIOS: no command is running or waiting.');
    return false;
  }
  const now = Date.now();
  const picked = await vscode.window.showQuickPick(
    flights.map((f) => ({ label: f.commandType, description: describeFlight(f, now), detail: f.commandId, flight: f })),
    {
      title: 'AIOS: Cancel Running Command',
      placeHolder: `${flights.length} command${flights.length === 1 ? '' : 's'} running or waiting: pick one to cancel`,
    },
  );
  if (!picked) return false;
  const cancelled = ctx.middleware.cancel(picked.flight.commandId);
  if (!cancelled) void vscode.window.showInformationMessage(`AIOS: ${picked.label} had already finished.`);
  else ctx.log.info(`Cancelled ${picked.label} (${picked.flight.commandId}) at the user's request`);
  return cancelled;
}
