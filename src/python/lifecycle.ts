// The Python service's lifecycle as an explicit state machine. No `vscode` and no language client here: the
// spawn-and-connect step, the health ping and the clock are passed in, so every decision is unit-tested in
// plain Node. It decides what a crash leads to (a restart after a backoff, or giving up after a crash loop),
// treats a hang (a health ping without an answer in time) as a crash, handles stop() and restart() at any
// point, and releases or fails the callers waiting for the service.
//
//   stopped ──start──► starting ──ready──► running ──exit / hang──► backingOff ──delay──► starting
//      ▲                  │ failed             │                        │ too many failures in the window
//      └─── stopping ◄────┴── stop/restart ────┘                        ▼
//                                                                     gaveUp  (until start or restart)
import type { Clock } from '../core/clock';

export type LifecyclePhase =
  /** Not running and nothing scheduled: before the first start, or after stop(). */
  | 'stopped'
  /** A process is being spawned and connected (and the onReady hook runs). */
  | 'starting'
  /** Connected and ready: callers get the handle at once. */
  | 'running'
  /** A process crashed, hung or failed to start; a restart is scheduled after a delay. */
  | 'backingOff'
  /** stop() (or the first half of restart()) is ending the process. */
  | 'stopping'
  /** A crash loop, or a start that cannot succeed by retrying (no interpreter): down until start/restart. */
  | 'gaveUp';

/**
 * Why a process was started. A restart that fails to start and is retried keeps the reason of the request that
 * began it, so a fresh restart stays fresh until a process is up.
 */
export type StartReason =
  /** The first start of this lifecycle. */
  | 'first'
  /** After the process ended unexpectedly. */
  | 'crash'
  /** After the process stopped answering health checks and was ended. */
  | 'hang'
  /** restart() (the user asked), or start() after stop() or after giving up. */
  | 'restart'
  /** restart({ fresh: true }): the user asked to forget the control state. */
  | 'fresh';

export interface ExitStatus {
  code: number | null;
  signal: string | null;
  /** Set when the process could not be started at all (e.g. spawn ENOENT). */
  error?: string;
  /**
   * Set when the service ended itself for a reason a restart would run into again (a workspace handlers module
   * that never finishes importing), in words a person can act on: it is not restarted until asked.
   */
  reason?: string;
}

/** One service process, as the lifecycle sees it. */
export interface ServiceHandle {
  readonly pid: number | undefined;
  /** Settles (never rejects) once the process has ended, for whatever reason. */
  readonly exited: Promise<ExitStatus>;
  /** Ends the process and everything it started, at once (a hang, an abandoned start). */
  kill(): void;
  /** A clean shutdown, then whatever is left of the process tree is killed; settles when it is gone. */
  stop(): Promise<void>;
}

