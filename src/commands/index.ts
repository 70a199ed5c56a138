// The command table. Every command works from the palette (asking what it needs) and from code
// (`executeCommand(id, args)` skips the questions and returns the result), so other extensions and tests
// drive exactly what users drive.
import * as vscode from 'vscode';
import { DETAIL_LEVELS, type CommandResult, type DetailLevel, type Priority } from '../core';
import type { AiosContext, ControlCall } from '../context';
import { CACHE_TYPES, CONTROL_OPERATIONS, CommandsRequest, LOG_LEVELS, type CommandsResult, type ControlOperation } from '../python/protocol';
import { Commands, type CommandId } from '../shared/ids';
import { MetricsPanel } from '../views/metricsPanel';
import type { MiddlewareMetricsSource } from '../views/metricsSource';
import type { TelemetryDocumentProvider } from '../views/telemetryDocument';
import { copyEventJson, rerunTarget, type TelemetryTreeProvider } from '../views/telemetryTree';
import { runBatchCommand } from './batch';
import { runWithThrottleProgress } from './progress';
import { shellCommandItems, shellOutputFor } from './shellRun';

export interface RunCommandArgs {
  commandType: string;
  priority?: Priority;
  parameters?: Record<string, unknown>;
  /** Show throttle progress and the result as from the palette (the tree's Run Again). */
  interactive?: boolean;
}

/** What a command handler may use: the context and the views extension.ts built. */
export interface CommandEnv {
  readonly ctx: AiosContext;
  readonly extensionUri: vscode.Uri;
  readonly metrics: MiddlewareMetricsSource;
  readonly documents: TelemetryDocumentProvider;
  readonly tree: TelemetryTreeProvider;
}

type Handler = (env: CommandEnv, ...args: unknown[]) => unknown;

/** Every command the extension contributes, by id: the type makes a missing or unknown id a compile error. */
const COMMAND_TABLE: Record<CommandId, Handler> = {
  [Commands.showOutput]: ({ ctx }) => ctx.log.show(true),
  [Commands.runCommand]: ({ ctx }, args) => runCommand(ctx, args),
  [Commands.runBatch]: ({ ctx }, args) => runBatchCommand(ctx, args),
  [Commands.showMetricsPanel]: ({ ctx, extensionUri, metrics }) => MetricsPanel.createOrShow(extensionUri, metrics, ctx.log),
  [Commands.showTelemetry]: async ({ documents }, level) => {
    const chosen =
      (level as DetailLevel | undefined) ?? (await vscode.window.showQuickPick([...DETAIL_LEVELS], { title: 'AIOS: Show Telemetry: detail level' }));
    return chosen ? documents.show(chosen as DetailLevel) : undefined;
  },
  [Commands.syncPythonState]: ({ ctx }, args) => syncPythonState(ctx, args as ControlCall | undefined),
  [Commands.updateLogLevel]: ({ ctx }, args) => syncPythonState(ctx, withOperation('UPDATE_LOG_LEVEL', args)),
  [Commands.flushCache]: ({ ctx }, args) => syncPythonState(ctx, withOperation('FLUSH_CACHE', args)),
  [Commands.reloadConfig]: ({ ctx }, args) => syncPythonState(ctx, withOperation('RELOAD_CONFIG', args)),
  [Commands.healthOverride]: ({ ctx }, args) => syncPythonState(ctx, withOperation('HEALTH_OVERRIDE', args)),
  [Commands.resetCostMetrics]: ({ ctx }, args) => syncPythonState(ctx, withOperation('BCM_RESET', args)),
  [Commands.runCustomControlCommand]: ({ ctx }, args) => syncPythonState(ctx, withOperation('CUSTOM_COMMAND', args)),
  [Commands.restartPythonService]: async ({ ctx }) => {
    await ctx.restartService('requested by the user');
    return ctx.supervisor.state;
  },
  [Commands.pauseAdmission]: ({ ctx }) => {
    ctx.middleware.pause();
    ctx.log.info('Admission paused: queued commands wait, nothing new starts');
    return true;
  },
  [Commands.resumeAdmission]: ({ ctx }) => {
    ctx.middleware.resume();
    ctx.log.info('Admission resumed');
    return true;
  },
  [Commands.clearTelemetry]: async ({ ctx }, args) => {
    const confirmed =
      (args as { confirm?: boolean } | undefined)?.confirm === true ||
      (await vscode.window.showWarningMessage(
        'Clear AIOS telemetry statistics and recent events?',
        { modal: true, detail: 'Event files already written to disk are kept.' },
        'Clear',
      )) === 'Clear';
    if (!confirmed) return false;
    ctx.middleware.telemetry.clear();
    ctx.log.info('Telemetry statistics cleared');
    return true;
  },
  [Commands.treeRefresh]: ({ tree }) => tree.refreshNow(),
  [Commands.treeCopyEventJson]: (_env, node) => copyEventJson(node),
  [Commands.treeRerun]: async ({ ctx }, node) => {
    const target = rerunTarget(node, ctx.recent);
    if (!target) return undefined;
    if (target.commandType.startsWith('CONTROL:')) {
      void vscode.window.showInformationMessage('AIOS: control operations are re-run from "AIOS: Sync Python State…".');
      return undefined;
    }
    // Parameters are kept in memory for recent commands only; for others, ask rather than guess.
    const parameters =
      target.parameters ??
      (await askJsonObject(`AIOS: Run ${target.commandType} again: parameters (the ones it ran with are no longer known)`, '{"prompt": "the model"}'));
    if (!parameters) return undefined;
    return runCommand(ctx, { commandType: target.commandType, priority: target.priority, parameters: { ...parameters }, interactive: true });
  },
};

