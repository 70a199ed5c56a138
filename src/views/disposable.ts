import type * as vscode from 'vscode';

/** The core's Disposable has the same shape as VS Code's; this only satisfies the type. */
export function toVscode(d: { dispose(): void }): vscode.Disposable {
  return { dispose: () => d.dispose() };
}