export interface LifecycleSettings {
  healthIntervalMs: number;
  healthTimeoutMs: number;
  /** Restarts allowed within restartWindowMs before giving up. */
  maxRestarts: number;
  restartWindowMs: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface LifecycleSnapshot {
  phase: LifecyclePhase;
  /** Why it is in this phase, in words a person can act on. */
  detail: string;
  /** The running process's pid. */
  pid?: number;
  /** Restarts after crashes or hangs since the last start or restart that was asked for. */
  restarts: number;
  /** Epoch ms since when the service has been unavailable; undefined while running and before the first start. */
  downSince?: number;
  /** restart() is under way: the stop is the first half of it. */
  restarting: boolean;
}

export interface LifecycleDeps<H extends ServiceHandle, P> {
  clock: Clock;
  /** Read whenever needed, so a changed setting applies at the next decision. */
  settings(): LifecycleSettings;
  /**
   * Spawns the service and connects; resolves once it answered `initialize`. `signal` aborts when this start
   * is abandoned (stop, restart, start timeout): kill what was started so the promise settles soon. Reject
   * with a StartFailure whose `retry` is false when trying again cannot help.
   */
  launch(signal: AbortSignal): Promise<H>;
  /** One health ping; `signal` aborts when it timed out. */
  ping(handle: H, signal: AbortSignal): Promise<P>;
  /**
   * Runs after a process is connected and before anyone else gets it (e.g. to re-apply control state), so
   * nothing queued reaches the new process first. Bounded by the start timeout; a rejection is logged.
   */
  onReady?(handle: H, reason: StartReason): Promise<void>;
  log(level: LogLevel, message: string): void;
  onChange?(snapshot: LifecycleSnapshot): void;
  /** A process is up and ready (after onReady), with the reason it was started. */
  onStarted?(handle: H, reason: StartReason): void;
  /** Gave up: called once per time it gives up, with the same words as the detail. */
  onGaveUp?(detail: string): void;
  /** Spawn to ready; default START_TIMEOUT_MS. */
  startTimeoutMs?: number;
}

/** Spawn to the `initialize` answer (and the onReady hook); the service answers in well under a second. */
export const START_TIMEOUT_MS = 30_000;
export const BACKOFF_BASE_MS = 500;
export const MAX_BACKOFF_MS = 10_000;
/** How long a new process waits for the one a hang or an abandoned start left behind to be gone. */
const PREVIOUS_EXIT_WAIT_MS = 2000;
export const RESTART_HINT = 'Run "AIOS: Restart Python Service".';

/** The delay before restart number `n` (1-based) within the window: 500 ms, doubling, at most 10 s. */
export function backoffDelay(n: number): number {
  return Math.min(BACKOFF_BASE_MS * 2 ** Math.max(0, n - 1), MAX_BACKOFF_MS);
}

/** "it was ended by SIGKILL", "it exited with code 1". */
export function describeExitStatus(exit: ExitStatus): string {
  if (exit.error !== undefined) return `it could not be started (${exit.error})`;
  if (exit.reason !== undefined) return `it stopped itself: ${exit.reason}`;
  return exit.signal ? `it was ended by ${exit.signal}` : `it exited with code ${exit.code}`;
}

/** A start failed. `retry: false`: trying again cannot help (no interpreter found), so the lifecycle gives up at once. */
export class StartFailure extends Error {
  constructor(
    message: string,
    readonly retry = true,
  ) {
    super(message);
    this.name = 'StartFailure';
  }
}

export class ServiceUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ServiceUnavailableError';
  }
}

/** The attempt was abandoned by stop() or restart(); not a failure of the service. */
class Superseded extends Error {}

interface Attempt<H> {
  readonly id: number;
  readonly reason: StartReason;
  readonly abort: AbortController;
  /** Set by stop()/restart(): the attempt's outcome no longer matters. */
  superseded: boolean;
  handle?: H;
  exit?: ExitStatus;
  /** It was ended because it stopped answering health checks. */
  hung?: { timeoutMs: number };
  done: Promise<H>;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // rejected with nobody waiting is not an unhandled rejection
  return { promise, resolve, reject };
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const times = (n: number) => (n === 1 ? '1 time' : `${n} times`);
const TIMED_OUT = Symbol('timed out');

export class ServiceLifecycle<H extends ServiceHandle, P = unknown> {
  private _phase: LifecyclePhase = 'stopped';
  private detail = 'stopped';
  private downSince: number | undefined;
  private restarts = 0;
  private crashTimes: number[] = [];
  private nextId = 0;
  private everStarted = false;
  private disposed = false;
  /** The latest attempt (starting, running, or the one that ended last). */
  private attempt: Attempt<H> | undefined;
  /** The latest attempt that got a process, for describeExit(). */
  private lastProcess: Attempt<H> | undefined;
  private current: H | undefined;
  private backoffTimer: unknown;
  private backoffReason: StartReason | undefined;
  /** Callers waiting for a process; settled when one is running, or by stop() / giving up. */
  private waiters: Deferred<H> | undefined;
  private halting: Promise<void> | undefined;
  /** Set while restart() is under way; the reason its start will carry (fresh wins over a plain restart). */
  private restartReason: StartReason | undefined;
  private healthTimer: unknown;
  private healthInFlight: Promise<P | undefined> | undefined;

