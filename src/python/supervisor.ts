// Starts, watches and restarts the Python service: the VS Code and language-client glue around the lifecycle
// (lifecycle.ts), which makes every decision. vscode-languageclient speaks JSON-RPC with the service over
// stdio; we spawn the process ourselves so we own its pid: a health ping that times out (a hung service, which
// the language client alone never notices) kills the process tree, and crashes restart it with backoff until
// a crash-loop limit, after which one actionable notification asks the user.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { LanguageClient, LanguageClientOptions, MessageTransports } from 'vscode-languageclient/node';
import { systemClock } from '../core/clock';
import { isAlive, killProcessGroup, killProcessTree } from '../core/execution';
import { serviceEnvironment } from './environment';
import { InterpreterNotFoundError, type ResolvedInterpreter } from './interpreter';
import { Commands } from '../shared/ids';
import { clientLib, loadClientLib } from './lazyClient';
import {
  ServiceLifecycle,
  StartFailure,
  describeExitStatus,
  isLanguageClientNoise,
  type ExitStatus,
  type LifecycleSnapshot,
  type ServiceHandle,
  type StartReason,
} from './lifecycle';
import {
  AdjustThrottlingNotification,
  EXIT_HANDLERS_IMPORT_TIMEOUT,
  HealthRequest,
  handlersImportTimeoutReason,
  StateChangedNotification,
  type AdjustThrottlingParams,
  type HealthResult,
  type InitializationOptions,
} from './protocol';

const SELECT_INTERPRETER = 'Select Interpreter…';
const OPEN_SETTING = 'Set aios.python.interpreterPath';

export { ServiceUnavailableError, type StartReason } from './lifecycle';

export type ServiceStatus = 'starting' | 'healthy' | 'unhealthy' | 'stopped' | 'crashed';

export interface ServiceState {
  status: ServiceStatus;
  pid?: number;
  /** Why it is in this state, in words a person can act on. */
  detail?: string;
  interpreter?: string;
  /** The last aios/health answer. */
  health?: HealthResult;
  /** Restarts after crashes or hangs since the last start the user asked for. */
  restarts: number;
  /** Epoch ms since when the service has been down (stopped, crashed, restarting); absent while it runs. */
  downSince?: number;
  /** Set when the last start found no usable Python (3.9+): the fix is the user's (a setting or an install). */
  noInterpreter?: true;
}

export interface SupervisorSettings {
  healthIntervalMs: number;
  healthTimeoutMs: number;
  /** Restarts allowed within restartWindowMs before the supervisor gives up. */
  maxRestarts: number;
  restartWindowMs: number;
}

/** A new service process is up and ready. */
export interface ServiceStart {
  reason: StartReason;
  pid?: number;
  /** The supervisor's currentGeneration for this process. */
  generation: number;
}

export interface SupervisorOptions {
  /** The folder that holds aios_service/. */
  pythonDir: string;
  log: vscode.LogOutputChannel;
  settings(): SupervisorSettings;
  resolveInterpreter(): Promise<ResolvedInterpreter>;
  initializationOptions(): InitializationOptions;
  /**
   * Runs when a new process is connected, before `connection()` hands it to anyone (commands queued meanwhile
   * wait), e.g. to re-apply control state. Talk to the service through the `client` given: `connection()`
   * would wait for this hook. Bounded by the start timeout; a rejection is logged and the service starts anyway.
   */
  onReady?(client: LanguageClient, start: ServiceStart): Promise<void>;
}

const STOP_TIMEOUT_MS = 2000;
/** A connection closed without the process exiting (it closed its stdout): that long, then it is ended. */
const CLOSED_GRACE_MS = 1000;
/** Lines the service's logging handler writes; the same records reach us as window/logMessage. */
const LOG_RECORD = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) /;

