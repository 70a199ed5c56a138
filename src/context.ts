// The extension's context: builds the middleware, the Python supervisor and their glue, and owns every
// Disposable they need. Views and commands receive it; it holds no UI of its own.
import { join } from 'node:path';
import * as vscode from 'vscode';
import { RecentRequests } from './commands/recentRequests';
import { ControlServerIntegration } from './integrations/controlServer';
import { ExportIntegration } from './integrations/exporters';
import { RulesIntegration } from './integrations/rules';
import { interactiveShellOutput, shellCatalog } from './commands/shellRun';
import type { LanguageClient } from 'vscode-languageclient/node';
import {
  CommandRouter,
  CONTROL_PREFIX,
  createMiddleware,
  systemClock,
  type CommandResult,
  type ExecuteOptions,
  type Executor,
  type Middleware,
  type Priority,
  type ServiceContext,
  type ShellRunOptions,
} from './core';
import { ControlState, REPLAY_SOURCE, describeReplay } from './python/controlState';
import { pythonExecutor, serviceConnection, serviceFailure } from './python/executor';
import { clientLib } from './python/lazyClient';
import { resolveInterpreter, type ResolvedInterpreter } from './python/interpreter';
import {
  CommandsRequest,
  ControlRequest,
  SetConcurrencyRequest,
  type CommandsResult,
  type ControlOperation,
  type ControlResult,
  type InitializationOptions,
} from './python/protocol';
import { PythonSupervisor, servicePythonDir, type ServiceStart, type ServiceState } from './python/supervisor';
import { WORKSPACE_DIR, serviceInitializationOptions } from './python/workspaceFiles';
import { SECTION, readMiddlewareSettings, readPythonSettings, type PythonSettings } from './settings';

export interface ControlCall {
  operation: ControlOperation;
  value?: string;
  parameters?: Record<string, unknown>;
  /** Who asked: 'command-palette', 'panel', an extension id… */
  source?: string;
}

/** A command type as pickers show it: where it comes from, what it does, what it takes. */
export interface CatalogEntry {
  name: string;
  description: string;
  /** 'builtin' or 'workspace' (the Python service), or another executor's name. */
  source: string;
  /** Parameter name -> a one-line hint. */
  parameters: Record<string, string>;
  /** Sample parameters that fit. */
  example: Record<string, unknown>;
}

export class AiosContext implements vscode.Disposable {
  readonly log: vscode.LogOutputChannel;
  readonly middleware: Middleware;
  readonly supervisor: PythonSupervisor;
  /** aios.rules: remediation on the sampler's tick. */
  readonly rules: RulesIntegration;
  /** aios.export.*: OTLP, Prometheus and the seed's JSON endpoint. */
  readonly exports: ExportIntegration;
  /** aios.controlServer.*: the seed's control endpoint on loopback. */
  readonly controlServer: ControlServerIntegration;
  /** Parameters of recent commands, for "Run Again" (memory only). */
  readonly recent = new RecentRequests();
  /** Which executor runs a command type (shell spec or the Python service): the one place that decides. */
  readonly router: CommandRouter;
  /** What the user set through the control plane, re-applied to a new service process (not after a fresh restart). */
  private readonly controlState = new ControlState({ clock: systemClock, isReplayable: (name) => this.replayable.has(name) });
  private replayable = new Set<string>();
  private readonly executor: Executor;
  private readonly disposables: vscode.Disposable[] = [];
  private serviceContext: ServiceContext = Object.freeze({ status: 'stopped' });
  private interpreter: Promise<ResolvedInterpreter> | undefined;
  // Read once and on each change (settings, trust, folders): every execute asks for its timeout.
  private pythonSettings: PythonSettings;