  constructor(private readonly deps: LifecycleDeps<H, P>) {}

  get phase(): LifecyclePhase {
    return this._phase;
  }

  get snapshot(): LifecycleSnapshot {
    return {
      phase: this._phase,
      detail: this.detail,
      ...(this._phase === 'running' && this.current?.pid !== undefined ? { pid: this.current.pid } : {}),
      restarts: this.restarts,
      ...(this.downSince !== undefined ? { downSince: this.downSince } : {}),
      restarting: this.restartReason !== undefined,
    };
  }

  /** The running process, or undefined. */
  get handle(): H | undefined {
    return this._phase === 'running' ? this.current : undefined;
  }

  /** Changes whenever a new process is started (lets callers tell a crash apart). */
  get generation(): number {
    return this.attempt?.id ?? 0;
  }

  /** Starts the service (or joins a start in progress); settles with this attempt's outcome. */
  start(): Promise<H> {
    if (this.disposed) return Promise.reject(new ServiceUnavailableError('AIOS is shutting down.'));
    switch (this._phase) {
      case 'running':
        return Promise.resolve(this.current!);
      case 'starting':
        return this.attempt!.done;
      case 'stopping':
        return this.halting!.then(() => this.start());
      case 'backingOff':
        // Asked for now: no reason to wait out the delay.
        this.clearBackoff();
        return this.begin(this.backoffReason ?? 'crash');
      case 'gaveUp':
        this.crashTimes = []; // an explicit start is a new chance, as a restart is
        this.restarts = 0;
        return this.begin('restart');
      case 'stopped':
        return this.begin(this.takeRestartReason() ?? (this.everStarted ? 'restart' : 'first'));
    }
  }

  /**
   * Ends the running process (or abandons a start or a backoff) and starts a new one, forgetting earlier
   * crashes. Callers waiting for the service keep waiting for the new process. `fresh` only changes the reason
   * the new process reports ('fresh'), for whoever keeps control state.
   */
  async restart(options: { fresh?: boolean } = {}): Promise<H> {
    if (this.disposed) throw new ServiceUnavailableError('AIOS is shutting down.');
    this.crashTimes = [];
    this.restarts = 0;
    this.restartReason = options.fresh || this.restartReason === 'fresh' ? 'fresh' : 'restart';
    await this.halt();
    // A concurrent restart or start got here first (and took the reason): join its process.
    if (this._phase === 'starting' || this._phase === 'running') return this.start();
    if (this.restartReason === undefined || this.disposed) throw new ServiceUnavailableError('The Python service was stopped.');
    return this.begin(this.takeRestartReason()!);
  }

  private takeRestartReason(): StartReason | undefined {
    const reason = this.restartReason;
    this.restartReason = undefined;
    return reason;
  }

  /** Ends the service; waiting callers fail. Settles when the process is gone. */
  stop(): Promise<void> {
    this.restartReason = undefined;
    this.rejectWaiters(new ServiceUnavailableError('The Python service was stopped.'));
    return this.halt();
  }

  /** stop(), and no start afterwards. */
  dispose(): Promise<void> {
    this.disposed = true;
    return this.stop();
  }

  /** The running process; during a start, a restart or its backoff, waits for it; otherwise rejects. */
  ready(): Promise<H> {
    const phase = this._phase;
    if (phase === 'running') return Promise.resolve(this.current!);
    if (phase === 'starting' || phase === 'backingOff' || (phase === 'stopping' && this.restartReason !== undefined)) {
      return (this.waiters ??= deferred<H>()).promise;
    }
    return Promise.reject(new ServiceUnavailableError(this.unavailableMessage()));
  }

  unavailableMessage(): string {
    if (this._phase === 'gaveUp') return `The Python service is not running: ${this.detail}. ${RESTART_HINT}`;
    return `The Python service is not running (${this.detail}). ${RESTART_HINT}`;
  }

  /** The health-check period may have changed: it applies at once. (Restart limits are read when needed.) */
  settingsChanged(): void {
    if (this.healthTimer !== undefined) this.startHealthChecks();
  }

