// "AIOS: Select Python Interpreter…": the interpreters found (interpreterChoices), then where to keep the
// choice (this workspace or the user's settings); writing aios.python.interpreterPath restarts the service
// (settingsSync), and choosing the path already set restarts it too, so the choice is always tried at once.
import * as vscode from 'vscode';
import type { AiosContext } from '../context';
import { interpreterChoices, sameInterpreter, type InterpreterChoice } from '../python/interpreterChoices';
import { pythonExtensionInterpreter } from '../python/pythonExtension';

export type SelectInterpreterHost = Pick<AiosContext, 'log' | 'restartService'>;

export interface SelectInterpreterArgs {
  /** Skip the list: this path. */
  path?: string;
  /** Skip the question of where to keep it. */
  target?: 'workspace' | 'user';
  /** The interpreter that ran the failing command (an import error's): marked in the list. */
  ran?: string;
}

const SETTING = 'python.interpreterPath';

export async function selectInterpreter(ctx: SelectInterpreterHost, args?: unknown): Promise<string | undefined> {
  const given = (args ?? {}) as SelectInterpreterArgs;
  const cfg = vscode.workspace.getConfiguration('aios');
  const current = cfg.get<string>(SETTING) || undefined;
  let path = given.path;
  if (!path) {
    const picked = await pickInterpreter(ctx, current, given.ran);
    if (!picked) return undefined;
    path = picked;
  }
  const target = given.target ?? (await pickTarget());
  if (!target) return undefined;
  const scope = target === 'workspace' ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
  const before = target === 'workspace' ? cfg.inspect<string>(SETTING)?.workspaceValue : cfg.inspect<string>(SETTING)?.globalValue;
  await cfg.update(SETTING, path, scope);
  ctx.log.info(`aios.python.interpreterPath set to ${path} in ${target === 'workspace' ? 'the workspace' : 'user'} settings`);
  // A changed value restarts the service through the settings watcher; the same value would not.
  if (before === path) await ctx.restartService(`the interpreter ${path} was selected again`);
  return path;
}

type Item = vscode.QuickPickItem & { path?: string; browse?: true };

async function pickInterpreter(ctx: SelectInterpreterHost, current: string | undefined, ran: string | undefined): Promise<string | undefined> {
  const qp = vscode.window.createQuickPick<Item>();
  qp.title = 'AIOS: Select the Python that runs the service';
  qp.placeholder = 'Finding interpreters (Python extension, workspace venvs, PATH, pyenv)…';
  qp.busy = true;
  qp.matchOnDescription = true;
  qp.matchOnDetail = true;
  const browse: Item = { label: '$(folder-opened) Enter or browse for a path…', browse: true, alwaysShow: true };
  qp.items = [browse];
  qp.show();
  const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
  const ext = vscode.workspace.isTrusted ? await pythonExtensionInterpreter().catch(() => undefined) : undefined;
  void interpreterChoices({ folders, pythonExtension: ext }).then(
    (found) => {
      qp.items = [...found.map((c) => toItem(c, current, ran)), browse];
      qp.busy = false;
      qp.placeholder = found.length ? 'The service restarts with the one you pick' : 'No interpreter found: enter or browse for a path';
    },
    (err: unknown) => {
      ctx.log.warn(`Looking for interpreters failed: ${err instanceof Error ? err.message : String(err)}`);
      qp.busy = false;
    },
  );
  const chosen = await new Promise<Item | undefined>((resolve) => {
    qp.onDidAccept(() => resolve(qp.selectedItems[0]));
    qp.onDidHide(() => resolve(undefined));
  });
  qp.dispose();
  if (!chosen) return undefined;
  if (!chosen.browse) return chosen.path;
  const typed = await vscode.window.showInputBox({
    title: 'AIOS: Python interpreter path',
    prompt: 'The full path of a Python 3.9+ executable',
    value: current,
  });
  if (typed) return typed.trim() || undefined;
  return undefined;
}

function toItem(c: InterpreterChoice, current: string | undefined, ran: string | undefined): Item {
  const version = c.version.join('.');
  const notes = [
    ...(c.tooOld ? ['too old: the service needs Python 3.9 or later'] : []),
    ...(ran && sameInterpreter(c.executable, ran) ? ['ran this command'] : []),
    ...(c.path === current ? ['aios.python.interpreterPath now'] : []),
  ];
  return {
    label: `${c.path === current ? '$(check) ' : ''}Python ${version}`,
    description: `${c.path}  (${c.source})`,
    detail: notes.length ? notes.join('; ') : undefined,
    path: c.path,
  };
}

async function pickTarget(): Promise<'workspace' | 'user' | undefined> {
  if (!vscode.workspace.workspaceFolders?.length) return 'user';
  const items: (vscode.QuickPickItem & { target: 'workspace' | 'user' })[] = [
    { label: 'This workspace', description: 'workspace settings (used once the workspace is trusted)', target: 'workspace' },
    { label: 'User', description: 'your user settings: every folder without its own choice', target: 'user' },
  ];
  const picked = await vscode.window.showQuickPick(items, { title: 'AIOS: Keep the interpreter in…' });
  return picked?.target;
}
