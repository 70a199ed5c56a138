// The control plane from the palette: "AIOS: Sync Python State…" and one command per operation. From code the
// call goes straight through and returns the CommandResult; from the palette it asks what it needs, then says
// what the service did (a custom control command's own result, not only "applied").
import * as vscode from 'vscode';
import type { CommandResult } from '../core';
import type { AiosContext } from '../context';
import type { ControlCall } from '../python/controlState';
import {
  CACHE_TYPES,
  CONTROL_OPERATIONS,
  LOG_LEVELS,
  type ControlDetailByOperation,
  type ControlOperation,
  type ControlResult,
  type ModelsFlushed,
} from '../python/protocol';
import { showReloadError } from '../views/aiosFiles';
import { askJsonObject } from './jsonInput';
import { resultAction, type RunCommandEnv } from './runCommand';

/** The part of the extension's services this file uses. */
export type ControlCommandHost = Pick<AiosContext, 'control' | 'log' | 'serviceCommands' | 'supervisor'>;
type ControlCommandEnv = RunCommandEnv & { readonly ctx: ControlCommandHost };

const OPERATION_ITEMS: Record<ControlOperation, string> = {
  UPDATE_LOG_LEVEL: "Change the service's log level",
  FLUSH_CACHE: 'Empty the model or result cache',
  RELOAD_CONFIG: "Re-read the service's config file and handlers",
  HEALTH_OVERRIDE: 'Force the reported health (for failover drills)',
  BCM_RESET: 'Reset the per-command cost counters',
  CUSTOM_COMMAND: 'Run a control command the service or your handlers define',
};

export type ControlArgs = ControlCall & { partial?: boolean };

export function withOperation(operation: ControlOperation, args: unknown): ControlArgs {
  const given = (args && typeof args === 'object' ? args : {}) as Partial<ControlCall>;
  // Without a value/parameters from code, the palette asks for them.
  return { ...given, operation, partial: !args };
}

export async function syncPythonState(env: ControlCommandEnv, given?: ControlArgs): Promise<CommandResult | undefined> {
  const { ctx } = env;
  const fromCode = given !== undefined && !given.partial;
  const call = fromCode ? given : await askForControl(ctx, given?.operation);
  if (!call) return undefined;
  const result = await ctx.control({ source: fromCode ? 'api' : 'palette', ...call });
  if (!fromCode) showControlResult(env, call, result);
  return result;
}

/** What the service did, in words; a custom command's result can be opened or copied in full. */
function showControlResult(env: ControlCommandEnv, call: ControlCall, result: CommandResult): void {
  if (!result.success && call.operation === 'RELOAD_CONFIG' && result.error?.code !== 'cancelled') {
    void showReloadError(result);
    return;
  }
  if (!result.success) {
    const problem = result.error?.code === 'cancelled' ? 'was cancelled' : `failed: ${result.error?.message}`;
    void vscode.window.showErrorMessage(`AIOS: ${describeCall(call)} ${problem}`, 'Show Output').then((c) => c && env.ctx.log.show(true));
    return;
  }
  const reply = result.result as ControlResult | undefined;
  if (call.operation === 'CUSTOM_COMMAND') {
    const detail = reply?.detail as { command?: string; result?: unknown } | undefined;
    env.results.keep(result.commandId, detail?.result);
    const preview = JSON.stringify(detail?.result) ?? 'null';
    void vscode.window
      .showInformationMessage(
        `AIOS: ${detail?.command ?? 'the control command'} returned ${preview.length > 120 ? `${preview.slice(0, 117)}…` : preview}`,
        'Show Result',
        'Copy',
      )
      .then((choice) => resultAction(env, { ...result, result: detail?.result }, choice));
    return;
  }
  void vscode.window.showInformationMessage(`AIOS: ${summarize(call.operation, reply)}`);
}

function describeCall(call: ControlCall): string {
  const command = call.operation === 'CUSTOM_COMMAND' ? (call.parameters as { command?: unknown } | undefined)?.command : undefined;
  return typeof command === 'string' ? `${command} (CUSTOM_COMMAND)` : call.operation;
}

