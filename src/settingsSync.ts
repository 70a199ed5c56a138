// Keeps the running services in step with the `aios.*` settings: the middleware's limits and policy applied
// live, the Python settings re-read (a new interpreter path restarts the service), workspace trust and folder
// changes, and one place that tells the user about a setting that was ignored.
import * as vscode from 'vscode';
import type { Middleware, PartialConfig } from './core';
import type { PythonSupervisor } from './python/supervisor';
import { SECTION, readMiddlewareSettings, readPythonSettings, type PythonSettings } from './settings';

export interface SettingsSyncHost {
  readonly middleware: Middleware;
  readonly supervisor: PythonSupervisor;
  readonly log: vscode.LogOutputChannel;
  /** For "Open Settings": `@ext:<id>`. */
  readonly extensionId: string;
  restartService(reason: string): Promise<void>;
  /** The service's worker pool follows the middleware's concurrency limit. */
  resizeWorkerPool(maxConcurrency: number): void;
  /** Limits a firing rule holds: a settings edit must not silently undo them. */
  activeLimits(): PartialConfig;
}

export class SettingsSync implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private host: SettingsSyncHost | undefined;

  /** `initial`: aios.python.* as read before the services were built (the supervisor reads it lazily). */
  constructor(private pythonSettings: PythonSettings) {}

  /** Read once and on each change (settings, trust, folders): every execute asks for its timeout. */
  get python(): PythonSettings {
    return this.pythonSettings;
  }

  /** Starts following the settings; `problems` are those found while the services were built. */
  attach(host: SettingsSyncHost, problems: readonly string[]): void {
    this.host = host;
    this.reportProblems(problems);
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => this.onSettingsChanged(e)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.rereadPythonSettings(); // a workspace's interpreterPath now counts
        this.rereadMiddlewareSettings(); // and its aios.cluster.redisUrl
        void host.restartService('the workspace is now trusted');
      }),
      // The service's folder and its .aios/ files are chosen at start.
      vscode.workspace.onDidChangeWorkspaceFolders(() => {
        this.rereadPythonSettings();
        void host.restartService('the workspace folders changed');
      }),
    );
  }

  /** Applies middleware settings; a new concurrency limit also resizes the service's worker pool. */
  updateMiddlewareConfig(partial: unknown): string[] {
    const host = this.attached();
    const before = host.middleware.config.maxConcurrency;
    const problems = host.middleware.updateConfig(partial);
    const after = host.middleware.config.maxConcurrency;
    if (after !== before) host.resizeWorkerPool(after);
    return problems;
  }

  /** Logs each problem and shows the first, with a way to the settings and to the log. */
  reportProblems(problems: readonly string[]): void {
    if (problems.length === 0) return;
    const host = this.attached();
    for (const p of problems) host.log.warn(`Setting ignored: ${p}`);
    void vscode.window
      .showWarningMessage(`AIOS: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, 'Open Settings', 'Show Output')
      .then((choice) => {
        if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', `@ext:${host.extensionId}`);
        else if (choice === 'Show Output') host.log.show(true);
      });
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private attached(): SettingsSyncHost {
    if (!this.host) throw new Error('SettingsSync used before attach()');
    return this.host;
  }

  private onSettingsChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration(SECTION)) return;
    const host = this.attached();
    if (e.affectsConfiguration(`${SECTION}.python`)) this.rereadPythonSettings();
    if (e.affectsConfiguration(`${SECTION}.python.interpreterPath`)) {
      void host.restartService('aios.python.interpreterPath changed');
    } else if (e.affectsConfiguration(`${SECTION}.python.processWorkers`)) {
      // The service reads it once, at initialize.
      void host.restartService('aios.python.processWorkers changed');
    } else if (e.affectsConfiguration(`${SECTION}.python`)) {
      host.supervisor.settingsChanged();
    }
    this.rereadMiddlewareSettings();
  }

  private rereadMiddlewareSettings(): void {
    this.reportProblems(this.updateMiddlewareConfig({ ...readMiddlewareSettings(), ...this.attached().activeLimits() }));
  }

  private rereadPythonSettings(): void {
    const { settings, errors } = readPythonSettings(this.pythonSettings);
    this.pythonSettings = settings;
    this.reportProblems(errors);
  }
}
