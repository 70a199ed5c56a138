// "AIOS: Run Command…": pick a command type, a priority and parameters, then run it with progress and show the
// result in full. From code (`executeCommand('aios.runCommand', {commandType, …})`) it asks nothing and
// returns the result.
//
// It remembers: the last priority and parameters per command type are offered again (workspace state), a
// typed name that is not in the list is offered as an item, the security policy is checked as soon as a type
// is picked (a blocked type goes no further), and each type's description and parameter hints come from its
// handler.
import * as vscode from 'vscode';
import { sourceString, type CommandResult, type Priority } from '../core';
import type { AiosContext } from '../context';
import { commandCatalog, type CatalogEntry, type CatalogHost } from './catalog';
import type { ParametersEditor } from '../views/parametersEditor';
import type { ResultDocuments } from '../views/resultDocuments';
import { askJsonObject } from './jsonInput';
import { runWithProgress } from './progress';
import { interactiveShellOutput, type ShellOutputHost } from './shellRun';
import { predictionText } from '../views/predictionText';
import { acceptedType } from './typeChoice';
import { Commands } from '../shared/ids';

/** The part of the extension's services this file uses. */
export type RunCommandHost = Pick<AiosContext, 'extension' | 'learning' | 'log' | 'middleware' | 'run' | 'supervisor'> & ShellOutputHost & CatalogHost;

export interface RunCommandArgs {
  commandType: string;
  priority?: Priority;
  parameters?: Record<string, unknown>;
  /** Show progress and the result as from the palette (the tree's Run Again). */
  interactive?: boolean;
}

/** The tree's Run Again: a person in VS Code (kind `palette`), from the tree. */
export const TREE_SOURCE = sourceString('palette', 'telemetry-tree');

export interface RunCommandEnv {
  readonly ctx: RunCommandHost;
  readonly results: ResultDocuments;
  readonly parameters: ParametersEditor;
}

const PRIORITY_ITEMS: (vscode.QuickPickItem & { priority: Priority })[] = [
  { label: 'NORMAL', description: 'the default', priority: 'NORMAL' },
  { label: 'HIGH', description: 'served before NORMAL and LOW', priority: 'HIGH' },
  { label: 'LOW', description: 'served last (aging keeps it from waiting forever)', priority: 'LOW' },
];

export async function runCommand(env: RunCommandEnv, args?: unknown): Promise<CommandResult | undefined> {
  const given = args as RunCommandArgs | undefined;
  if (given !== undefined && !given.interactive) {
    // From code: no questions, no notifications; the caller gets the result. Another extension's (or
    // script's) own `source` is its caller: `api:<theirs>`.
    return env.ctx.run({ ...given, source: sourceString('api', (given as { source?: unknown }).source) });
  }
  const request = given ?? (await askForCommand(env));
  if (!request) return undefined;
  return runInteractively(env, request, given?.interactive ? TREE_SOURCE : 'palette');
}

/** Runs with progress and shows the result; remembers the request for next time. */
export async function runInteractively(env: RunCommandEnv, request: RunCommandArgs, source: string): Promise<CommandResult> {
  const { ctx } = env;
  const { commandType, priority, parameters } = request;
  void remember(ctx, commandType, priority ?? 'NORMAL', parameters ?? {});
  const run = { commandType, priority, parameters, source };
  const result = await runWithProgress(
    commandType,
    (options) => ctx.run(run, options, interactiveShellOutput(ctx, run)),
    (id) => predictionText(ctx.learning, id),
  );
  showResult(env, result);
  return result;
}

// ---- asking -----------------------------------------------------------------------------------------------

type TypeItem = vscode.QuickPickItem & { commandType: string; blocked?: string };

