// Pure helpers for the telemetry tree (no `vscode`, unit-tested in Node): one wording for a command's state
// wherever it shows (the tree, its notification, the status bar), and a stable window on a growing list so
// rows do not move under the pointer.

/** A command's state in the words every view uses: `queued` whether or not a backoff is still counting. */
export type StateWord = 'queued' | 'running' | 'waiting for the service';

/**
 * The word for a flight's stage (`InFlightCommand.stage`) or a progress update's (`ProgressUpdate.stage`). A
 * backoff is a detail of being queued, not a state of its own: the tree cannot see when it ends, the
 * notification can (it adds the seconds left), and both say "queued".
 */
export function stateWord(stage: 'queued' | 'delayed' | 'throttled' | 'running' | 'waiting'): StateWord {
  if (stage === 'running') return 'running';
  if (stage === 'waiting') return 'waiting for the service';
  return 'queued';
}

/** "4 running · 16 queued": running and queued apart, as the status bar counts them (admission's figures). */
export function describeLoad(active: number, queued: number): string {
  return `${active} running · ${queued} queued`;
}

/**
 * The part of `items` (oldest first, newest last) a section shows, keeping its first row where it was:
 * from `previousFirst` on while that is still there and at most `max` rows follow it; otherwise the newest
 * `min`. New items join at the bottom, and the rows above move only when the window is cut back, once every
 * `max - min` new items, not on every one.
 */
export function stableTail<T>(items: readonly T[], previousFirst: T | undefined, min: number, max: number): T[] {
  if (previousFirst !== undefined) {
    const at = items.lastIndexOf(previousFirst);
    if (at >= 0 && items.length - at <= max) return items.slice(at);
  }
  return items.slice(Math.max(0, items.length - min));
}
