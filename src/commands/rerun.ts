// The tree's Run Again: a command type's row or an event's row, run again with the parameters it ran with.
// Only what AIOS can start runs again: a command type of the Python service or of aios.shellCommands. A
// program run with `aios run` or typed in a terminal, or a function an extension ran through the API, is not
// one: asking for its parameters and sending it to the service only ended in "unknown command type", so the
// message says where it can be run again instead.
import * as vscode from 'vscode';
import { CONTROL_PREFIX, RULE_PREFIX, type SourceKind } from '../core';
import type { AiosContext } from '../context';
import { rerunTarget } from '../views/telemetryTree';
import { askJsonObject } from './jsonInput';
import { runInteractively, TREE_SOURCE, type RunCommandEnv, type RunCommandHost } from './runCommand';

export interface RerunEnv extends RunCommandEnv {
  readonly ctx: RunCommandHost & Pick<AiosContext, 'recent'>;
}

export async function rerunCommand(env: RerunEnv, node: unknown): Promise<unknown> {
  const target = rerunTarget(node, env.ctx.recent);
  if (!target) return undefined;
  const why = await whyNotRunnable(env.ctx, target.commandType, target.sources);
  if (why) {
    void vscode.window.showInformationMessage(`AIOS: ${why}`);
    return undefined;
  }
  // Parameters are kept in memory for recent commands only; for others, ask rather than guess.
  const parameters =
    target.parameters ??
    (await askJsonObject({
      title: `AIOS: Run ${target.commandType} again: parameters`,
      prompt: 'The parameters it ran with are no longer kept: a JSON object',
      value: {},
    }));
  if (!parameters) return undefined;
  return runInteractively(env, { commandType: target.commandType, priority: target.priority, parameters: { ...parameters } }, TREE_SOURCE);
}

/**
 * Why AIOS cannot start `commandType` again (it came from `sources`), or undefined when it can, or cannot tell
 * because the service is not up (the run then says what the service is doing).
 */
async function whyNotRunnable(host: RunCommandHost, commandType: string, sources: readonly SourceKind[]): Promise<string | undefined> {
  if (commandType.startsWith(RULE_PREFIX)) return 'a rule acts on its own when its condition holds (aios.rules); its events cannot be run again.';
  if (commandType.startsWith(CONTROL_PREFIX)) return 'control operations are re-run from "AIOS: Sync Python State…".';
  if (host.router.route(commandType) === 'shell' || !host.supervisor.isReady) return undefined;
  let known: boolean;
  try {
    known = (await host.serviceCommands()).commandTypes.some((c) => c.name === commandType);
  } catch {
    return undefined;
  }
  if (known) return undefined;
  const only = (kind: SourceKind) => sources.length > 0 && sources.every((s) => s === kind);
  if (only('cli')) return `${commandType} ran a program in a terminal (aios run): run it again there.`;
  if (only('terminal')) return `${commandType} was typed in a terminal, where AIOS only watches commands: run it again there.`;
  return `${commandType} is neither a command of the Python service nor one of aios.shellCommands (an extension ran it as a function, or its handler is gone), so AIOS cannot start it again.`;
}
