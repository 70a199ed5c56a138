// Shell command types in "Run Command…": listed beside the service's types (the context's catalog), and their
// output streamed live to the "AIOS Commands" output channel while they run from the palette or the tree.
import * as vscode from 'vscode';
import type { AiosContext, CatalogEntry } from '../context';
import type { CommandRouter, ShellRunOptions } from '../core';

/** Sources that a person is watching: their shell programs' output goes to the channel as it comes. */
const INTERACTIVE_SOURCES = new Set(['command-palette', 'telemetry-tree']);

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

/** The shell command types as catalog entries: their placeholders are their parameters. */
export function shellCatalog(router: CommandRouter): CatalogEntry[] {
  return router.localRoutes().map((r) => ({
    name: r.commandType,
    description: r.description ?? `runs ${router.shellCommand(r.commandType)?.spec.file ?? 'a program'}`,
    source: r.origin === 'workspace' ? 'shell · .aios/commands.json' : 'shell · settings',
    parameters: Object.fromEntries(r.placeholders.map((p) => [p, `fills \${${p}} (one argument)`])),
    example: Object.fromEntries(r.placeholders.map((p) => [p, ''])),
  }));
}

/** For a run a person started from the palette or the tree: stream a shell program's output to the channel. */
export function interactiveShellOutput(ctx: AiosContext, request: unknown): ShellRunOptions | undefined {
  const r = request as { source?: unknown; commandType?: unknown } | null;
  if (typeof r !== 'object' || r === null || !INTERACTIVE_SOURCES.has(r.source as string) || typeof r.commandType !== 'string') return undefined;
  return shellOutputFor(ctx, r.commandType);
}

/** Streams the program's output to the channel (shown), with a line at the start and one at the end. */
function shellOutputFor(ctx: AiosContext, commandType: string): ShellRunOptions | undefined {
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
