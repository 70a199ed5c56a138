// Starts, watches and restarts the Python service. vscode-languageclient speaks JSON-RPC with it over
// stdio; we spawn the process ourselves so we own its pid: a health ping that times out (a hung service,
// which the language client alone never notices) kills the process tree, and crashes restart it with
// backoff until a crash-loop limit, after which one actionable notification asks the user.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import * as vscode from 'vscode';
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  RevealOutputChannelOn,
  type LanguageClientOptions,
  type MessageTransports,
} from 'vscode-languageclient/node';
import { isAlive, killProcessGroup, killProcessTree } from '../core/processTree';
import { serviceEnvironment } from './environment';
import { serviceTransports } from './transport';
import type { ResolvedInterpreter } from './interpreter';
import {
  AdjustThrottlingNotification,
  HealthRequest,
  StateChangedNotification,
  type AdjustThrottlingParams,
  type HealthResult,
  type InitializationOptions,
} from './protocol';

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
}

export interface SupervisorSettings {
  healthIntervalMs: number;
  healthTimeoutMs: number;
  /** Restarts allowed within restartWindowMs before the supervisor gives up. */
  maxRestarts: number;
  restartWindowMs: number;
}

export interface SupervisorOptions {
  /** The folder that holds aios_service/. */
  pythonDir: string;
  log: vscode.LogOutputChannel;
  settings(): SupervisorSettings;
  resolveInterpreter(): Promise<ResolvedInterpreter>;
  initializationOptions(): InitializationOptions;
}

const STOP_TIMEOUT_MS = 2000;
/** Spawn to the `initialize` answer; the service answers in well under a second. */
const START_TIMEOUT_MS = 30_000;
const MAX_BACKOFF_MS = 10_000;
/** Lines the service's logging handler writes; the same records reach us as window/logMessage. */
const LOG_RECORD = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) /;

export class PythonSupervisor implements vscode.Disposable {
  private readonly stateEmitter = new vscode.EventEmitter<ServiceState>();
  private readonly throttlingEmitter = new vscode.EventEmitter<AdjustThrottlingParams>();
  readonly onDidChangeState = this.stateEmitter.event;
  /** The service's CUSTOM_COMMAND adjust_throttling asks the extension to change its limits. */
  readonly onAdjustThrottling = this.throttlingEmitter.event;

  private client: LanguageClient | undefined;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private lastExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private crashTimes: number[] = [];
  private restartTimer: NodeJS.Timeout | undefined;
  /** Callers waiting for the service during a restart's backoff; settled by the restart, or by stop(). */
  private pendingRestart: { promise: Promise<LanguageClient>; resolve(c: LanguageClient): void; reject(e: unknown): void } | undefined;
  /** The generation whose client finished starting: only its connection closing is a crash to count. */
  private runningGeneration = 0;
  private healthTimer: NodeJS.Timeout | undefined;
  private healthInFlight: Promise<HealthResult | undefined> | undefined;
  private stopping = false;
  private disposed = false;
  private generation = 0;
  private launching: Promise<LanguageClient> | undefined;
  private _state: ServiceState = { status: 'stopped', restarts: 0 };

  constructor(private readonly opts: SupervisorOptions) {}

  get state(): ServiceState {
    return this._state;
  }

  /** The running client, waiting for a start or a restart in progress; rejects when the service is down. */
  async connection(): Promise<LanguageClient> {
    if (this.client?.isRunning()) return this.client;
    if (this.launching) {
      try {
        return await this.launching;
      } catch (err) {
        // A failed start may have scheduled a restart: wait for that instead of failing at once.
        if (!this.pendingRestart) throw err instanceof ServiceUnavailableError ? err : new ServiceUnavailableError(String(err));
      }
    }
    if (this.pendingRestart) return this.pendingRestart.promise;
    throw new ServiceUnavailableError(this.unavailableMessage());
  }

  /** A client is running: `connection()` answers at once. */
  get isReady(): boolean {
    return this.client?.isRunning() ?? false;
  }

  /** A counter that changes whenever a new service process starts (lets callers tell a crash apart). */
  get currentGeneration(): number {
    return this.generation;
  }

