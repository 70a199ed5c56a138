// The workspace's `.aios/` files as the user edits them: a broken handlers.py or config.json is a diagnostic
// in the Problems panel on the line the service names (cleared once the service loads it), and a change to a file
// there reloads the service's config and handlers, whether saved in the editor or written by anything else (a
// shell, `git pull`, another editor): a file watcher and the editor's saves feed one ReloadScheduler, which makes
// one reload of a burst of changes and of a save the watcher also sees (aios.reloadOnSave turns both off). Only in a
// trusted workspace (an untrusted one's files never load). The diagnostics follow the service's own health report,
// so they also appear for a file that was broken when the service started.
import { stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import * as vscode from 'vscode';
import type { CommandResult } from '../core';
import type { AiosContext } from '../context';
import type { HealthResult, SourceLocation } from '../python/protocol';
import { WORKSPACE_DIR } from '../python/workspaceFiles';
import { Commands } from '../shared/ids';
import { isServiceFile, ReloadScheduler, type ChangeOrigin } from './reloadScheduler';

/** The part of the extension's services this file uses. */
export type AiosFilesHost = Pick<AiosContext, 'control' | 'log' | 'supervisor' | 'restartService'>;

/** A reload that failed with one of these never reached the service: it waits until the service is back. */
const NOT_DELIVERED = new Set(['service_unavailable', 'service_crashed', 'closed']);

export class AiosFiles implements vscode.Disposable {
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('aios');
  private readonly disposables: vscode.Disposable[] = [this.diagnostics];
  private watcher: vscode.FileSystemWatcher | undefined;
  private readonly scheduler: ReloadScheduler;
  private wasReady: boolean;
  /** When the service last gave up (Date.now()), while it stays given up. */
  private gaveUpAt: number | undefined;
  private lastHealthKey = '';

  constructor(private readonly ctx: AiosFilesHost) {
    this.scheduler = new ReloadScheduler({
      stamp: (file) =>
        stat(file).then(
          (s) => `${s.mtimeMs}:${s.size}`,
          () => 'missing',
        ),
      // A service that gave up takes a change too: it starts again on it (reload() below).
      isReady: () => ctx.supervisor.isReady || this.gaveUp(),
      reload: (files, origin) => this.reload(files, origin),
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
    });
    this.wasReady = ctx.supervisor.isReady;
    this.disposables.push(
      ctx.supervisor.onDidChangeState((s) => {
        if (s.health) this.showProblems(s.health);
        // Changes made while the service was (re)starting are reloaded now: it may have read the files before them.
        const ready = ctx.supervisor.isReady;
        if (ready && !this.wasReady) this.scheduler.serviceReady();
        this.wasReady = ready;
        const gaveUp = this.gaveUp();
        if (gaveUp && this.gaveUpAt === undefined) this.gaveUpAt = Date.now();
        else if (!gaveUp) this.gaveUpAt = undefined;
      }),
      vscode.workspace.onDidSaveTextDocument((doc) => this.onChange(doc.uri, 'save')),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.rewatch()),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.rewatch()),
    );
    this.rewatch();
  }

  /** The `.aios/` folder the service reads (the first workspace folder's). */
  private folder(): string | undefined {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return root ? join(root, WORKSPACE_DIR) : undefined;
  }

  /** Watches `.aios/` of the first workspace folder, when the workspace is trusted. */
  private rewatch(): void {
    this.watcher?.dispose();
    this.watcher = undefined;
    const root = vscode.workspace.workspaceFolders?.[0];
    if (!root || !vscode.workspace.isTrusted) return;
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(root, `${WORKSPACE_DIR}/**/*.{py,json}`));
    const onDisk = (uri: vscode.Uri) => this.onChange(uri, 'disk');
    watcher.onDidCreate(onDisk);
    watcher.onDidChange(onDisk);
    watcher.onDidDelete(onDisk);
    this.watcher = watcher;
  }

  private onChange(uri: vscode.Uri, origin: ChangeOrigin): void {
    const folder = this.folder();
    if (!folder || uri.scheme !== 'file' || !vscode.workspace.isTrusted) return;
    // handlers.py, config.json, and the modules handlers.py imports from beside it.
    if (!isServiceFile(folder, uri.fsPath)) return;
    if (!vscode.workspace.getConfiguration('aios').get<boolean>('reloadOnSave', true)) return;
    this.scheduler.changed(uri.fsPath, origin);
  }

  /** The service stopped trying (it crashed past its restarts, or its handlers never finished importing). */
  private gaveUp(): boolean {
    const state = this.ctx.supervisor.state;
    return state.status === 'crashed' && !state.noInterpreter;
  }

  /** One RELOAD_CONFIG; false when the service could not be reached (the scheduler tries again once it is back). */
  private async reload(files: readonly string[], origin: ChangeOrigin): Promise<boolean> {
    const folder = this.folder() ?? '';
    const names = files.map((f) => relative(folder, f).replace(/\\/g, '/')).join(', ');
    const what = origin === 'save' ? `after saving ${names}` : `${names} changed on disk`;
    // A service that gave up (a handlers module that never finished importing, a crash loop) gets a new chance
    // with the file the user just changed; the new start reads the files.
    if (!this.ctx.supervisor.isReady && this.gaveUp()) {
      // Only a change made after it gave up: the watcher's late event for the very write that broke it (the
      // file the failed start read) must not start it again.
      const since = this.gaveUpAt ?? 0;
      const newer = await Promise.all(
        files.map((f) =>
          stat(f).then(
            (st) => st.mtimeMs > since,
            () => true,
          ),
        ),
      );
      if (!newer.some(Boolean)) return true;
      await this.ctx.restartService(`${names} ${origin === 'save' ? 'saved' : 'changed on disk'}`);
      return true;
    }
    const result = await this.ctx.control({ operation: 'RELOAD_CONFIG', source: origin === 'save' ? 'save' : 'file-change' });
    if (result.success) {
      this.ctx.log.info(`Reloaded the service's config and handlers: ${what}`);
      void vscode.window.setStatusBarMessage(`$(check) AIOS: reloaded ${origin === 'save' ? what : `(${what})`}`, 4000);
      return true;
    }
    if (result.error && NOT_DELIVERED.has(result.error.code)) {
      this.ctx.log.info(`Reload (${what}) waits for the service: ${result.error.message}`);
      return false;
    }
    void showReloadError(result);
    return true;
  }

  /** Problems from a health report: the config file's, and the handlers module's. */
  private showProblems(health: HealthResult): void {
    const config = health.configError;
    const handlers = health.handlers;
    const key = JSON.stringify([config, handlers.errorLocation, handlers.error, handlers.loaded]);
    if (key === this.lastHealthKey) return; // every ping and control reply lands here
    this.lastHealthKey = key;
    this.diagnostics.clear();
    const byFile = new Map<string, vscode.Diagnostic[]>();
    const add = (file: string, line: number | null, column: number | null, message: string) => {
      const l = Math.max(0, (line ?? 1) - 1);
      const c = Math.max(0, (column ?? 1) - 1);
      const d = new vscode.Diagnostic(new vscode.Range(l, c, l, Number.MAX_SAFE_INTEGER), message, vscode.DiagnosticSeverity.Error);
      d.source = 'AIOS';
      byFile.set(file, [...(byFile.get(file) ?? []), d]);
    };
    if (config?.configFile) add(config.configFile, config.line, config.column, `${config.message} (the service keeps the config it had)`);
    const where: SourceLocation | null = handlers.errorLocation;
    if (where && handlers.error) {
      const kept =
        handlers.commandTypes.length + handlers.controlCommands.length > 0 ? 'the previous handlers stay in force' : 'no workspace handlers are loaded';
      add(where.file, where.line, where.column, `${handlers.error}: ${kept}`);
    }
    for (const [file, list] of byFile) this.diagnostics.set(vscode.Uri.file(file), list);
  }

  dispose(): void {
    this.scheduler.dispose();
    this.watcher?.dispose();
    this.watcher = undefined;
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

/** A failed reload as a notification that names the file and line, with a way to get there. */
export async function showReloadError(result: CommandResult): Promise<void> {
  const data = (result.error?.data ?? {}) as { configFile?: string | null; file?: string; line?: number | null; column?: number | null };
  const file = data.file ?? data.configFile ?? undefined;
  const choice = await vscode.window.showErrorMessage(`AIOS: reload failed: ${result.error?.message}`, ...(file ? ['Go to Error'] : []), 'Show Output');
  if (choice === 'Go to Error' && file) {
    const line = Math.max(0, (data.line ?? 1) - 1);
    const column = Math.max(0, (data.column ?? 1) - 1);
    await vscode.window.showTextDocument(vscode.Uri.file(file), { selection: new vscode.Range(line, column, line, column) });
  } else if (choice === 'Show Output') {
    await vscode.commands.executeCommand(Commands.showOutput);
  }
}
