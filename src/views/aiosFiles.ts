// The workspace's `.aios/` files as the user edits them: a broken handlers.py or config.json is a diagnostic
// in the Problems panel on the line the service names (cleared once the service loads it), and saving a file
// there reloads the service's config and handlers (aios.reloadOnSave turns that off). The diagnostics follow
// the service's own health report, so they also appear for a file that was broken when the service started.
import { dirname, join, sep } from 'node:path';
import * as vscode from 'vscode';
import type { CommandResult } from '../core';
import type { AiosContext } from '../context';
import type { HealthResult, SourceLocation } from '../python/protocol';
import { WORKSPACE_DIR } from '../python/workspaceFiles';
import { Commands } from '../shared/ids';

/** The part of the extension's services this file uses. */
export type AiosFilesHost = Pick<AiosContext, 'control' | 'log' | 'supervisor' | 'restartService'>;

/** Saves within this long are one reload (an editor's "save all", a formatter writing twice). */
const SAVE_DEBOUNCE_MS = 300;

export class AiosFiles implements vscode.Disposable {
  private readonly diagnostics = vscode.languages.createDiagnosticCollection('aios');
  private readonly disposables: vscode.Disposable[] = [this.diagnostics];
  private saveTimer: NodeJS.Timeout | undefined;
  private savedFiles = new Set<string>();
  private lastHealthKey = '';

  constructor(private readonly ctx: AiosFilesHost) {
    this.disposables.push(
      ctx.supervisor.onDidChangeState((s) => {
        if (s.health) this.showProblems(s.health);
      }),
      vscode.workspace.onDidSaveTextDocument((doc) => this.onSaved(doc)),
    );
  }

  /** The `.aios/` folder the service reads (the first workspace folder's). */
  private folder(): string | undefined {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return root ? join(root, WORKSPACE_DIR) : undefined;
  }

  private onSaved(doc: vscode.TextDocument): void {
    const folder = this.folder();
    if (!folder || doc.uri.scheme !== 'file' || !vscode.workspace.isTrusted) return;
    const file = doc.uri.fsPath;
    // handlers.py, config.json, and the modules handlers.py imports from beside it.
    if (!(file.startsWith(folder + sep) && /\.(py|json)$/.test(file))) return;
    if (!vscode.workspace.getConfiguration('aios').get<boolean>('reloadOnSave', true)) return;
    this.savedFiles.add(file);
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => void this.reload(), SAVE_DEBOUNCE_MS);
  }

  private async reload(): Promise<void> {
    const files = [...this.savedFiles].map((f) => f.slice(dirname(f).length + 1));
    this.savedFiles = new Set();
    if (!this.ctx.supervisor.isReady) {
      // A service that is (re)starting reads the files anyway. One that gave up (a handlers module that never
      // finished importing, a crash loop) gets a new chance with the file the user just fixed.
      const state = this.ctx.supervisor.state;
      if (state.status === 'crashed' && !state.noInterpreter) await this.ctx.restartService(`${files.join(', ')} saved`);
      return;
    }
    const result = await this.ctx.control({ operation: 'RELOAD_CONFIG', source: 'save' });
    if (result.success) {
      this.ctx.log.info(`Reloaded the service's config and handlers after saving ${files.join(', ')}`);
      void vscode.window.setStatusBarMessage(`$(check) AIOS: reloaded after saving ${files.join(', ')}`, 4000);
    } else {
      void showReloadError(result);
    }
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
    clearTimeout(this.saveTimer);
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