  /**
   * How the last process ended. A request can fail on the closed pipe before the exit status arrives,
   * so this waits for it a little.
   */
  async describeExit(waitMs = 1000): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
    return this.lastExitDescription;
  }

  get lastExitDescription(): string {
    if (!this.lastExit) return 'it stopped';
    return this.lastExit.signal ? `it was ended by ${this.lastExit.signal}` : `it exited with code ${this.lastExit.code}`;
  }

  start(): Promise<LanguageClient> {
    if (this.disposed) return Promise.reject(new ServiceUnavailableError('AIOS is shutting down'));
    if (this.client?.isRunning()) return Promise.resolve(this.client);
    if (!this.launching) {
      const launching: Promise<LanguageClient> = this.launch().finally(() => {
        if (this.launching === launching) this.launching = undefined;
      });
      this.launching = launching;
    }
    return this.launching;
  }

  /** What the user asks for: a fresh start that also forgets earlier crashes. */
  async restart(): Promise<void> {
    this.opts.log.info('Restarting the Python service');
    this.crashTimes = [];
    await this.stop();
    this.update({ restarts: 0 });
    await this.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.pendingRestart?.reject(new ServiceUnavailableError('The Python service was stopped.'));
    this.pendingRestart = undefined;
    this.stopHealthChecks();
    try {
      // A launch in progress finishes first (bounded by START_TIMEOUT_MS), so what it started is stopped too.
      if (this.launching) await this.launching.catch(() => undefined);
      const client = this.client;
      const child = this.child;
      this.client = undefined;
      this.runningGeneration = 0;
      try {
        if (client) await client.stop(STOP_TIMEOUT_MS).catch(() => undefined);
      } finally {
        // Whatever shutdown managed, nothing of the service outlives a stop: kill what is left of its tree
        // (after a clean exit, orphans its handlers started may remain in its group) and wait until it is gone.
        if (child?.pid !== undefined) {
          if (child.exitCode === null && child.signalCode === null && isAlive(child.pid)) void killProcessTree(child.pid);
          else if (process.platform !== 'win32') killProcessGroup(child.pid);
          await this.describeExit(STOP_TIMEOUT_MS);
        }
        this.child = undefined;
      }
    } finally {
      this.stopping = false;
      if (!this.disposed) this.update({ status: 'stopped', pid: undefined, detail: 'stopped', health: undefined });
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.stop();
    this.stateEmitter.dispose();
    this.throttlingEmitter.dispose();
  }

  private update(patch: Partial<ServiceState>): void {
    this._state = { ...this._state, ...patch };
    if (!this.disposed) this.stateEmitter.fire(this._state);
  }

  private unavailableMessage(): string {
    if (this._state.status === 'crashed') {
      return `The Python service is not running: ${this._state.detail ?? 'it kept crashing'}. Run "AIOS: Restart Python Service".`;
    }
    return `The Python service is not running (${this._state.detail ?? this._state.status}). Run "AIOS: Restart Python Service".`;
  }

  private async launch(): Promise<LanguageClient> {
    const generation = ++this.generation;
    const superseded = () => this.stopping || this.disposed || generation !== this.generation;
    this.update({ status: 'starting', detail: 'starting', pid: undefined });
    let interpreter: ResolvedInterpreter;
    try {
      interpreter = await this.opts.resolveInterpreter();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.opts.log.error(message);
      if (!superseded()) {
        this.update({ status: 'crashed', detail: message });
        void this.notifyDown(message);
      }
      throw new ServiceUnavailableError(message);
    }
    if (superseded()) throw new ServiceUnavailableError('The Python service was stopped while it was starting.');
    this.opts.log.info(`Starting the Python service with ${interpreter.description}`);
    const client = new LanguageClient('aios', 'AIOS Python Service', () => this.spawnService(interpreter), this.clientOptions(generation));
    this.client = client;
    let startTimer: NodeJS.Timeout | undefined;
    try {
      // A service that never answers `initialize` would otherwise hold every caller (and stop()) forever.
      await Promise.race([
        client.start(),
        new Promise<never>((_, reject) => {
          startTimer = setTimeout(() => reject(new Error(`no answer to initialize within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      const message = `The Python service failed to start: ${err instanceof Error ? err.message : String(err)}`;
      this.opts.log.error(message);
      if (this.client === client) this.client = undefined;
      const pid = this.child?.pid;
      if (pid !== undefined && isAlive(pid)) void killProcessTree(pid);
      await client.dispose().catch(() => undefined);
      if (!superseded()) this.scheduleRestart(generation, message);
      throw new ServiceUnavailableError(message);
    } finally {
      clearTimeout(startTimer);
    }
    // Stopped meanwhile: stop() waits for this launch, then stops this client.
    if (superseded()) return client;
    this.runningGeneration = generation;
    client.onNotification(AdjustThrottlingNotification, (params) => this.throttlingEmitter.fire(params));
    client.onNotification(StateChangedNotification, (params) => this.noteHealth(params.state));
    this.update({ status: 'healthy', pid: this.child?.pid, interpreter: interpreter.description, detail: 'running' });
    this.opts.log.info(`Python service running (pid ${this.child?.pid})`);
    this.startHealthChecks();
    void this.checkHealth();
    return client;
  }

  private spawnService(interpreter: ResolvedInterpreter): Promise<MessageTransports> {
    const env = serviceEnvironment(process.env, this.opts.pythonDir);
    // Started in its own folder: `-m` puts the working directory first on sys.path, and a workspace must not
    // be able to shadow the service's modules (the service then changes into the workspace folder itself).
    const child = spawn(interpreter.executable, ['-m', 'aios_service'], {
      cwd: this.opts.pythonDir,
      env,
      // Its own process group on POSIX, so a kill reaches anything the user's handlers started.
      detached: process.platform !== 'win32',
      windowsHide: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.lastExit = undefined;
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.lastExit = { code, signal };
        resolve();
      });
    });
    child.on('error', (err) => this.opts.log.error(`Python service process error: ${err.message}`));
    this.forwardStderr(child.stderr);
    return Promise.resolve(serviceTransports(child.stdout, child.stdin));
  }

  private forwardStderr(input: NodeJS.ReadableStream): void {
    // Log records arrive as window/logMessage with their level; forward the rest (tracebacks, interpreter
    // errors, stray writes) as errors so nothing the process says is lost.
    const log = this.opts.log;
    let buffered = '';
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split(/\r?\n/);
      buffered = lines.pop() ?? '';
      for (const line of lines) if (line && !LOG_RECORD.test(line)) log.error(`[python] ${line}`);
    });
    // A last line without a newline (e.g. a crash mid-write) still reaches the log, however the stream ends.
    const flush = () => {
      const line = buffered.replace(/\r$/, '');
      buffered = '';
      if (line && !LOG_RECORD.test(line)) log.error(`[python] ${line}`);
    };
    input.on('end', flush);
    input.on('close', flush);
  }

  private clientOptions(generation: number): LanguageClientOptions {
    const log = this.opts.log;
    return {
      documentSelector: [],
      outputChannel: log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: this.opts.initializationOptions(),
      connectionOptions: { maxRestartCount: 0 },
      initializationFailedHandler: () => false,
      errorHandler: {
        error: (_error, _message, count) => ({ action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown, handled: true }),
        closed: () => {
          this.onClosed(generation);
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
    };
  }

  private onClosed(generation: number): void {
    // The language client also reports a close while it is still starting; launch() handles that failure.
    if (this.stopping || this.disposed || generation !== this.runningGeneration) return;
    this.runningGeneration = 0;
    this.stopHealthChecks();
    const why = `the Python service stopped unexpectedly (${this.lastExitDescription})`;
    this.opts.log.warn(why);
    const client = this.client;
    this.client = undefined;
    void client?.dispose().catch(() => undefined);
    this.scheduleRestart(generation, why);
  }

  private scheduleRestart(generation: number, why: string): void {
    if (this.stopping || this.disposed || generation !== this.generation || this.restartTimer) return;
    const { maxRestarts, restartWindowMs } = this.opts.settings();
    const now = Date.now();
    this.crashTimes = this.crashTimes.filter((t) => now - t < restartWindowMs);
    this.crashTimes.push(now);
    if (this.crashTimes.length > maxRestarts) {
      const detail = `${why}; it failed ${this.crashTimes.length} times within ${Math.round(restartWindowMs / 1000)} s, so it was not restarted again`;
      this.opts.log.error(detail);
      this.update({ status: 'crashed', pid: undefined, detail });
      void this.notifyDown(detail);
      return;
    }
    const delay = Math.min(500 * 2 ** (this.crashTimes.length - 1), MAX_BACKOFF_MS);
    this.opts.log.info(`Restarting the Python service in ${delay} ms (restart ${this.crashTimes.length} of at most ${maxRestarts})`);
    this.update({ status: 'starting', pid: undefined, detail: `restarting: ${why}`, restarts: this._state.restarts + 1 });
    // Callers asking for the service during the backoff wait for the restart, not an error.
    if (!this.pendingRestart) {
      let resolve!: (c: LanguageClient) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<LanguageClient>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => undefined);
      this.pendingRestart = { promise, resolve, reject };
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      const waiting = this.pendingRestart;
      this.pendingRestart = undefined;
      this.start().then(
        (client) => waiting?.resolve(client),
        (err: unknown) => waiting?.reject(err),
      );
    }, delay);
  }

  private async notifyDown(detail: string): Promise<void> {
    const choice = await vscode.window.showErrorMessage(`AIOS: ${detail}`, 'Show Output', 'Restart');
    if (choice === 'Show Output') this.opts.log.show(true);
    // The command, not restart(): it also finds the interpreter again (a removed venv, a changed setting).
    else if (choice === 'Restart') await vscode.commands.executeCommand('aios.restartPythonService');
  }

  /** aios.python.* changed: the health-check period applies at once (restart limits are read when needed). */
  settingsChanged(): void {
    if (this.healthTimer) this.startHealthChecks();
  }

  private startHealthChecks(): void {
    this.stopHealthChecks();
    this.healthTimer = setInterval(() => void this.checkHealth(), this.opts.settings().healthIntervalMs);
  }

  private stopHealthChecks(): void {
    clearInterval(this.healthTimer);
    this.healthTimer = undefined;
  }

  /**
   * Pings aios/health (callers during a ping share it); no answer within the timeout means the service
   * hangs: end it, and the crash path restarts it.
   */
  checkHealth(): Promise<HealthResult | undefined> {
    this.healthInFlight ??= this.ping().finally(() => {
      this.healthInFlight = undefined;
    });
    return this.healthInFlight;
  }

  private async ping(): Promise<HealthResult | undefined> {
    const client = this.client;
    const pid = this.child?.pid;
    if (!client?.isRunning()) return undefined;
    const { healthTimeoutMs } = this.opts.settings();
    const cts = new vscode.CancellationTokenSource();
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<'timeout'>((res) => {
        timer = setTimeout(() => res('timeout'), healthTimeoutMs);
      });
      const answer = await Promise.race([client.sendRequest(HealthRequest, {}, cts.token), timeout]);
      if (answer === 'timeout') {
        cts.cancel();
        if (client === this.client && pid !== undefined) {
          this.opts.log.warn(`The Python service did not answer a health check within ${healthTimeoutMs} ms: ending it (pid ${pid}) to restart it`);
          this.update({ status: 'unhealthy', detail: `not responding (no health answer within ${healthTimeoutMs} ms)` });
          void killProcessTree(pid);
        }
        return undefined;
      }
      this.noteHealth(answer);
      return answer;
    } catch (err) {
      if (client === this.client) this.opts.log.debug(`health check failed: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    } finally {
      clearTimeout(timer);
      cts.dispose();
    }
  }

  /** A health snapshot from the running service: a ping's answer, a control reply or an announcement. */
  noteHealth(health: HealthResult): void {
    if (!this.client?.isRunning()) return;
    const status: ServiceStatus = health.status === 'unhealthy' ? 'unhealthy' : 'healthy';
    const detail = status === 'unhealthy' ? (health.overridden ? 'marked unhealthy by HEALTH_OVERRIDE' : 'the service reports itself unhealthy') : 'running';
    this.update({ status, health, detail, pid: health.pid ?? this._state.pid });
  }
}

export class ServiceUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceUnavailableError';
  }
}

/** Where the service's package lives inside the installed extension. */
export function servicePythonDir(extensionPath: string): string {
  return join(extensionPath, 'python');
}
