// The extension's entry: the first paint needs only the status-bar item, so this bundle holds only that
// (src/views/statusBarItem.ts) and requires the rest (src/composition.ts, a chunk of its own) once the item
// is on its way to the window. activate() returns a promise: VS Code counts the extension as active, and runs
// a command invoked meanwhile, once it resolves, so nobody sees a half-composed extension.
import type * as vscode from 'vscode';
import type { AiosApi } from './api';
import type { Composition } from './composition';
import { showStatusBarItem } from './views/statusBarItem';

let composing: Promise<Composition> | undefined;

/**
 * Resolves after the extension host has sent the item: it sends status-bar changes on a timer (setTimeout 0)
 * and writes its messages to the window on another, so two timer turns put the item on the wire before the
 * composition's synchronous load holds the host's thread.
 */
const afterFirstPaint = () => new Promise<void>((resolve) => setTimeout(() => setTimeout(resolve)));

export function activate(extension: vscode.ExtensionContext): Promise<AiosApi> {
  const item = showStatusBarItem();
  extension.subscriptions.push(item);
  composing = afterFirstPaint()
    .then(() => import('./composition'))
    .then(({ compose }) => compose(extension, item));
  return composing.then(({ api }) => api);
}

/** VS Code awaits this: the service gets its shutdown (2 s at most, then its process tree is killed). */
export async function deactivate(): Promise<void> {
  const pending = composing;
  composing = undefined;
  // A composition that failed has nothing to shut down (its error is the activation's).
  const composed = await pending?.catch(() => undefined);
  await composed?.ctx.dispose();
}