/** Registers the whole command table; each handler gets `env` first, then the command's arguments. */
export function registerCommands(env: CommandEnv): vscode.Disposable[] {
  return Object.entries(COMMAND_TABLE).map(([id, handler]) => vscode.commands.registerCommand(id, (...args: unknown[]) => handler(env, ...args)));
}

function withOperation(operation: ControlOperation, args: unknown): ControlCall & { partial?: boolean } {
  const given = (args && typeof args === 'object' ? args : {}) as Partial<ControlCall>;
  // Without a value/parameters from code, the palette asks for them.
  return { ...given, operation, partial: !args };
}

const PRIORITY_ITEMS: (vscode.QuickPickItem & { priority: Priority })[] = [
  { label: 'NORMAL', description: 'the default', priority: 'NORMAL' },
  { label: 'HIGH', description: 'served before NORMAL and LOW', priority: 'HIGH' },
  { label: 'LOW', description: 'served last (aging keeps it from waiting forever)', priority: 'LOW' },
];

async function runCommand(ctx: AiosContext, args?: unknown): Promise<CommandResult | undefined> {
  const given = args as RunCommandArgs | undefined;
  if (given !== undefined && !given.interactive) {
    // From code: no questions, no notifications; the caller gets the result.
    return ctx.run({ source: 'api', ...given });
  }
  const request = given ?? (await askForCommand(ctx));
  if (!request) return undefined;
  const { interactive, ...command } = request;
  const result = await runWithThrottleProgress(`${command.commandType}`, (options) =>
    ctx.run({ ...command, source: interactive ? 'telemetry-tree' : 'command-palette' }, options, shellOutputFor(ctx, command.commandType)),
  );
  showResult(ctx, result);
  return result;
}

async function askForCommand(ctx: AiosContext): Promise<RunCommandArgs | undefined> {
  const items = vscode.window.createQuickPick<vscode.QuickPickItem>();
  items.title = 'AIOS: Run Command (1/3): command type';
  const pickPlaceholder = 'Pick a command type of the Python service, or type another';
  items.placeholder = ctx.supervisor.isReady ? pickPlaceholder : 'The Python service is starting: type a command type, or wait for its list';
  // Listening before the list arrives: while the service starts, a typed name and Enter must still count.
  const chosen = new Promise<string | undefined>((resolve) => {
    items.onDidAccept(() => resolve(items.selectedItems[0]?.label ?? (items.value.trim() || undefined)));
    items.onDidHide(() => resolve(undefined));
  });
  let open = true;
  items.busy = true;
  items.show();
  void (async () => {
    try {
      const { commandTypes } = await listServiceCommands(ctx);
      if (!open) return;
      items.placeholder = pickPlaceholder;
      items.items = [
        ...shellCommandItems(ctx),
        ...commandTypes.map((c) => ({ label: c.name, description: c.source === 'workspace' ? 'workspace' : undefined, detail: c.description })),
      ];
    } catch (err) {
      if (open) items.placeholder = `Could not list the service's commands (${err instanceof Error ? err.message : String(err)}); type a command type`;
    } finally {
      if (open) items.busy = false;
    }
  })();
  const commandType = await chosen;
  open = false;
  items.dispose();
  if (!commandType) return undefined;

  const priority = await vscode.window.showQuickPick(PRIORITY_ITEMS, { title: `AIOS: Run ${commandType} (2/3): priority` });
  if (!priority) return undefined;
  const placeholders = ctx.router.shellCommand(commandType)?.placeholders ?? [];
  const example = placeholders.length ? JSON.stringify(Object.fromEntries(placeholders.map((p) => [p, '']))) : '{"prompt": "the model"}';
  const parameters = await askJsonObject(`AIOS: Run ${commandType} (3/3): parameters`, example, placeholders.length ? example : undefined);
  if (!parameters) return undefined;
  return { commandType, priority: priority.priority, parameters };
}

