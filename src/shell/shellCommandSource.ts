// Where shell command types come from: `.aios/commands.json` of the first workspace folder (read only in a
// trusted workspace, watched) and the user's `aios.shellCommands` setting (user settings only: a workspace's
// settings must not choose programs to run). Problems are logged and shown once per change of what is read;
// the good definitions go to the router.
import * as vscode from 'vscode';
import type { AiosContext } from '../context';
import { mergeShellCommands, parseShellCommands, readWorkspaceCommands, WORKSPACE_COMMANDS_FILE } from '../core';

/** The part of the extension's services this file uses. */
export type ShellSourceHost = Pick<AiosContext, 'log' | 'router'>;

export const COMMANDS_FILE = WORKSPACE_COMMANDS_FILE;
export const SHELL_COMMANDS_SETTING = 'shellCommands';

export class ShellCommandSource implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private watcher: vscode.FileSystemWatcher | undefined;
  private readonly changed = new vscode.EventEmitter<void>();
  /** Fires after the command types were read again. */
  readonly onDidChange = this.changed.event;
  private generation = 0;
  /** What the last read found (its types and problems), so a read that finds the same says nothing again. */
  private lastRead: string | undefined;
  /** Settles when the first read is done (tests and the task provider wait for it). */
  ready: Promise<void>;

  constructor(private readonly ctx: ShellSourceHost) {
    this.disposables.push(
      this.changed,
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(`aios.${SHELL_COMMANDS_SETTING}`)) void this.reload();
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.rewatch()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.rewatch()),
    );
    this.ready = this.rewatch();
  }

  private folder(): vscode.WorkspaceFolder | undefined {
    return vscode.workspace.workspaceFolders?.[0];
  }

  private rewatch(): Promise<void> {
    this.watcher?.dispose();
    this.watcher = undefined;
    const folder = this.folder();
    if (folder && vscode.workspace.isTrusted) {
      this.watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(folder, COMMANDS_FILE));
      const reload = () => void this.reload();
      this.watcher.onDidCreate(reload);
      this.watcher.onDidChange(reload);
      this.watcher.onDidDelete(reload);
    }
    return (this.ready = this.reload());
  }

  /** Reads both sources again and hands the result to the router. */
  async reload(): Promise<void> {
    const generation = ++this.generation;
    const folder = this.folder();
    const problems: string[] = [];
    const read = await readWorkspaceCommands(folder?.uri.fsPath, vscode.workspace.isTrusted, { read: readText, exists });
    if (read.skippedUntrusted) this.ctx.log.warn(`Untrusted workspace: ${COMMANDS_FILE} is not loaded (its programs would run on this machine).`);
    const workspace = read.commands;
    problems.push(...read.errors);
    // User settings only (globalValue): a workspace's .vscode/settings.json must not choose programs.
    const userRaw = vscode.workspace.getConfiguration('aios').inspect(SHELL_COMMANDS_SETTING)?.globalValue;
    const user = parseShellCommands(userRaw, `aios.${SHELL_COMMANDS_SETTING}`, 'user', folder?.uri.fsPath);
    problems.push(...user.errors);
    if (generation !== this.generation) return; // a newer read is on its way
    const merged = mergeShellCommands(workspace, user.commands);
    problems.push(...merged.errors);
    // One save can reach the watcher as two changes: the second read finds what the first did.
    const found = JSON.stringify([[...merged.commands], problems]);
    if (found === this.lastRead) return;
    this.lastRead = found;
    this.ctx.router.setShellCommands(merged.commands);
    const names = [...merged.commands.keys()];
    this.ctx.log.info(`Shell command types: ${names.length ? names.join(', ') : 'none'}`);
    this.report(problems);
    this.changed.fire();
  }

  private report(problems: string[]): void {
    if (problems.length === 0) return;
    for (const p of problems) this.ctx.log.warn(`Shell command ignored: ${p}`);
    void vscode.window
      .showWarningMessage(`AIOS: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, 'Show Output')
      .then((c) => c && this.ctx.log.show(true));
  }

  dispose(): void {
    this.watcher?.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await vscode.workspace.fs.stat(vscode.Uri.file(path));
    return true;
  } catch {
    return false;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.file(path)));
  } catch (e) {
    if (e instanceof vscode.FileSystemError && e.code === 'FileNotFound') return undefined;
    throw e;
  }
}
