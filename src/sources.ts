// The sources of commands besides the palette and the tree (shell command types, tasks, terminals, batch
// results): built from the context, all Disposables, registered by extension.ts in one line.
import * as vscode from 'vscode';
import { BATCH_SCHEME, batchResults } from './commands/batch';
import { registerCli, type CliRegisterHost } from './cli/register';
import { ShellCommandSource, type ShellSourceHost } from './shell/shellCommandSource';
import { AiosTaskProvider, TASK_TYPE, type TaskHost } from './tasks/taskProvider';
import { TerminalRecordingSource, type TerminalRecordingHost } from './terminal/terminalRecording';

/** The part of the extension's services this file uses. */
export type SourcesHost = ShellSourceHost & TerminalRecordingHost & TaskHost & CliRegisterHost;

export interface CommandSources extends vscode.Disposable {
  readonly shellCommands: ShellCommandSource;
  readonly terminals: TerminalRecordingSource;
}

export function registerSources(ctx: SourcesHost): CommandSources {
  const shellCommands = new ShellCommandSource(ctx);
  const terminals = new TerminalRecordingSource(ctx);
  const disposables: vscode.Disposable[] = [
    shellCommands,
    terminals,
    vscode.tasks.registerTaskProvider(TASK_TYPE, new AiosTaskProvider(ctx)),
    vscode.workspace.registerTextDocumentContentProvider(BATCH_SCHEME, batchResults),
    vscode.languages.registerDocumentLinkProvider({ scheme: BATCH_SCHEME }, batchResults),
    registerCli(ctx),
  ];
  return {
    shellCommands,
    terminals,
    dispose: () => {
      for (const d of disposables.splice(0)) d.dispose();
    },
  };
}