/** One sentence for an operation's reply (its `detail`). */
function summarize(operation: ControlOperation, reply: ControlResult | undefined): string {
  const detail = reply?.detail;
  switch (operation) {
    case 'UPDATE_LOG_LEVEL': {
      const d = detail as ControlDetailByOperation['UPDATE_LOG_LEVEL'] | undefined;
      // Whether it lasts: a persistent level is in the config file; a run-time one is kept by the extension and
      // re-applied to every new service process, a window reload included, until a fresh restart forgets it.
      const lasts = d?.persisted
        ? 'saved to the config file: every service start reads it'
        : 'kept for this workspace: re-applied after a restart or a window reload, until "Forget Control State and Restart Python Service"';
      return `log level of ${d?.target ?? 'the service'} set to ${d?.logLevel ?? '?'} (${lasts}).`;
    }
    case 'FLUSH_CACHE': {
      const d = detail as ControlDetailByOperation['FLUSH_CACHE'] | undefined;
      const flushed = Object.entries(d?.flushed ?? {}).map(
        ([k, n]) => `${n} ${k} entr${n === 1 ? 'y' : 'ies'}` + (k === 'model_cache' && d?.models ? ` (${describeModelsFlushed(d.models)})` : ''),
      );
      return `cache flushed: ${flushed.join(', ') || 'nothing to flush'}.`;
    }
    case 'RELOAD_CONFIG': {
      const d = detail as ControlDetailByOperation['RELOAD_CONFIG'] | undefined;
      return `config reloaded from ${d?.configFile ?? 'the defaults'}; handlers reloaded.`;
    }
    case 'HEALTH_OVERRIDE': {
      const d = detail as ControlDetailByOperation['HEALTH_OVERRIDE'] | undefined;
      return d?.status ? `health reported as ${d.status}${d.expiresAt ? ` until ${d.expiresAt}` : ''}.` : 'health override cleared.';
    }
    case 'BCM_RESET': {
      const d = detail as ControlDetailByOperation['BCM_RESET'] | undefined;
      const previous = Object.keys(d?.previous ?? {});
      return `cost counters reset${previous.length ? ` (${previous.join(', ')})` : ''}.`;
    }
    case 'CUSTOM_COMMAND':
      return 'control command done.';
  }
}

async function askForControl(ctx: ControlCommandHost, preset?: ControlOperation): Promise<ControlCall | undefined> {
  const operation =
    preset ??
    (
      await vscode.window.showQuickPick(
        CONTROL_OPERATIONS.map((op) => ({ label: op, detail: OPERATION_ITEMS[op] })),
        { title: 'AIOS: Sync Python State: operation' },
      )
    )?.label;
  if (!operation) return undefined;
  const pick = async (title: string, options: readonly string[]) =>
    (await vscode.window.showQuickPick([...options], { title: `AIOS: ${operation}: ${title}` })) ?? undefined;
  switch (operation) {
    case 'UPDATE_LOG_LEVEL': {
      const value = await pick('log level', LOG_LEVELS);
      return value ? { operation, value } : undefined;
    }
    case 'FLUSH_CACHE': {
      const cacheType = await pick('which cache', CACHE_TYPES);
      return cacheType ? { operation, parameters: { cache_type: cacheType } } : undefined;
    }
    case 'HEALTH_OVERRIDE': {
      const value = await pick('report the service as', ['unhealthy', 'healthy', 'clear']);
      return value ? { operation, value } : undefined;
    }
    case 'RELOAD_CONFIG':
    case 'BCM_RESET':
      return { operation };
    case 'CUSTOM_COMMAND':
      return askForCustomCommand(ctx);
  }
}

/** Control commands with their descriptions and argument hints; the sample arguments fit the chosen one. */
async function askForCustomCommand(ctx: ControlCommandHost): Promise<ControlCall | undefined> {
  let commands: { name: string; description: string; parameters: Record<string, string>; example: Record<string, unknown>; source: string }[] = [];
  try {
    // Not while the service starts: asking would leave the user looking at nothing until it is up.
    if (ctx.supervisor.isReady) commands = (await ctx.serviceCommands()).controlCommands;
  } catch {
    /* offer free text below */
  }
  let name: string | undefined;
  if (commands.length) {
    const picked = await vscode.window.showQuickPick(
      commands.map((c) => ({
        label: c.name,
        description: c.source === 'workspace' ? 'workspace' : undefined,
        detail: [c.description, Object.keys(c.parameters).length ? `arguments: ${Object.keys(c.parameters).join(', ')}` : ''].filter(Boolean).join(' — '),
      })),
      { title: 'AIOS: CUSTOM_COMMAND: control command', matchOnDetail: true },
    );
    name = picked?.label;
  } else {
    name = await vscode.window.showInputBox({ title: 'AIOS: CUSTOM_COMMAND: command name', prompt: 'The service is not running, so its list is not known' });
  }
  if (!name) return undefined;
  const info = commands.find((c) => c.name === name);
  const hints = info ? Object.entries(info.parameters).map(([k, v]) => `${k}: ${v}`) : [];
  const args = await askJsonObject({
    title: `AIOS: ${name}: arguments`,
    prompt: hints.length ? `A JSON object. ${hints.join(' · ')}` : 'A JSON object; leave {} for none',
    value: info?.example ?? {},
  });
  return args ? { operation: 'CUSTOM_COMMAND', parameters: { command: name, arguments: args } } : undefined;
}

/** Where FLUSH_CACHE found the handlers' `ctx.models` models: the service's, and each worker process's own. */
export function describeModelsFlushed(m: ModelsFlushed): string {
  const workers = m.workerProcesses + m.unanswered;
  const inWorkers = workers ? `, ${m.workers} in ${m.workerProcesses} worker process${m.workerProcesses === 1 ? '' : 'es'}` : '';
  const late = m.unanswered ? `; ${m.unanswered} worker process${m.unanswered === 1 ? '' : 'es'} did not answer in time and flush when they can` : '';
  return `ctx.models: ${m.service} in the service${inWorkers}${late}`;
}
