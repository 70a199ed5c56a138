// The extension's container: builds the middleware, the Python supervisor, the control plane, the settings
// sync and the integrations in order, and disposes them in reverse. It holds no UI and no policy of its own;
// views and commands take the narrow part of it they use.
import { join } from 'node:path';
import * as vscode from 'vscode';
import { RecentRequests } from './commands/recentRequests';
import {
  attachLearning,
  CommandRouter,
  createMiddleware,
  type Learning,
  restoreRecentEvents,
  type CommandResult,
  type ExecuteOptions,
  type Executor,
  type Middleware,
  type ServiceContext,
  type ShellRunOptions,
} from './core';
import { ControlServerIntegration } from './integrations/controlServer';
import { ExportIntegration } from './integrations/exporters';
import { RulesIntegration } from './integrations/rules';
import { ControlPlane, type ControlCall } from './python/controlPlane';
import { pythonExecutor } from './python/executor';
import { resolveInterpreter, type ResolvedInterpreter } from './python/interpreter';
import { CommandsRequest, type CommandsResult, type InitializationOptions } from './python/protocol';
import { pythonExtensionInterpreter, watchPythonExtension } from './python/pythonExtension';
import { PythonSupervisor, servicePythonDir, type ServiceState } from './python/supervisor';
import { WORKSPACE_DIR, serviceInitializationOptions } from './python/workspaceFiles';
import { SECTION, readMiddlewareSettings, readPythonSettings } from './settings';
import { SettingsSync } from './settingsSync';
import { learningSection } from './views/predictionText';

type Owned = { dispose(): unknown };

/** Where every window's telemetry files are (the middleware's storageDir). */
const telemetryDir = (extension: vscode.ExtensionContext): string => join(extension.globalStorageUri.fsPath, 'telemetry');

