// Shell command types run from the palette or the tree: their output streamed live to the "AIOS Commands"
// output channel while they run. A decision of the UI, so the palette asks for it; other sources do not.
import * as vscode from 'vscode';
import { parseSource, type CommandRouter, type ShellRunOptions } from '../core';

export interface ShellOutputHost {
  readonly router: CommandRouter;
  /** The channel, made on first use, is disposed with these. */
  readonly extension: Pick<vscode.ExtensionContext, 'subscriptions'>;
}

let channel: vscode.OutputChannel | undefined;

/** The channel shell programs started from the palette write to; made on first use, disposed with the extension. */
function outputChannel(host: ShellOutputHost): vscode.OutputChannel {
  if (!channel) {
    const created = vscode.window.createOutputChannel('AIOS Commands');
    channel = created;
    host.extension.subscriptions.push(created, new vscode.Disposable(() => channel === created && (channel = undefined)));
  }
  return channel;
}

/** For a run a person started from the palette or the tree: stream a shell program's output to the channel. */
export function interactiveShellOutput(host: ShellOutputHost, request: unknown): ShellRunOptions | undefined {
  const r = request as { source?: unknown; commandType?: unknown } | null;
  // A person is watching the palette's and the tree's runs: their programs' output goes to the channel as it comes.
  if (typeof r !== 'object' || r === null || parseSource(r.source).kind !== 'palette' || typeof r.commandType !== 'string') return undefined;
  return shellOutputFor(host, r.commandType);
}

/** Streams the program's output to the channel (shown), with a line at the start and one at the end. */
function shellOutputFor(host: ShellOutputHost, commandType: string): ShellRunOptions | undefined {
  const shell = host.router.shellCommand(commandType);
  if (!shell) return undefined;
  const out = outputChannel(host);
  out.show(true);
  out.appendLine(`▶ ${commandType}: ${shell.spec.file}`);
  return {
    onOutput: (text) => out.append(text),
    onExit: (code) => out.appendLine(`■ ${commandType} exited with code ${code}`),
  };
}