  /**
   * Pings the running process (callers during a ping share it). No answer within healthTimeoutMs means it
   * hangs: it is ended and handled as a crash. Resolves with the answer, or undefined.
   */
  checkHealth(): Promise<P | undefined> {
    this.healthInFlight ??= this.ping().finally(() => {
      this.healthInFlight = undefined;
    });
    return this.healthInFlight;
  }

  /** How the last process ended ("it was ended by SIGKILL"); waits up to `waitMs` for its exit status. */
  async describeExit(waitMs = 1000): Promise<string> {
    const last = this.lastProcess;
    if (last?.handle && !last.exit && !last.hung) {
      let timer: unknown;
      await Promise.race([last.handle.exited, new Promise<void>((r) => (timer = this.deps.clock.setTimeout(r, waitMs)))]);
      this.deps.clock.clearTimeout(timer);
    }
    return this.lastExitDescription;
  }

  get lastExitDescription(): string {
    const last = this.lastProcess;
    if (last?.hung) return `it did not answer a health check within ${last.hung.timeoutMs} ms and was ended`;
    return last?.exit ? describeExitStatus(last.exit) : 'it stopped';
  }

  // ---- transitions --------------------------------------------------------------------------------------------

  private enter(phase: LifecyclePhase, detail: string): void {
    this._phase = phase;
    this.detail = detail;
    if (phase === 'running') this.downSince = undefined;
    else if (phase !== 'starting' && this.everStarted) this.downSince ??= this.deps.clock.epochMs();
    this.deps.onChange?.(this.snapshot);
  }

  private begin(reason: StartReason): Promise<H> {
    const previous = this.attempt;
    const attempt: Attempt<H> = { id: ++this.nextId, reason, abort: new AbortController(), superseded: false, done: undefined! };
    this.attempt = attempt;
    this.everStarted = true;
    this.current = undefined;
    this.enter('starting', 'starting');
    attempt.done = this.run(attempt, previous);
    attempt.done.catch(() => undefined); // start() callers may not wait
    return attempt.done;
  }

  private check(attempt: Attempt<H>): void {
    if (attempt.superseded) throw new Superseded();
  }

  private async run(attempt: Attempt<H>, previous: Attempt<H> | undefined): Promise<H> {
    const { clock } = this.deps;
    const limitMs = this.deps.startTimeoutMs ?? START_TIMEOUT_MS;
    let timer: unknown;
    let waitingFor = 'no answer to initialize';
    // A service that never answers `initialize` would otherwise hold every caller (and stop()) forever.
    const timedOut = new Promise<never>((_, reject) => {
      timer = clock.setTimeout(() => reject(new StartFailure(`${waitingFor} within ${limitMs / 1000} s`)), limitMs);
    });
    timedOut.catch(() => undefined);
    try {
      // What a hang or an abandoned start left behind is gone before the next process starts (a kill is quick;
      // taskkill on Windows takes a moment).
      if (previous?.handle && !previous.exit) await this.within(previous.handle.exited, PREVIOUS_EXIT_WAIT_MS);
      this.check(attempt);
      const launching = this.deps.launch(attempt.abort.signal);
      let handle: H;
      try {
        handle = await Promise.race([launching, timedOut]);
      } catch (err) {
        // Lost the race to the timeout or was abandoned: a process that still comes up is not kept.
        launching.then((late) => void late.stop(), () => undefined);
        throw err;
      }
      attempt.handle = handle;
      this.lastProcess = attempt;
      void handle.exited.then((exit) => this.onExit(attempt, exit));
      this.check(attempt);
      if (this.deps.onReady) {
        waitingFor = 'not ready (preparing the new process did not finish)';
        const hook = this.deps.onReady(handle, attempt.reason).catch((err: unknown) => this.deps.log('warn', `Preparing the new Python service failed: ${message(err)}`));
        // An exit meanwhile ends the wait (onExit, registered first, has recorded it).
        await Promise.race([hook, timedOut, handle.exited]);
        this.check(attempt);
      }
      if (attempt.exit) {
        const exit = attempt.exit;
        throw exit.reason !== undefined
          ? new StartFailure(`The Python service stopped itself during start-up: ${exit.reason}`, false)
          : new StartFailure(`${describeExitStatus(exit)} during start-up`);
      }
      clock.clearTimeout(timer);
      this.current = handle;
      this.enter('running', 'running');
      this.deps.log('info', `Python service running (pid ${handle.pid})${RUNNING_NOTE[attempt.reason]}`);
      this.startHealthChecks();
      void this.checkHealth();
      const waiting = this.waiters;
      this.waiters = undefined;
      waiting?.resolve(handle);
      this.deps.onStarted?.(handle, attempt.reason);
      return handle;
    } catch (err) {
      clock.clearTimeout(timer);
      if (attempt.superseded || err instanceof Superseded) throw new ServiceUnavailableError('The Python service was stopped while it was starting.');
      attempt.abort.abort(); // the launch kills what it started
      if (attempt.handle && !attempt.exit) attempt.handle.kill();
      if (err instanceof StartFailure && !err.retry) this.giveUp(message(err));
      else this.failed(attempt, 'startFailed', `The Python service failed to start: ${message(err)}`);
      throw new ServiceUnavailableError(message(err));
    }
  }

