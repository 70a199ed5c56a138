// The sources of commands besides the palette and the tree (shell command types, tasks, terminals, batch
// results): built from the context, all Disposables, registered by extension.ts in one line.
import * as vscode from 'vscode';
import { BATCH_SCHEME, batchResults } from './commands/batch';
import { registerCli } from './cli/register';
import type { AiosContext } from './context';
import { ShellCommandSource } from './shell/shellCommandSource';
import { AiosTaskProvider, TASK_TYPE } from './tasks/taskProvider';
import { TerminalRecordingSource } from './terminal/terminalRecording';

export interface CommandSources extends vscode.Disposable {
  readonly shellCommands: ShellCommandSource;
  readonly terminals: TerminalRecordingSource;
}

export function registerSources(ctx: AiosContext): CommandSources {
  const shellCommands = new ShellCommandSource(ctx);
  const terminals = new TerminalRecordingSource(ctx);
  const disposables: vscode.Disposable[] = [
    shellCommands,
    terminals,
    vscode.tasks.registerTaskProvider(TASK_TYPE, new AiosTaskProvider(ctx)),
    vscode.workspace.registerTextDocumentContentProvider(BATCH_SCHEME, batchResults),
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