/** The command types and control commands the running service offers (built-ins and the workspace's). */
async function listServiceCommands(ctx: AiosContext): Promise<CommandsResult> {
  const client = await ctx.supervisor.connection();
  return client.sendRequest(CommandsRequest, {});
}

/** Asks for a JSON object, validated as it is typed; undefined when the user dismisses the box. */
async function askJsonObject(title: string, example: string, value = '{}'): Promise<Record<string, unknown> | undefined> {
  const text = await vscode.window.showInputBox({
    title,
    prompt: `A JSON object, e.g. ${example}; leave empty for none`,
    value,
    validateInput: (v) => parseJsonObject(v).error,
  });
  return text === undefined ? undefined : (parseJsonObject(text).value ?? {});
}

/** Parses user-typed JSON that must be an object; the error says what is wrong in words. */
export function parseJsonObject(text: string): { value?: Record<string, unknown>; error?: string } {
  if (!text.trim()) return { value: {} };
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { error: 'Parameters must be a JSON object, like {"key": "value"}' };
    return { value: value as Record<string, unknown> };
  } catch (err) {
    return { error: `Not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function showResult(ctx: AiosContext, result: CommandResult): void {
  ctx.log.info(`${result.commandType} ${result.success ? 'succeeded' : `failed (${result.error?.code})`} in ${result.durationMs.toFixed(1)} ms`);
  if (result.success) {
    const preview = JSON.stringify(result.result);
    void vscode.window.showInformationMessage(
      `AIOS: ${result.commandType} done in ${result.durationMs.toFixed(0)} ms${preview ? `: ${preview.length > 120 ? `${preview.slice(0, 117)}…` : preview}` : ''}`,
    );
  } else if (result.error?.code === 'cancelled') {
    void vscode.window.showInformationMessage(`AIOS: ${result.commandType} was cancelled.`);
  } else {
    void vscode.window.showErrorMessage(`AIOS: ${result.commandType} failed: ${result.error?.message}`, 'Show Output').then((c) => c && ctx.log.show(true));
  }
}

const OPERATION_ITEMS: Record<ControlOperation, string> = {
  UPDATE_LOG_LEVEL: "Change the service's log level",
  FLUSH_CACHE: 'Empty the model or result cache',
  RELOAD_CONFIG: "Re-read the service's config file",
  HEALTH_OVERRIDE: 'Force the reported health (for failover drills)',
  BCM_RESET: 'Reset the per-command cost counters',
  CUSTOM_COMMAND: 'Run a control command the service or your handlers define',
};

async function syncPythonState(ctx: AiosContext, given?: ControlCall & { partial?: boolean }): Promise<CommandResult | undefined> {
  const fromCode = given !== undefined && !given.partial;
  const call = fromCode ? given : await askForControl(ctx, given?.operation);
  if (!call) return undefined;
  const result = await ctx.control({ source: fromCode ? 'api' : 'command-palette', ...call });
  if (!fromCode) {
    if (result.success) void vscode.window.showInformationMessage(`AIOS: ${call.operation} applied.`);
    else void vscode.window.showErrorMessage(`AIOS: ${call.operation} failed: ${result.error?.message}`);
  }
  return result;
}

async function askForControl(ctx: AiosContext, preset?: ControlOperation): Promise<ControlCall | undefined> {
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
    case 'CUSTOM_COMMAND': {
      let names: string[] = [];
      try {
        // Not while the service starts: asking would leave the user looking at nothing until it is up.
        if (ctx.supervisor.isReady) names = (await listServiceCommands(ctx)).controlCommands.map((c) => c.name);
      } catch {
        /* offer free text below */
      }
      const command = names.length ? await pick('control command', names) : await vscode.window.showInputBox({ title: 'AIOS: CUSTOM_COMMAND: command name' });
      if (!command) return undefined;
      const args = await askJsonObject(`AIOS: ${command}: arguments`, '{"factor": 0.5}');
      return args ? { operation, parameters: { command, arguments: args } } : undefined;
    }
  }
}