  constructor(readonly extension: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel('AIOS', { log: true });
    this.disposables.push(this.log);
    const python = readPythonSettings();
    this.pythonSettings = python.settings;

    this.middleware = createMiddleware({
      config: readMiddlewareSettings(),
      settingPrefix: `${SECTION}.`,
      storageDir: join(extension.globalStorageUri.fsPath, 'telemetry'),
      // No sessionId: the middleware makes one per extension host, so several windows never write the same
      // file (vscode.env.sessionId is one constant whenever VS Code's telemetry is off).
      user: { uiKind: vscode.env.uiKind === vscode.UIKind.Web ? 'web' : 'desktop', remote: vscode.env.remoteName ?? 'local', appName: vscode.env.appName },
      service: () => this.serviceContext,
      log: (level, message) => this.log[level](message),
    });
    this.reportSettingProblems([...this.middleware.configErrors, ...python.errors]);

    this.supervisor = new PythonSupervisor({
      pythonDir: servicePythonDir(extension.extensionPath),
      log: this.log,
      settings: () => this.pythonSettings,
      resolveInterpreter: () => (this.interpreter ??= this.findInterpreter()),
      initializationOptions: () => this.initializationOptions(),
      // Before the new process gets any command: what the user set through the control plane, again.
      onReady: (client, start) => this.onServiceReady(client, start),
    });
    this.disposables.push(
      this.supervisor.onDidChangeState((s) => this.onServiceState(s)),
      this.supervisor.onAdjustThrottling(({ maxConcurrency, baseDelayMs, maxDelayMs, reason }) => {
        const limits = Object.fromEntries(Object.entries({ maxConcurrency, baseDelayMs, maxDelayMs }).filter(([, v]) => v !== undefined));
        const problems = this.updateMiddlewareConfig(limits);
        this.log.info(`The Python service adjusted throttling (${reason}): ${JSON.stringify(limits)}`);
        this.reportSettingProblems(problems);
      }),
      vscode.workspace.onDidChangeConfiguration((e) => this.onSettingsChanged(e)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.rereadPythonSettings(); // a workspace's interpreterPath now counts
        this.rereadMiddlewareSettings(); // and its aios.cluster.redisUrl
        void this.restartService('the workspace is now trusted');
      }),
      // The service's folder and its .aios/ files are chosen at start.
      vscode.workspace.onDidChangeWorkspaceFolders(() => {
        this.rereadPythonSettings();
        void this.restartService('the workspace folders changed');
      }),
    );
    const toService = pythonExecutor(this.supervisor, { timeoutMs: () => this.pythonSettings.executeTimeoutMs });
    this.router = new CommandRouter(toService);
    this.executor = this.remembering(this.router.executor);
    this.watchPythonExtension();
    this.rules = new RulesIntegration({
      middleware: this.middleware,
      log: this.log,
      control: (call) => this.control(call),
      applyLimits: (limits) => this.updateMiddlewareConfig(limits),
      reportSettingProblems: (p) => this.reportSettingProblems(p),
    });
    this.exports = new ExportIntegration({
      middleware: this.middleware,
      log: this.log,
      version: (extension.extension.packageJSON as { version: string }).version,
      serviceStatus: () => this.supervisor.state.status,
      reportSettingProblems: (p) => this.reportSettingProblems(p),
    });
    this.controlServer = new ControlServerIntegration(this);
  }

  /** When the Python extension's active environment is the one in use, follow its changes. */
  private watchPythonExtension(): void {
    const ext = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
    if (!ext) return;
    (ext.isActive ? Promise.resolve(ext.exports) : Promise.resolve(ext.activate())).then(
      (api) => {
        const subscription = api?.environments?.onDidChangeActiveEnvironmentPath?.(() => {
          if (!this.pythonSettings.interpreterPath && vscode.workspace.isTrusted) {
            void this.restartService("the Python extension's active environment changed");
          }
        });
        if (subscription) this.disposables.push(subscription);
      },
      (err: unknown) => this.log.warn(`The Python extension did not activate: ${err instanceof Error ? err.message : String(err)}`),
    );
  }

  /** Starts the Python service; failures are logged and shown by the supervisor, never thrown at activation. */
  start(): void {
    this.supervisor.start().catch(() => undefined);
  }

  /** Runs one command through the middleware to the executor its type names; `shell` streams a program's output. */
  run(request: unknown, options?: ExecuteOptions, shell?: ShellRunOptions): Promise<CommandResult> {
    const output = shell ?? interactiveShellOutput(this, request);
    const executor = output ? this.remembering(this.router.executorWithOutput(output)) : this.executor;
    return this.middleware.execute(this.router.withDefaultPriority(request), executor, options);
  }

  private remembering(executor: Executor): Executor {
    return (request, ectx) => {
      this.recent.remember(ectx.commandId, request);
      return executor(request, ectx);
    };
  }

  /**
   * A control-plane operation, through the same pipeline (security, telemetry) at HIGH priority, without an
   * admission slot: a pause or a full limit must not hold the control plane (the service runs control
   * operations on its own thread, apart from the commands' pool).
   */
  control(req: ControlCall, options?: ExecuteOptions): Promise<CommandResult> {
    const priority: Priority = 'HIGH';
    return this.middleware.execute(
      { commandType: `${CONTROL_PREFIX}${req.operation}`, priority, parameters: { ...req.parameters }, source: req.source ?? 'extension' },
      async (_request, ctx) => {
        const client = await serviceConnection(this.supervisor, ctx);
        const generation = this.supervisor.currentGeneration;
        let reply: ControlResult;
        try {
          reply = await client.sendRequest(ControlRequest, {
            operation: req.operation,
            ...(req.value !== undefined ? { value: req.value } : {}),
            parameters: req.parameters ?? {},
            timestamp: new Date().toISOString(),
            source: req.source ?? 'extension',
            commandId: ctx.commandId,
          });
        } catch (err) {
          // A refused operation may still have changed state (a reload whose config applied but whose handlers
          // did not): the error carries none, so ask for it. Its data (file, line) reaches the caller.
          if (err instanceof clientLib().ResponseError) void this.supervisor.checkHealth();
          throw await serviceFailure(this.supervisor, client, generation, `${CONTROL_PREFIX}${req.operation}`, err);
        }
        this.supervisor.noteHealth(reply.state);
        this.controlState.record(req, reply);
        // A reload may add or remove replayable control commands.
        if (req.operation === 'RELOAD_CONFIG') void this.refreshReplayable(client);
        return reply;
      },
      { ...options, bypassAdmission: true },
    );
  }

  private async onServiceReady(client: LanguageClient, start: ServiceStart): Promise<void> {
    if (start.reason === 'fresh') {
      this.controlState.forget();
      this.log.info('Fresh restart: the control state set earlier (log levels, health override, replayable control commands) is forgotten');
    }
    await this.refreshReplayable(client);
    if (this.controlState.isEmpty) return;
    const outcome = await this.controlState.replay(async (call) => {
      await client.sendRequest(ControlRequest, {
        operation: call.operation,
        ...(call.value !== undefined ? { value: call.value } : {}),
        parameters: call.parameters ?? {},
        timestamp: new Date().toISOString(),
        source: call.source ?? REPLAY_SOURCE,
        commandId: `replay-${start.generation}`,
      });
    });
    const line = describeReplay(outcome);
    if (line) this.log.info(line);
  }

  /** Which control commands the service marks `replay: true`, read from the process that just started. */
  private async refreshReplayable(client: LanguageClient): Promise<void> {
    try {
      const { controlCommands } = await client.sendRequest(CommandsRequest, {});
      this.replayable = new Set(controlCommands.filter((c) => c.replay).map((c) => c.name));
    } catch (err) {
      this.log.debug(`could not list the service's control commands: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The command types and control commands the running service offers (built-ins and the workspace's). */
  async serviceCommands(): Promise<CommandsResult> {
    const client = await this.supervisor.connection();
    return client.sendRequest(CommandsRequest, {});
  }

  /** Every command type the middleware can run, for pickers (Run Command, tasks). */
  async commandCatalog(): Promise<CatalogEntry[]> {
    const shell = shellCatalog(this.router);
    const { commandTypes } = await this.serviceCommands();
    const names = new Set(shell.map((c) => c.name));
    return [
      ...shell,
      ...commandTypes
        .filter((c) => !names.has(c.name))
        .map((c) => ({ name: c.name, description: c.description, source: c.source, parameters: c.parameters, example: c.example })),
    ];
  }

  /** Never rejects: a failed start is already logged and shown to the user by the supervisor. */
  async restartService(reason?: string, options: { fresh?: boolean } = {}): Promise<void> {
    this.interpreter = undefined;
    await this.supervisor.restart({ why: reason, fresh: options.fresh }).catch(() => undefined);
  }

  async dispose(): Promise<void> {
    this.controlServer.dispose();
    // Rules act through the service: they go before it; exporters send what is left after the last commands.
    this.rules.dispose();
    await this.supervisor.dispose();
    await this.middleware.close();
    this.exports.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private workspaceFolder(): string | undefined {
    return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  }

  /** The workspace's handlers and config run only in a trusted workspace. */
  private initializationOptions(): InitializationOptions {
    const folder = this.workspaceFolder();
    const trusted = vscode.workspace.isTrusted;
    if (folder && !trusted) this.log.warn(`Untrusted workspace: its ${WORKSPACE_DIR}/handlers.py and ${WORKSPACE_DIR}/config.json are not loaded.`);
    // One scheduler: the service runs at least as many executes at once as admission lets through.
    return { ...serviceInitializationOptions(folder, trusted), maxConcurrency: this.middleware.config.maxConcurrency };
  }

  /** Applies middleware settings; a new concurrency limit also resizes the service's worker pool. */
  private updateMiddlewareConfig(partial: unknown): string[] {
    const before = this.middleware.config.maxConcurrency;
    const problems = this.middleware.updateConfig(partial);
    const after = this.middleware.config.maxConcurrency;
    if (after !== before && this.supervisor.isReady) {
      this.supervisor
        .connection()
        .then((client) => client.sendRequest(SetConcurrencyRequest, { maxConcurrency: after }))
        .then(
          ({ workers }) => this.log.debug(`The service's worker pool now runs up to ${workers.max} commands at once`),
          (err: unknown) => this.log.warn(`Could not resize the service's worker pool to ${after}: ${err instanceof Error ? err.message : String(err)}`),
        );
    }
    return problems;
  }

  private async findInterpreter(): Promise<ResolvedInterpreter> {
    const found = await resolveInterpreter({
      setting: this.pythonSettings.interpreterPath,
      pythonExtension: vscode.workspace.isTrusted ? pythonExtensionInterpreter : undefined,
    }).catch((err: unknown) => {
      this.interpreter = undefined; // try again on the next start
      throw err;
    });
    return found;
  }

  private onServiceState(state: ServiceState): void {
    const next = { status: state.status, pid: state.pid ?? null, logLevel: state.health?.logLevel ?? null, restarts: state.restarts };
    const prev = this.serviceContext;
    // Every control reply and health ping lands here; telemetry re-encodes its context line only when this
    // object changes (MiddlewareOptions.service), so keep it while nothing in it did.
    if (prev.status === next.status && prev.pid === next.pid && prev.logLevel === next.logLevel && prev.restarts === next.restarts) return;
    this.serviceContext = Object.freeze(next);
  }

  private onSettingsChanged(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration(SECTION)) return;
    if (e.affectsConfiguration(`${SECTION}.python`)) this.rereadPythonSettings();
    if (e.affectsConfiguration(`${SECTION}.python.interpreterPath`)) {
      void this.restartService('aios.python.interpreterPath changed');
    } else if (e.affectsConfiguration(`${SECTION}.python`)) {
      this.supervisor.settingsChanged();
    }
    this.rereadMiddlewareSettings();
  }

  private rereadMiddlewareSettings(): void {
    // A rule that is firing holds its limits: a settings edit must not silently undo them.
    this.reportSettingProblems(this.updateMiddlewareConfig({ ...readMiddlewareSettings(), ...this.rules.activeLimits() }));
  }

  private rereadPythonSettings(): void {
    const { settings, errors } = readPythonSettings(this.pythonSettings);
    this.pythonSettings = settings;
    this.reportSettingProblems(errors);
  }

  private reportSettingProblems(problems: readonly string[]): void {
    if (problems.length === 0) return;
    for (const p of problems) this.log.warn(`Setting ignored: ${p}`);
    void vscode.window
      .showWarningMessage(`AIOS: ${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, 'Open Settings', 'Show Output')
      .then((choice) => {
        if (choice === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', `@ext:${this.extension.extension.id}`);
        else if (choice === 'Show Output') this.log.show(true);
      });
  }
}

/** The Python extension's active interpreter (its documented `environments` API), when it is installed. */
async function pythonExtensionInterpreter(): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
  if (!ext) return undefined;
  const api = ext.isActive ? ext.exports : await ext.activate();
  const environments = api?.environments;
  if (!environments) return undefined;
  const active = environments.getActiveEnvironmentPath(vscode.workspace.workspaceFolders?.[0]?.uri);
  const resolved = await environments.resolveEnvironment(active);
  return resolved?.executable.uri?.fsPath ?? active.path;
}

interface PythonExtensionApi {
  environments?: {
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment(env: { path: string } | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
  };
}