export class AiosContext implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  readonly middleware: Middleware;
  readonly supervisor: PythonSupervisor;
  readonly controlPlane: ControlPlane;
  readonly settings: SettingsSync;
  /** aios.rules: remediation on the sampler's tick. */
  readonly rules: RulesIntegration;
  /** aios.export.*: OTLP, Prometheus and the PowerShell-compatible JSON endpoint. */
  readonly exports: ExportIntegration;
  /** aios.controlServer.*: the control endpoint on loopback. */
  readonly controlServer: ControlServerIntegration;
  /** Parameters of recent commands, for "Run Again" (memory only). */
  readonly recent = new RecentRequests();
  /** The model learned from the telemetry (this window's events live, every window's on disk at start). */
  readonly learning: Learning;
  /** Which executor runs a command type (shell spec or the Python service): the one place that decides. */
  readonly router: CommandRouter;
  private readonly executor: Executor;
  /** Disposed in reverse: each service goes before what it was built on. */
  private readonly owned: Owned[] = [];
  private serviceContext: ServiceContext = Object.freeze({ status: 'stopped' });
  private interpreter: Promise<ResolvedInterpreter> | undefined;

  constructor(readonly extension: vscode.ExtensionContext) {
    this.log = this.own(vscode.window.createOutputChannel('AIOS', { log: true }));
    const python = readPythonSettings();
    this.settings = new SettingsSync(python.settings);

    const storageDir = telemetryDir(extension);
    this.middleware = createMiddleware({
      config: readMiddlewareSettings(),
      settingPrefix: `${SECTION}.`,
      storageDir,
      samplerWorkerScript: join(extension.extensionPath, 'dist', 'chunks', 'systemWorker.js'),
      // No sessionId: the middleware makes one per extension host, so several windows never write the same
      // file (vscode.env.sessionId is one constant whenever VS Code's telemetry is off).
      user: { uiKind: vscode.env.uiKind === vscode.UIKind.Web ? 'web' : 'desktop', remote: vscode.env.remoteName ?? 'local', appName: vscode.env.appName },
      service: () => this.serviceContext,
      log: (level, message) => this.log[level](message),
    });
    // Recent Events as they were before a window reload (the counts come back from their snapshot).
    void restoreRecentEvents(this.middleware.telemetry, storageDir, this.middleware.config.telemetry.maxRecentEvents, this.middleware.sessionId).then(
      (n) => n > 0 && this.log.info(`Recent Events: ${n} restored from the telemetry on disk`),
    );

    this.supervisor = new PythonSupervisor({
      pythonDir: servicePythonDir(extension.extensionPath),
      log: this.log,
      settings: () => this.settings.python,
      resolveInterpreter: () => (this.interpreter ??= this.findInterpreter()),
      initializationOptions: () => this.initializationOptions(),
      // Before the new process gets any command: what the user set through the control plane, again.
      onReady: (client, start) => this.controlPlane.onServiceReady(client, start),
    });
    this.controlPlane = new ControlPlane({ middleware: this.middleware, supervisor: this.supervisor, log: this.log, store: extension.workspaceState });
    this.own(this.settings);
    this.settings.attach(
      {
        middleware: this.middleware,
        supervisor: this.supervisor,
        log: this.log,
        extensionId: extension.extension.id,
        restartService: (reason) => this.restartService(reason),
        resizeWorkerPool: (max) => this.controlPlane.resizeWorkerPool(max),
        activeLimits: () => this.rules.activeLimits(),
      },
      [...this.middleware.configErrors, ...python.errors],
    );
    this.own(
      this.supervisor.onDidChangeState((s) => this.onServiceState(s)),
      this.supervisor.onAdjustThrottling(({ maxConcurrency, baseDelayMs, maxDelayMs, reason }) => {
        const limits = Object.fromEntries(Object.entries({ maxConcurrency, baseDelayMs, maxDelayMs }).filter(([, v]) => v !== undefined));
        const problems = this.settings.updateMiddlewareConfig(limits);
        this.log.info(`The Python service adjusted throttling (${reason}): ${JSON.stringify(limits)}`);
        this.settings.reportProblems(problems);
      }),
      // When the Python extension's active environment is the one in use, follow its changes.
      watchPythonExtension(
        () => {
          if (!this.settings.python.interpreterPath && vscode.workspace.isTrusted)
            void this.restartService("the Python extension's active environment changed");
        },
        (message) => this.log.warn(message),
      ),
    );
    const toService = pythonExecutor(this.supervisor, { timeoutMs: () => this.settings.python.executeTimeoutMs });
    this.router = new CommandRouter(toService);
    this.executor = this.remembering(this.router.executor);

    this.exports = this.own(
      new ExportIntegration({
        middleware: this.middleware,
        log: this.log,
        version: (extension.extension.packageJSON as { version: string }).version,
        serviceStatus: () => this.supervisor.state.status,
        // Read at collection time only, after the constructor has made the learning below.
        predictionAccuracy: () => this.learning.model.accuracy(),
        reportSettingProblems: (p) => this.settings.reportProblems(p),
      }),
    );
    // After the exporters on the stack, so they are disposed after it: they send what the last commands left.
    this.own({ dispose: () => this.middleware.close() });
    // Above the close on the stack: it stops listening before the middleware's last events.
    this.learning = this.own(
      attachLearning(this.middleware, {
        storageDir: telemetryDir(extension),
        onError: (e) => this.log.warn(`Learning from the telemetry on disk failed: ${e.message}`),
      }),
    );
    this.own(this.middleware.addDetailedSection('learning', () => learningSection(this.learning.model)));
    this.own(this.supervisor);
    // Rules act through the service: they go before it.
    this.rules = this.own(
      new RulesIntegration({
        middleware: this.middleware,
        log: this.log,
        control: (call) => this.control(call),
        applyLimits: (limits) => this.settings.updateMiddlewareConfig(limits),
        reportSettingProblems: (p) => this.settings.reportProblems(p),
      }),
    );
    this.controlServer = this.own(new ControlServerIntegration(this));
  }

  /** Starts the Python service; failures are logged and shown by the supervisor, never thrown at activation. */
  start(): void {
    this.supervisor.start().catch(() => undefined);
  }

  /** Runs one command through the middleware to the executor its type names; `shell` streams a program's output. */
  run(request: unknown, options?: ExecuteOptions, shell?: ShellRunOptions): Promise<CommandResult> {
    const executor = shell ? this.remembering(this.router.executorWithOutput(shell)) : this.executor;
    return this.middleware.execute(this.router.withDefaultPriority(request), executor, options);
  }

  /** A control-plane operation (see ControlPlane.control). */
  control(call: ControlCall, options?: ExecuteOptions): Promise<CommandResult> {
    return this.controlPlane.control(call, options);
  }

  /** The command types and control commands the running service offers (built-ins and the workspace's). */
  async serviceCommands(): Promise<CommandsResult> {
    const client = await this.supervisor.connection();
    return client.sendRequest(CommandsRequest, {});
  }

  /** Never rejects: a failed start is already logged and shown to the user by the supervisor. */
  async restartService(reason?: string, options: { fresh?: boolean } = {}): Promise<void> {
    this.interpreter = undefined;
    await this.supervisor.restart({ why: reason, fresh: options.fresh }).catch(() => undefined);
  }

  /** Everything it built, newest first; each awaited, so the service's shutdown and the last write finish. */
  async dispose(): Promise<void> {
    for (const d of this.owned.splice(0).reverse()) await d.dispose();
  }

  private own<T extends Owned>(first: T, ...more: Owned[]): T {
    this.owned.push(first, ...more);
    return first;
  }

  private remembering(executor: Executor): Executor {
    return (request, ectx) => {
      this.recent.remember(ectx.commandId, request);
      return executor(request, ectx);
    };
  }

  /** The workspace's handlers and config run only in a trusted workspace. */
  private initializationOptions(): InitializationOptions {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const trusted = vscode.workspace.isTrusted;
    if (folder && !trusted) this.log.warn(`Untrusted workspace: its ${WORKSPACE_DIR}/handlers.py and ${WORKSPACE_DIR}/config.json are not loaded.`);
    // One scheduler: the service runs at least as many executes at once as admission lets through.
    return {
      ...serviceInitializationOptions(folder, trusted),
      maxConcurrency: this.middleware.config.maxConcurrency,
      processWorkers: this.settings.python.processWorkers ?? null,
    };
  }

  private async findInterpreter(): Promise<ResolvedInterpreter> {
    return resolveInterpreter({
      setting: this.settings.python.interpreterPath,
      pythonExtension: vscode.workspace.isTrusted ? pythonExtensionInterpreter : undefined,
    }).catch((err: unknown) => {
      this.interpreter = undefined; // try again on the next start
      throw err;
    });
  }

  private onServiceState(state: ServiceState): void {
    const next = { status: state.status, pid: state.pid ?? null, logLevel: state.health?.logLevel ?? null, restarts: state.restarts };
    const prev = this.serviceContext;
    // Every control reply and health ping lands here; telemetry re-encodes its context line only when this
    // object changes (MiddlewareOptions.service), so keep it while nothing in it did.
    if (prev.status === next.status && prev.pid === next.pid && prev.logLevel === next.logLevel && prev.restarts === next.restarts) return;
    this.serviceContext = Object.freeze(next);
  }
}