async function askForCommand(env: RunCommandEnv): Promise<RunCommandArgs | undefined> {
  const { ctx } = env;
  const picked = await pickCommandType(ctx);
  if (!picked) return undefined;
  const { commandType, entry } = picked;
  const policy = ctx.middleware.checkPolicy(commandType);
  if (!policy.allowed) {
    // Said now, not after two more questions: the command would only end in ERROR (blocked).
    void vscode.window.showErrorMessage(`AIOS: ${policy.reason}. It was not run.`, 'Open Settings').then((c) => {
      if (c) void vscode.commands.executeCommand('workbench.action.openSettings', 'aios.security');
    });
    return undefined;
  }
  const last = lastRequest(ctx, commandType);
  const priorities = [...PRIORITY_ITEMS].sort((a, b) => (a.priority === last?.priority ? -1 : b.priority === last?.priority ? 1 : 0));
  if (last) priorities[0] = { ...priorities[0], description: `${priorities[0].description ?? ''} · used last time`.replace(/^ · /, '') };
  const priority = await vscode.window.showQuickPick(priorities, { title: `AIOS: Run ${commandType} (2/3): priority` });
  if (!priority) return undefined;
  const hints = entry && Object.keys(entry.parameters).length ? Object.entries(entry.parameters).map(([k, v]) => `${k}: ${v}`) : [];
  const start = last?.parameters ?? entry?.example ?? {};
  const parameters = await askJsonObject({
    title: `AIOS: Run ${commandType} (3/3): parameters`,
    prompt: hints.length ? `A JSON object. ${hints.join(' · ')}` : 'A JSON object; leave {} for none',
    value: start,
    editor: {
      editor: env.parameters,
      name: commandType,
      onSubmit: (value) =>
        void runInteractively(env, { commandType, priority: priority.priority, parameters: value }, sourceString('palette', 'parameters-editor')),
    },
  });
  if (!parameters) return undefined;
  return { commandType, priority: priority.priority, parameters };
}

async function pickCommandType(ctx: RunCommandHost): Promise<{ commandType: string; entry?: CatalogEntry } | undefined> {
  const qp = vscode.window.createQuickPick<TypeItem>();
  qp.title = 'AIOS: Run Command (1/3): command type';
  const pickPlaceholder = 'Pick a command type, or type another';
  qp.placeholder = ctx.supervisor.isReady ? pickPlaceholder : 'The Python service is starting: type a command type, or wait for its list';
  // The label is what people type: matching on the detail (a handler's description) would let "ECHO" pick
  // another type whose description happens to hold those letters.
  let known: TypeItem[] = [];
  const entries = new Map<string, CatalogEntry>();
  // A typed name that begins no listed type is offered as an item of its own, so Enter runs exactly what was
  // typed. While it begins one ("AI_INF"), the list is left alone: the quick pick's own filter makes the best
  // match active, as anywhere in VS Code. Replacing the items at each key also moves the focus to the first
  // item until the new list is filtered: an Enter in between ran another type.
  let shownTyped: string | undefined;
  const refresh = (force = false) => {
    const typed = qp.value.trim();
    const lower = typed.toLowerCase();
    const offer = typed && !known.some((i) => i.commandType.toLowerCase().startsWith(lower)) ? typed : undefined;
    if (!force && offer === shownTyped) return;
    shownTyped = offer;
    const typedItem: TypeItem[] = offer
      ? [{ label: offer, commandType: offer, description: 'run this command type', alwaysShow: true, ...blockedMark(ctx, offer) }]
      : [];
    qp.items = [...typedItem, ...known];
  };
  qp.onDidChangeValue(() => refresh());
  // Listening before the list arrives: while the service starts, a typed name and Enter must still count.
  const chosen = new Promise<string | undefined>((resolve) => {
    qp.onDidAccept(() => resolve(acceptedType(qp.value.trim(), qp.selectedItems[0], known)));
    qp.onDidHide(() => resolve(undefined));
  });
  let open = true;
  qp.busy = true;
  qp.show();
  void (async () => {
    try {
      const catalog = await commandCatalog(ctx);
      if (!open) return;
      for (const e of catalog) entries.set(e.name, e);
      const recent = recentTypes(ctx);
      known = catalog
        .map((e) => ({
          label: e.name,
          commandType: e.name,
          description:
            [e.source === 'builtin' ? undefined : e.source, recent.includes(e.name) ? 'recently used' : undefined].filter(Boolean).join(' · ') || undefined,
          detail: [e.description, Object.keys(e.parameters).join(', ')].filter(Boolean).join(' — parameters: '),
          ...blockedMark(ctx, e.name),
        }))
        .sort((a, b) => rank(recent, a.commandType) - rank(recent, b.commandType));
      qp.placeholder = pickPlaceholder;
      refresh(true);
    } catch (err) {
      if (open) qp.placeholder = `Could not list the command types (${err instanceof Error ? err.message : String(err)}); type one`;
    } finally {
      if (open) qp.busy = false;
    }
  })();
  const commandType = await chosen;
  open = false;
  qp.dispose();
  return commandType ? { commandType, entry: entries.get(commandType) } : undefined;
}

