// Shell command types in "Run Command…": listed beside the service's types, and their output streamed live
// to the "AIOS Commands" output channel while they run from the palette or the tree.
import * as vscode from 'vscode';
import type { AiosContext } from '../context';
import type { ShellRunOptions } from '../core';

let channel: vscode.OutputChannel | undefined;

/** The channel shell programs started from the palette write to; made on first use, disposed with the context. */
function outputChannel(ctx: AiosContext): vscode.OutputChannel {
  if (!channel) {
    const created = vscode.window.createOutputChannel('AIOS Commands');
    channel = created;
    ctx.extension.subscriptions.push(created, new vscode.Disposable(() => channel === created && (channel = undefined)));
  }
  return channel;
}

export function shellCommandItems(ctx: AiosContext): vscode.QuickPickItem[] {
  return ctx.router.localRoutes().map((r) => ({
    label: r.commandType,
    description: r.origin === 'workspace' ? 'shell · .aios/commands.json' : 'shell · settings',
    detail: r.description ?? ctx.router.shellCommand(r.commandType)?.spec.file,
  }));
}

/** Streams the program's output to the channel (shown), with a line at the start and one at the end. */
export function shellOutputFor(ctx: AiosContext, commandType: string): ShellRunOptions | undefined {
  const shell = ctx.router.shellCommand(commandType);
  if (!shell) return undefined;
  const out = outputChannel(ctx);
  out.show(true);
  out.appendLine(`▶ ${commandType}: ${shell.spec.file}`);
  return {
    onOutput: (text) => out.append(text),
    onExit: (code) => out.appendLine(`■ ${commandType} exited with code ${code}`),
  };
}