  private onExit(attempt: Attempt<H>, exit: ExitStatus): void {
    attempt.exit = exit;
    // Only the running process ending is a crash to count: a hang was counted when it was seen, a start that
    // fails is handled by run(), and a stop expects the exit.
    if (attempt !== this.attempt || this._phase !== 'running' || this.current !== attempt.handle) return;
    const pid = attempt.handle?.pid;
    const which = pid !== undefined ? ` (pid ${pid})` : '';
    // A restart would run into the same problem: down until the user restarts it (or fixes the file).
    if (exit.reason !== undefined) this.giveUp(`The Python service stopped itself${which}: ${exit.reason}`);
    else this.failed(attempt, 'crash', `The Python service stopped unexpectedly: ${describeExitStatus(exit)}${which}`);
  }

  /** A crash, a hang or a failed start: restart after a backoff, or give up after too many in the window. */
  private failed(attempt: Attempt<H>, kind: 'crash' | 'hang' | 'startFailed', what: string): void {
    this.current = undefined;
    this.stopHealthChecks();
    if (attempt.handle && !attempt.exit) attempt.handle.kill();
    const { maxRestarts, restartWindowMs } = this.deps.settings();
    const now = this.deps.clock.now();
    this.crashTimes = this.crashTimes.filter((t) => now - t < restartWindowMs);
    this.crashTimes.push(now);
    const n = this.crashTimes.length;
    if (n > maxRestarts) {
      this.giveUp(`${what}; it failed ${times(n)} within ${Math.round(restartWindowMs / 1000)} s, so it was not restarted again`);
      return;
    }
    const delay = backoffDelay(n);
    const reason: StartReason = kind === 'startFailed' ? attempt.reason : kind;
    this.restarts++;
    this.backoffReason = reason;
    // The one line a crash gets: what happened and what happens next.
    this.deps.log('warn', `${what}; restarting in ${delay} ms (restart ${n} of at most ${maxRestarts})`);
    this.enter('backingOff', `restarting: ${what.replace(/^The Python service /, '')}`);
    this.backoffTimer = this.deps.clock.setTimeout(() => {
      this.backoffTimer = undefined;
      this.begin(reason).catch(() => undefined);
    }, delay);
  }

  private giveUp(detail: string): void {
    this.current = undefined;
    this.stopHealthChecks();
    this.deps.log('error', detail);
    this.enter('gaveUp', detail);
    this.rejectWaiters(new ServiceUnavailableError(this.unavailableMessage()));
    this.deps.onGaveUp?.(detail);
  }

  /** Ends whatever runs or starts; shared by concurrent callers. */
  private halt(): Promise<void> {
    this.halting ??= this.doHalt().finally(() => {
      this.halting = undefined;
    });
    return this.halting;
  }