function blockedMark(ctx: RunCommandHost, commandType: string): Partial<TypeItem> {
  const policy = ctx.middleware.checkPolicy(commandType);
  return policy.allowed ? {} : { blocked: policy.reason, iconPath: new vscode.ThemeIcon('shield'), description: 'blocked by the security policy' };
}

function rank(recent: readonly string[], type: string): number {
  const i = recent.indexOf(type);
  return i < 0 ? recent.length : i;
}

// ---- remembering (workspace state: the user's own input for this workspace) ------------------------------

const MEMORY_KEY = 'aios.runCommand.last';
const MEMORY_TYPES = 50;
const MEMORY_MAX_BYTES = 64 * 1024;

interface Remembered {
  priority: Priority;
  parameters: Record<string, unknown>;
}

function memory(ctx: RunCommandHost): Record<string, Remembered> {
  return ctx.extension.workspaceState.get<Record<string, Remembered>>(MEMORY_KEY) ?? {};
}

function lastRequest(ctx: RunCommandHost, commandType: string): Remembered | undefined {
  return memory(ctx)[commandType];
}

/** Most recently used first. */
function recentTypes(ctx: RunCommandHost): string[] {
  return Object.keys(memory(ctx)).reverse();
}

async function remember(ctx: RunCommandHost, commandType: string, priority: Priority, parameters: Record<string, unknown>): Promise<void> {
  if (JSON.stringify(parameters).length > MEMORY_MAX_BYTES) return;
  const all = memory(ctx);
  delete all[commandType];
  all[commandType] = { priority, parameters };
  const types = Object.keys(all);
  for (const old of types.slice(0, Math.max(0, types.length - MEMORY_TYPES))) delete all[old];
  await ctx.extension.workspaceState.update(MEMORY_KEY, all);
}

// ---- the result --------------------------------------------------------------------------------------------

/** The result notification: a preview, "Show Result" (the whole JSON) and "Copy"; errors offer the log. */
function showResult(env: RunCommandEnv, result: CommandResult): void {
  const { ctx, results } = env;
  ctx.log.info(`${result.commandType} ${result.success ? 'succeeded' : `failed (${result.error?.code})`} in ${formatDuration(result.durationMs)}`);
  if (result.success) {
    results.keep(result.commandId, result.result);
    const preview = JSON.stringify(result.result);
    void vscode.window
      .showInformationMessage(
        `AIOS: ${result.commandType} done in ${result.durationMs.toFixed(0)} ms${preview ? `: ${preview.length > 120 ? `${preview.slice(0, 117)}…` : preview}` : ''}`,
        'Show Result',
        'Copy',
      )
      .then((choice) => resultAction(env, result, choice));
  } else if (result.error?.code === 'cancelled') {
    void vscode.window.showInformationMessage(`AIOS: ${result.commandType} was cancelled.`);
  } else {
    void showFailure(ctx, result);
  }
}

/** A failed command: the message, and where to go from it: the line of the user's handler that raised, and on
 *  an import error a choice of interpreter (the message names the one that ran). */
async function showFailure(ctx: RunCommandHost, result: CommandResult): Promise<void> {
  const data = (result.error?.data ?? {}) as { file?: string; line?: number; interpreter?: string };
  const actions = [...(data.file ? [GO_TO_ERROR] : []), ...(data.interpreter ? [SELECT_INTERPRETER] : []), 'Show Output'];
  const choice = await vscode.window.showErrorMessage(`AIOS: ${result.commandType} failed: ${result.error?.message}`, ...actions);
  if (choice === GO_TO_ERROR && data.file) {
    const line = Math.max(0, (data.line ?? 1) - 1);
    await vscode.window.showTextDocument(vscode.Uri.file(data.file), { selection: new vscode.Range(line, 0, line, 0) });
  } else if (choice === SELECT_INTERPRETER) {
    await vscode.commands.executeCommand(Commands.selectInterpreter, { ran: data.interpreter });
  } else if (choice === 'Show Output') {
    ctx.log.show(true);
  }
}

const GO_TO_ERROR = 'Go to Error';
const SELECT_INTERPRETER = 'Select Interpreter…';

export async function resultAction(env: RunCommandEnv, result: CommandResult, choice: string | undefined): Promise<void> {
  if (choice === 'Show Result') await env.results.show(result.commandId, result.commandType);
  else if (choice === 'Copy') {
    await vscode.env.clipboard.writeText(JSON.stringify(result.result, null, 2) ?? 'null');
    void vscode.window.setStatusBarMessage(`AIOS: the result of ${result.commandType} was copied`, 3000);
  }
}

function formatDuration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}