export class PythonSupervisor implements vscode.Disposable {
  private readonly stateEmitter = new vscode.EventEmitter<ServiceState>();
  private readonly throttlingEmitter = new vscode.EventEmitter<AdjustThrottlingParams>();
  private readonly startEmitter = new vscode.EventEmitter<ServiceStart>();
  readonly onDidChangeState = this.stateEmitter.event;
  /** The service's CUSTOM_COMMAND adjust_throttling asks the extension to change its limits. */
  readonly onAdjustThrottling = this.throttlingEmitter.event;
  /** A new service process is up and ready (after `onReady`), and why it was started. */
  readonly onDidStart = this.startEmitter.event;

  private readonly lifecycle: ServiceLifecycle<ServiceProcess, HealthResult>;
  /** What the language client writes goes through here, so its connection noise stays out of sight. */
  private readonly clientLog: vscode.LogOutputChannel;
  private disposed = false;
  private _state: ServiceState = { status: 'stopped', restarts: 0 };
  private noInterpreter = false;

  constructor(private readonly opts: SupervisorOptions) {
    this.clientLog = quietChannel(opts.log);
    this.lifecycle = new ServiceLifecycle<ServiceProcess, HealthResult>({
      clock: systemClock,
      settings: () => opts.settings(),
      launch: (signal) => this.launch(signal),
      ping: (proc, signal) => this.ping(proc, signal),
      onReady: opts.onReady ? (proc, reason) => opts.onReady!(proc.client, { reason, pid: proc.pid, generation: this.lifecycle.generation }) : undefined,
      log: (level, message) => opts.log[level](message),
      onChange: (s) => this.onLifecycle(s),
      onStarted: (proc, reason) => {
        if (!this.disposed) this.startEmitter.fire({ reason, pid: proc.pid, generation: this.lifecycle.generation });
      },
      onGaveUp: (detail) => void this.notifyDown(detail),
    });
  }

  get state(): ServiceState {
    return this._state;
  }

  /** The running client, waiting for a start or a restart in progress; rejects when the service is down. */
  connection(): Promise<LanguageClient> {
    const running = this.lifecycle.handle;
    if (running) return Promise.resolve(running.client);
    return this.lifecycle.ready().then((proc) => proc.client);
  }

  /** A client is running and ready: `connection()` answers at once. */
  get isReady(): boolean {
    return this.lifecycle.handle !== undefined;
  }

  /** A counter that changes whenever a new service process starts (lets callers tell a crash apart). */
  get currentGeneration(): number {
    return this.lifecycle.generation;
  }

  /**
   * How the last process ended. A request can fail on the closed pipe before the exit status arrives,
   * so this waits for it a little.
   */
  describeExit(waitMs = 1000): Promise<string> {
    return this.lifecycle.describeExit(waitMs);
  }

  get lastExitDescription(): string {
    return this.lifecycle.lastExitDescription;
  }

  /** Starts the service, or joins a start in progress; settles with that start's outcome. */
  async start(): Promise<LanguageClient> {
    return (await this.lifecycle.start()).client;
  }

  /**
   * What the user asks for: a new process that also forgets earlier crashes. The control state is kept
   * (the new process reports reason 'restart'), unless `fresh` (reason 'fresh'). `why` goes into the log line.
   */
  async restart(options: { fresh?: boolean; why?: string } = {}): Promise<void> {
    this.opts.log.info(`Restarting the Python service${options.why ? `: ${options.why}` : ''}${options.fresh ? ' (fresh: control state forgotten)' : ''}`);
    await this.lifecycle.restart({ fresh: options.fresh });
  }

  /** Ends the service; commands waiting for it fail. Resolves once the process is gone. */
  stop(): Promise<void> {
    return this.lifecycle.stop();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.lifecycle.dispose();
    this.disposed = true;
    this.stateEmitter.dispose();
    this.throttlingEmitter.dispose();
    this.startEmitter.dispose();
  }

  /** aios.python.* changed: the health-check period applies at once (restart limits are read when needed). */
  settingsChanged(): void {
    this.lifecycle.settingsChanged();
  }

  /** Pings aios/health (callers during a ping share it); a ping without an answer in time ends a hung service. */
  checkHealth(): Promise<HealthResult | undefined> {
    return this.lifecycle.checkHealth();
  }