  private async doHalt(): Promise<void> {
    this.clearBackoff();
    this.stopHealthChecks();
    const attempt = this.attempt;
    const wasStarting = this._phase === 'starting';
    this.current = undefined;
    this.enter('stopping', this.restartReason !== undefined ? 'restarting' : 'stopping');
    if (attempt) {
      attempt.superseded = true;
      if (wasStarting) {
        attempt.abort.abort();
        await attempt.done.catch(() => undefined);
      }
      if (attempt.handle && !attempt.exit) await attempt.handle.stop();
    }
    this.enter('stopped', 'stopped');
  }

  private clearBackoff(): void {
    if (this.backoffTimer !== undefined) this.deps.clock.clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
  }

  private rejectWaiters(err: Error): void {
    const waiting = this.waiters;
    this.waiters = undefined;
    waiting?.reject(err);
  }

  private async within(promise: Promise<unknown>, ms: number): Promise<void> {
    let timer: unknown;
    await Promise.race([promise, new Promise<void>((r) => (timer = this.deps.clock.setTimeout(r, ms)))]);
    this.deps.clock.clearTimeout(timer);
  }

  // ---- health -------------------------------------------------------------------------------------------------

  private startHealthChecks(): void {
    this.stopHealthChecks();
    const schedule = () => {
      this.healthTimer = this.deps.clock.setTimeout(() => {
        schedule();
        void this.checkHealth();
      }, this.deps.settings().healthIntervalMs);
    };
    schedule();
  }

  private stopHealthChecks(): void {
    if (this.healthTimer !== undefined) this.deps.clock.clearTimeout(this.healthTimer);
    this.healthTimer = undefined;
  }

  private async ping(): Promise<P | undefined> {
    const attempt = this.attempt;
    const handle = this.current;
    if (this._phase !== 'running' || !attempt || !handle) return undefined;
    const { healthTimeoutMs } = this.deps.settings();
    const abort = new AbortController();
    let timer: unknown;
    const timeout = new Promise<typeof TIMED_OUT>((r) => (timer = this.deps.clock.setTimeout(() => r(TIMED_OUT), healthTimeoutMs)));
    try {
      const answer = await Promise.race([this.deps.ping(handle, abort.signal), timeout]);
      if (answer !== TIMED_OUT) return answer;
      abort.abort();
      if (this.current === handle && this._phase === 'running') {
        attempt.hung = { timeoutMs: healthTimeoutMs };
        this.failed(attempt, 'hang', `The Python service did not answer a health check within ${healthTimeoutMs} ms, so it was ended (pid ${handle.pid})`);
      }
      return undefined;
    } catch (err) {
      // An error answer is not a hang; a closed connection is followed by the exit, which is the crash.
      if (this.current === handle) this.deps.log('debug', `health check failed: ${message(err)}`);
      return undefined;
    } finally {
      this.deps.clock.clearTimeout(timer);
    }
  }
}

const RUNNING_NOTE: Record<StartReason, string> = {
  first: '',
  crash: ', restarted after a crash',
  hang: ', restarted after a hang',
  restart: '',
  fresh: ', started fresh',
};

// ---- what the language client says about the connection -------------------------------------------------------

/**
 * vscode-languageclient writes its own lines into the output channel it is given when the connection ends or
 * fails ("Connection to server got closed…", "Stopping server failed" with a stack trace, JSON-RPC codes). The
 * lifecycle already reports those events in one clear line each, so these are kept out of the log at the
 * levels users see. Matched only against what the client itself writes; the service's own records pass.
 */
const CLIENT_NOISE: readonly RegExp[] = [
  /^Connection to server got closed\./,
  /^Stopping server (failed|timed out)/,
  /^Server initialization failed\./,
  /^Client [^\n]*: connection to server is erroring\./,
  /^Sending (request|notification) failed\./,
  /^Sending (pending changes|progress)[^\n]* failed/,
  /Pending response rejected since connection got disposed/,
  /Connection is disposed\./,
  /Connection got disposed\./,
  /Client is not running/,
];

export function isLanguageClientNoise(text: string): boolean {
  return CLIENT_NOISE.some((re) => re.test(text));
}