  /** A health snapshot from the running service: a ping's answer, a control reply or an announcement. */
  noteHealth(health: HealthResult): void {
    if (!this.isReady) return;
    const status: ServiceStatus = health.status === 'unhealthy' ? 'unhealthy' : 'healthy';
    const detail = status === 'unhealthy' ? (health.overridden ? 'marked unhealthy by HEALTH_OVERRIDE' : 'the service reports itself unhealthy') : 'running';
    this.update({ status, health, detail, pid: health.pid ?? this._state.pid });
  }

  private update(patch: Partial<ServiceState>): void {
    this._state = { ...this._state, ...patch };
    if (!this.disposed) this.stateEmitter.fire(this._state);
  }

  private onLifecycle(s: LifecycleSnapshot): void {
    const status: ServiceStatus =
      s.phase === 'running'
        ? 'healthy'
        : s.phase === 'starting' || s.phase === 'backingOff' || s.restarting
          ? 'starting'
          : s.phase === 'gaveUp'
            ? 'crashed'
            : 'stopped';
    // Replaced as a whole: a field of the old process (pid, health, downSince) never outlives it.
    this._state = {
      status,
      detail: s.detail,
      restarts: s.restarts,
      ...(s.pid !== undefined ? { pid: s.pid } : {}),
      ...(this._state.interpreter !== undefined ? { interpreter: this._state.interpreter } : {}),
      ...(s.downSince !== undefined ? { downSince: s.downSince } : {}),
      ...(this.noInterpreter && s.phase !== 'running' ? { noInterpreter: true as const } : {}),
    };
    if (!this.disposed) this.stateEmitter.fire(this._state);
  }

  /** The lifecycle's spawn-and-connect step. */
  private async launch(signal: AbortSignal): Promise<ServiceProcess> {
    let interpreter: ResolvedInterpreter;
    try {
      interpreter = await this.opts.resolveInterpreter();
      this.noInterpreter = false;
    } catch (err) {
      // Retrying finds no interpreter either: the user has to fix it (the message says how).
      this.noInterpreter = err instanceof InterpreterNotFoundError;
      throw new StartFailure(err instanceof Error ? err.message : String(err), false);
    }
    if (signal.aborted) throw new StartFailure('abandoned');
    this.opts.log.info(`Starting the Python service with ${interpreter.description}`);
    this._state = { ...this._state, interpreter: interpreter.description };
    await loadClientLib();
    if (signal.aborted) throw new StartFailure('abandoned');
    const proc = new ServiceProcess(this.opts, interpreter, this.clientLog);
    const abandon = () => proc.kill();
    signal.addEventListener('abort', abandon, { once: true });
    try {
      await proc.client.start();
    } catch (err) {
      // The client only says "Pending response rejected…": how the process ended is what a person can act on.
      proc.kill();
      const exit = await proc.exitWithin(STOP_TIMEOUT_MS);
      await proc.client.dispose().catch(() => undefined);
      throw new StartFailure(exit ? `${describeExitStatus(exit)} during start-up` : err instanceof Error ? err.message : String(err));
    } finally {
      signal.removeEventListener('abort', abandon);
    }
    proc.client.onNotification(AdjustThrottlingNotification, (params) => this.throttlingEmitter.fire(params));
    proc.client.onNotification(StateChangedNotification, (params) => {
      if (this.lifecycle.handle === proc) this.noteHealth(params.state);
    });
    return proc;
  }

  private async ping(proc: ServiceProcess, signal: AbortSignal): Promise<HealthResult> {
    const cts = new (clientLib().CancellationTokenSource)();
    const cancel = () => cts.cancel();
    signal.addEventListener('abort', cancel, { once: true });
    try {
      const health = await proc.client.sendRequest(HealthRequest, {}, cts.token);
      if (this.lifecycle.handle === proc) this.noteHealth(health);
      return health;
    } finally {
      signal.removeEventListener('abort', cancel);
      cts.dispose();
    }
  }

  private async notifyDown(detail: string): Promise<void> {
    if (this.disposed) return;
    if (this.noInterpreter) {
      // The two ways to fix it, as buttons: a pick of the interpreters found, or the setting.
      const choice = await vscode.window.showErrorMessage(`AIOS: ${detail}`, SELECT_INTERPRETER, OPEN_SETTING, 'Show Output');
      if (choice === SELECT_INTERPRETER) await vscode.commands.executeCommand(Commands.selectInterpreter);
      else if (choice === OPEN_SETTING) await vscode.commands.executeCommand('workbench.action.openSettings', 'aios.python.interpreterPath');
      else if (choice === 'Show Output') this.opts.log.show(true);
      return;
    }
    const choice = await vscode.window.showErrorMessage(`AIOS: ${detail}`, 'Show Output', 'Restart');
    if (choice === 'Show Output') this.opts.log.show(true);
    // The command, not restart(): it also finds the interpreter again (a removed venv, a changed setting).
    else if (choice === 'Restart') await vscode.commands.executeCommand(Commands.restartPythonService);
  }
}

/** One service process and its language client. */
class ServiceProcess implements ServiceHandle {
  readonly client: LanguageClient;
  readonly exited: Promise<ExitStatus>;
  private child: ChildProcess | undefined;
  private exit: ExitStatus | undefined;
  private resolveExit!: (exit: ExitStatus) => void;
  private readonly init: InitializationOptions;

  constructor(
    private readonly opts: SupervisorOptions,
    private readonly interpreter: ResolvedInterpreter,
    clientLog: vscode.LogOutputChannel,
  ) {
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
    void this.exited.then((exit) => (this.exit = exit));
    this.init = opts.initializationOptions();
    this.client = new (clientLib().LanguageClient)('aios', 'AIOS Python Service', () => this.spawn(), this.clientOptions(clientLog));
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Ends the process tree now, unless it has ended already (its pid may belong to someone else by then). */
  kill(): void {
    const child = this.child;
    if (child?.pid === undefined || this.exit || child.exitCode !== null || child.signalCode !== null) return;
    void killProcessTree(child.pid);
  }

  /** Shutdown and exit when it is running (2 s at most); then nothing of it outlives the stop. */
  async stop(): Promise<void> {
    const child = this.child;
    if (this.client.isRunning()) await this.client.stop(STOP_TIMEOUT_MS).catch(() => undefined);
    if (child?.pid !== undefined) {
      // After a clean exit, orphans its handlers started may remain in its group.
      if (child.exitCode === null && child.signalCode === null && isAlive(child.pid)) void killProcessTree(child.pid);
      else if (process.platform !== 'win32') killProcessGroup(child.pid);
      await this.exitWithin(STOP_TIMEOUT_MS);
    }
    await this.client.dispose().catch(() => undefined);
  }

  /** The exit status once known, waiting up to `ms` for it. */
  async exitWithin(ms: number): Promise<ExitStatus | undefined> {
    if (this.exit || !this.child) return this.exit;
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([this.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
    clearTimeout(timer);
    return exit;
  }

  private spawn(): Promise<MessageTransports> {
    const env = serviceEnvironment(process.env, this.opts.pythonDir);
    // Started in its own folder: `-m` puts the working directory first on sys.path, and a workspace must not
    // be able to shadow the service's modules (the service then changes into the workspace folder itself).
    const child = spawn(this.interpreter.executable, ['-m', 'aios_service'], {
      cwd: this.opts.pythonDir,
      env,
      // Its own process group on POSIX, so a kill reaches anything the user's handlers started.
      detached: process.platform !== 'win32',
      windowsHide: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    child.on('exit', (code, signal) =>
      this.resolveExit({ code, signal, ...(code === EXIT_HANDLERS_IMPORT_TIMEOUT ? { reason: handlersImportTimeoutReason(this.init.handlersModule) } : {}) }),
    );
    child.on('error', (err) => {
      // No pid: it never started, and no 'exit' follows. Otherwise a failed kill or pipe: worth a line.
      if (child.pid === undefined) this.resolveExit({ code: null, signal: null, error: err.message });
      else this.opts.log.error(`Python service process error: ${err.message}`);
    });
    forwardStderr(child.stderr, this.opts.log);
    return Promise.resolve(clientLib().serviceTransports(child.stdout, child.stdin));
  }

  /** The connection ended. The exit is what the lifecycle acts on; a process that keeps running is ended. */
  private async connectionClosed(): Promise<void> {
    if (!(await this.exitWithin(CLOSED_GRACE_MS))) this.kill();
  }

  private clientOptions(clientLog: vscode.LogOutputChannel): LanguageClientOptions {
    return {
      documentSelector: [],
      outputChannel: clientLog,
      revealOutputChannelOn: clientLib().RevealOutputChannelOn.Never,
      initializationOptions: this.init,
      connectionOptions: { maxRestartCount: 0 },
      initializationFailedHandler: () => false,
      errorHandler: {
        error: (_error, _message, count) => ({ action: (count ?? 0) <= 3 ? clientLib().ErrorAction.Continue : clientLib().ErrorAction.Shutdown, handled: true }),
        closed: () => {
          void this.connectionClosed();
          return { action: clientLib().CloseAction.DoNotRestart, handled: true };
        },
      },
    };
  }
}

/**
 * The output channel as the language client gets it: lines it writes about the connection ending (which the
 * lifecycle reports in one clear line) go to trace, first line only; everything else, the service's own
 * records included, passes unchanged.
 */
function quietChannel(log: vscode.LogOutputChannel): vscode.LogOutputChannel {
  const levels = new Set<string | symbol>(['error', 'warn', 'info', 'debug']);
  return new Proxy(log, {
    get(target, prop) {
      if (levels.has(prop)) {
        const write = (target[prop as 'error'] as (message: string, ...args: unknown[]) => void).bind(target);
        return (message: string | Error, ...args: unknown[]) => {
          const text = message instanceof Error ? message.message : String(message);
          if (isLanguageClientNoise(text)) target.trace(text.split('\n', 1)[0]);
          else write(message as string, ...args);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function forwardStderr(input: NodeJS.ReadableStream, log: vscode.LogOutputChannel): void {
  // Log records arrive as window/logMessage with their level; forward the rest (tracebacks, interpreter
  // errors, stray writes) as errors so nothing the process says is lost.
  let buffered = '';
  // A log record's traceback follows its first line on stderr, and the record (traceback included) already
  // came as window/logMessage: skip the lines of a traceback that follows a record, so it is logged once.
  let inTraceback = false;
  let afterRecord = false;
  const isLogged = (line: string): boolean => {
    if (LOG_RECORD.test(line)) {
      afterRecord = true;
      inTraceback = false;
      return true;
    }
    if (afterRecord && line.startsWith('Traceback (most recent call last):')) {
      inTraceback = true;
      return true;
    }
    if (inTraceback) {
      // Indented frames and source lines; then the exception's own line ends it (a chained one may follow).
      if (!/^\s/.test(line)) inTraceback = false;
      return true;
    }
    if (afterRecord && /^(During handling of the above exception|The above exception was the direct cause)/.test(line)) return true;
    afterRecord = false;
    return false;
  };
  input.setEncoding('utf8');
  input.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split(/\r?\n/);
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line && !isLogged(line)) log.error(`[python] ${line}`);
  });
  // A last line without a newline (e.g. a crash mid-write) still reaches the log, however the stream ends.
  const flush = () => {
    const line = buffered.replace(/\r$/, '');
    buffered = '';
    if (line && !isLogged(line)) log.error(`[python] ${line}`);
  };
  input.on('end', flush);
  input.on('close', flush);
}

/** Where the service's package lives inside the installed extension. */
export function servicePythonDir(extensionPath: string): string {
  return join(extensionPath, 'python');
}
