// The pipeline: validation → security → admission → START → executor → COMPLETE | ERROR | CANCEL.
// Invariant: every execute() call ends in exactly one of COMPLETE, ERROR (blocked and invalid included) or
// CANCEL, and resolves (never rejects) with a CommandResult saying which.
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { ABORTED, type Settled } from '../abort';
import { CallerSignals, Flight, FlightList, hasStarted, type CancelledBy, type InFlightCommand, type InFlightCount, type InFlightFilter } from './flight';
import { AdmissionController, type AdmissionState, type AdmitOptions, type ThrottleInfo } from '../admission';
import { describeLimitChange, type Admission, type LimitChange } from '../admission';
import { systemClock, type Clock } from '../clock';
import { validateConfig, type MiddlewareConfig } from '../config';
import { round3 } from '../numbers';
import { SystemSampler, type Sampler } from '../system';
import { SecurityPolicy, type SecurityDecision } from './security';
import { JsonlWriter, newSessionId, safeSessionId, StatsSnapshots } from '../telemetry';
import { constantMetadata, redactText, redactValue, Telemetry, WaitMetadata, type RealtimeState, type StorageReport, type TelemetryApi } from '../telemetry';
import { commandSource, MAX_SOURCE_LENGTH, type SourceKind, type SourceTag } from '../telemetry';
import { CONTROL_PREFIX } from '../types';
import type {
  CommandError,
  CommandResult,
  Disposable,
  ExecuteOptions,
  Executor,
  Priority,
  ProgressListener,
  ServiceContext,
  SystemContext,
  SystemSample,
  UserContext,
  ValidatedRequest,
} from '../types';
import { ReportSections } from './reportSections';
import { RequestError, validateRequest } from './validation';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface MiddlewareOptions {
  /** Settings (a PartialConfig); invalid fields fall back to defaults and are listed in configErrors. */
  config?: unknown;
  /** Put before setting names in configErrors and updateConfig's messages (the extension: 'aios.'). */
  settingPrefix?: string;
  /** Folder for telemetry files and the stats snapshot; omit to keep telemetry in memory only. */
  storageDir?: string;
  /** One per window (never two writers on one file); part of file names. Default: newSessionId(). */
  sessionId?: string;
  /** Default: a SystemSampler (systeminformation) owned and disposed by the middleware. */
  sampler?: Sampler;
  /** The default sampler's worker thread script (the extension's dist/chunks/systemWorker.js), see SystemSamplerOptions. */
  samplerWorkerScript?: string;
  user?: UserContext;
  /** Current service state for telemetry and REALTIME queries; return the same object until it changes. */
  service?: () => ServiceContext;
  clock?: Clock;
  log?: (level: LogLevel, message: string) => void;
}

export interface Middleware {
  readonly sessionId: string;
  readonly config: Readonly<MiddlewareConfig>;
  /** Problems found in options.config at creation. */
  readonly configErrors: readonly string[];
  execute(request: unknown, executor: Executor, options?: ExecuteOptions): Promise<CommandResult>;
  /** Merges `partial` into the current settings; applies at once; returns person-readable problems. */
  updateConfig(partial: unknown): string[];
  /**
   * Records an event of something that ran outside admission (a command typed in a terminal, a rule's action):
   * it reaches stats, the event files and every exporter like the pipeline's own. Same arguments as
   * Telemetry.emit; `timed` means the duration belongs in the latency figures.
   */
  record: Telemetry['emit'];
  /** A fresh command id, in this middleware's sequence (for events recorded with record()). */
  newCommandId(): string;
  /** Adds `name` to REALTIME reports, read at each query (e.g. the exporters' health); dispose to remove it. */
  addRealtimeSection(name: string, read: () => unknown): Disposable;
  /** Adds `name` to DETAILED reports and so to REALTIME ones (e.g. how the learning's predictions fared). */
  addDetailedSection(name: string, read: () => unknown): Disposable;
  /** What the security policy says of a command type (and its ExecuteOptions.policyName), without running anything. */
  checkPolicy(commandType: string, policyName?: string): SecurityDecision;
  /**
   * Commands waiting for a slot or running, oldest first. With `filter`, only those submitted at or before
   * `submittedBy` (epoch ms), and at most `max` of them (a view listing the long-lived ones makes no object
   * for the rest).
   */
  inFlight(filter?: InFlightFilter): InFlightCommand[];
  /** How many commands in flight were submitted at or before `submittedBy` (epoch ms), running and queued apart, without listing them. */
  countInFlight(submittedBy?: number): InFlightCount;
  /** Cancels a command in flight (queued, delayed or running): it ends in CANCEL. False when none has that id. */
  cancel(commandId: string, reason?: string): boolean;
  /** Admission pause: queued commands wait and nothing new starts; running commands go on. */
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  readonly admission: AdmissionState;
  /** Each change of the concurrency limit (adaptive moves, setting changes, mode switches), with its reason. */
  onLimitChange(listener: (change: LimitChange) => void): Disposable;
  readonly telemetry: TelemetryApi;
  readonly sampler: Sampler;
  /** Writes pending events and the stats snapshot now. */
  flush(): Promise<void>;
  /** Cancels queued commands, aborts running executors, flushes and stops every timer. */
  close(): Promise<void>;
}

export function createMiddleware(options: MiddlewareOptions = {}): Middleware {
  return new Pipeline(options);
}

const MAX_ERROR_MESSAGE = 1000;
const INVALID_TYPE = '(invalid)';
const EMPTY_SERVICE: ServiceContext = Object.freeze({});

/** What a thrown value says, redacted (it reaches disk, exporters and answers) and cut; never throws. */
function toCommandError(e: unknown): CommandError {
  try {
    if (typeof e === 'object' && e !== null) {
      const err = e as { name?: unknown; code?: unknown; message?: unknown };
      const message = redactText(typeof err.message === 'string' ? err.message : describeThrown(e)).slice(0, MAX_ERROR_MESSAGE);
      // Duck-typed so a CommandFailure from another bundle copy of this module is still recognised.
      if (err.name === 'CommandFailure' && typeof err.code === 'string') {
        const data = (e as { data?: unknown }).data;
        return data === undefined ? { code: err.code, message } : { code: err.code, message, data: redactValue(data) };
      }
      return { code: 'executor_error', message };
    }
    return { code: 'executor_error', message: redactText(describeThrown(e)).slice(0, MAX_ERROR_MESSAGE) };
  } catch {
    // A getter that throws (message, name, code): the value cannot be read, which is itself the error.
    return { code: 'executor_error', message: 'The executor failed with a value that could not be read' };
  }
}

/** A thrown value's message for a person, whatever was thrown (null, a string, an object); never throws. */
export function messageOf(e: unknown): string {
  try {
    if (e instanceof Error) return e.message;
    return describeThrown(e);
  } catch {
    return 'a value that could not be read';
  }
}

/** Words for a thrown value that is not an Error: its JSON where it has one, else its type. */
function describeThrown(e: unknown): string {
  if (typeof e !== 'object' || e === null) return String(e);
  try {
    return JSON.stringify(e) ?? Object.prototype.toString.call(e);
  } catch {
    return Object.prototype.toString.call(e);
  }
}

class Pipeline implements Middleware {
  readonly sessionId: string;
  readonly configErrors: readonly string[];
  readonly telemetry: Telemetry;
  readonly sampler: Sampler;
  private cfg: MiddlewareConfig;
  private readonly settingPrefix: string;
  private readonly clock: Clock;
  private readonly security: SecurityPolicy;
  private readonly admissionCtl: Admission;
  private readonly writer: JsonlWriter | undefined;
  private readonly ownsSampler: boolean;
  private readonly samplerSubscription: Disposable;
  private readonly flights = new FlightList();
  private readonly callerSignals = new CallerSignals();
  private readonly idPrefix = randomBytes(4).toString('hex');
  private idCounter = 0;
  private systemContext: SystemContext;
  private readonly staticSystem = { platform: process.platform, arch: process.arch, nodeVersion: process.version, cpuCount: cpus().length };
  private readonly service: () => ServiceContext;
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly storageDir: string | undefined;
  private readonly snapshots: StatsSnapshots | undefined;
  private readonly sections = new ReportSections();
  private closed = false;
  /** Admission is held while the telemetry writer is backlogged. */
  private writerHold = false;
  /** Admission is held for one turn of the event loop, for the writer (turnForWriter). */
  private writerTurn = false;

  constructor(options: MiddlewareOptions) {
    this.settingPrefix = options.settingPrefix ?? '';
    const { config, errors } = validateConfig(options.config, undefined, this.settingPrefix);
    this.cfg = config;
    this.configErrors = errors;
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? (() => undefined);
    this.sessionId = safeSessionId(options.sessionId ?? newSessionId());
    this.service = options.service ?? (() => EMPTY_SERVICE);
    this.storageDir = options.storageDir;
    this.security = new SecurityPolicy(config.security.denyPatterns, config.security.allowPatterns);
    this.admissionCtl = new AdmissionController(config, this.clock, { log: this.log });
    this.admissionCtl.onLimitChange((c) => this.log('debug', describeLimitChange(c)));

    this.ownsSampler = options.sampler === undefined;
    this.sampler =
      options.sampler ??
      new SystemSampler(config.sampler, {
        workerScript: options.samplerWorkerScript,
        ownPids: () => {
          const pid = this.service().pid;
          return typeof pid === 'number' ? [pid] : [];
        },
        onError: (e) => this.log('warn', e.message),
      });
    this.systemContext = this.toSystemContext(this.sampler.latest());
    this.applyLoad(this.sampler.latest());
    this.samplerSubscription = this.sampler.onSample((s) => {
      this.systemContext = this.toSystemContext(s);
      this.applyLoad(s);
    });

    if (this.storageDir) {
      this.writer = new JsonlWriter({
        dir: this.storageDir,
        sessionId: this.sessionId,
        maxFileBytes: config.telemetry.maxFileSizeMB * 1024 * 1024,
        maxTotalBytes: config.telemetry.maxTotalSizeMB * 1024 * 1024,
        flushIntervalMs: config.telemetry.flushIntervalMs,
        onError: (e) => this.log('warn', e.message),
      });
    }
    const writer = this.writer;
    this.telemetry = new Telemetry({
      clock: this.clock,
      maxRecentEvents: config.telemetry.maxRecentEvents,
      user: Object.freeze({ ...options.user, sessionId: this.sessionId }),
      system: () => this.systemContext,
      service: this.service,
      realtime: () => {
        const state: RealtimeState = { system: this.sampler.latest(), admission: this.admissionCtl.state(), service: this.service() };
        this.sections.readInto(state, 'REALTIME');
        return state;
      },
      detailed: () => {
        const sections: Record<string, unknown> = {};
        this.sections.readInto(sections, 'DETAILED');
        return sections;
      },
      storage: () => this.storageReport(),
      sink: writer,
    });
    if (this.storageDir) {
      this.snapshots = new StatsSnapshots(this.storageDir, this.sessionId, this.telemetry, this.clock, (m) => this.log('warn', m));
    }
  }

  get config(): Readonly<MiddlewareConfig> {
    return this.cfg;
  }

  get admission(): AdmissionState {
    return this.admissionCtl.state();
  }

  get paused(): boolean {
    return this.admissionCtl.paused;
  }

  onLimitChange(listener: (change: LimitChange) => void): Disposable {
    return this.admissionCtl.onLimitChange(listener);
  }

  pause(): void {
    this.admissionCtl.pause();
  }

  resume(): void {
    this.admissionCtl.resume();
  }

  updateConfig(partial: unknown): string[] {
    const previous = this.cfg;
    const { config, errors } = validateConfig(partial, previous, this.settingPrefix);
    this.cfg = config;
    this.admissionCtl.setLimits(config);
    this.applyLoad(this.sampler.latest());
    const sec = config.security;
    if (
      sec.denyPatterns.join('\n') !== previous.security.denyPatterns.join('\n') ||
      sec.allowPatterns.join('\n') !== previous.security.allowPatterns.join('\n')
    ) {
      this.security.update(sec.denyPatterns, sec.allowPatterns);
    }
    if (config.telemetry.maxRecentEvents !== previous.telemetry.maxRecentEvents) this.telemetry.setMaxRecentEvents(config.telemetry.maxRecentEvents);
    const t = config.telemetry;
    this.writer?.setLimits(t.maxFileSizeMB * 1024 * 1024, t.maxTotalSizeMB * 1024 * 1024, t.flushIntervalMs);
    this.sampler.configure?.(config.sampler);
    return errors;
  }

  execute(input: unknown, executor: Executor, options?: ExecuteOptions): Promise<CommandResult> {
    const t0 = this.clock.now();
    // Backpressure instead of lost events: while the disk is behind by megabytes, admission holds, so new
    // commands wait in its queue (one bound, maxQueueSize, on everything that waits; queue_full past it).
    const writer = this.writer;
    if (writer !== undefined) {
      if (writer.backlogged) this.holdForWriter();
      else if (writer.waitingForTurn) this.turnForWriter();
    }
    let opts: ExecuteOptions | undefined;
    try {
      opts = readOptions(options);
    } catch (e) {
      return Promise.resolve(
        this.fail(this.newCommandId(), INVALID_TYPE, 'NORMAL', t0, sourceOfInput(input), {
          code: 'invalid_request',
          message: `The execute options could not be read: ${redactText(messageOf(e)).slice(0, MAX_ERROR_MESSAGE)}`,
        }),
      );
    }
    try {
      const out = this.submit(input, executor, opts, t0);
      return out instanceof Promise ? out : Promise.resolve(out);
    } catch (e) {
      // Not reached by any known path: execute() must still never reject, and the command is accounted.
      return Promise.resolve(
        this.fail(this.newCommandId(), INVALID_TYPE, 'NORMAL', t0, sourceOfInput(input), {
          code: 'internal_error',
          message: `The AIOS middleware failed on this command: ${redactText(messageOf(e)).slice(0, MAX_ERROR_MESSAGE)}`,
        }),
      );
    }
  }

  /**
   * Holds admission for one turn of the event loop, so the writer hears its last write end and starts the
   * next while commands go on: without it, callers that only await promises never let the loop turn, the
   * writer waits until the backlog holds admission, and the disk and the commands take turns instead of
   * overlapping. Once per write at most (waitingForTurn is false again once the write's end is heard).
   */
  private turnForWriter(): void {
    if (this.writerTurn) return;
    this.writerTurn = true;
    this.admissionCtl.hold();
    setImmediate(() => {
      this.writerTurn = false;
      this.admissionCtl.unhold();
    });
  }

  /** Holds admission until the writer has caught up (one hold however many commands arrive meanwhile). */
  private holdForWriter(): void {
    if (this.writerHold || this.writer === undefined) return;
    this.writerHold = true;
    this.admissionCtl.hold();
    const writer = this.writer;
    const drained = (): void => {
      if (writer.backlogged && !this.closed) {
        void writer.flush().then(drained);
        return;
      }
      this.writerHold = false;
      this.admissionCtl.unhold();
    };
    void writer.flush().then(drained);
  }

  /**
   * From validation to the result. A command that is admitted at once and whose executor answers
   * synchronously (a function under run(fn)) is answered without a single await: each async step costs a
   * promise and a turn, a fifth of such a command's time.
   */
  private submit(input: unknown, executor: Executor, options: ExecuteOptions | undefined, t0: number): CommandResult | Promise<CommandResult> {
    const commandId = this.newCommandId();
    if (options?.onCommandId) {
      try {
        options.onCommandId(commandId);
      } catch {
        // A caller's listener must not break its command.
      }
    }
    if (this.closed) {
      return this.fail(commandId, INVALID_TYPE, 'NORMAL', t0, sourceOfInput(input), {
        code: 'closed',
        message: 'The AIOS middleware is shut down; the command was not run',
      });
    }
    let request: ValidatedRequest;
    try {
      request = validateRequest(input, this.cfg.maxParameterBytes);
    } catch (e) {
      const message = e instanceof RequestError ? e.message : `The request could not be read: ${redactText(messageOf(e)).slice(0, MAX_ERROR_MESSAGE)}`;
      return this.fail(commandId, INVALID_TYPE, 'NORMAL', t0, sourceOfInput(input), { code: 'invalid_request', message });
    }
    const { commandType, priority } = request;
    const source = sourceTag(commandType, request.source);
    const decision = this.security.check(commandType, options?.policyName);
    if (!decision.allowed) return this.fail(commandId, commandType, priority, t0, source, { code: 'blocked', message: decision.reason! });

    const signal = options?.signal;
    const onProgress = options?.onProgress;
    if (signal?.aborted) return this.ended(commandId, commandType, priority, source, t0, 0, 'submitted', 'caller');
    const flight = new Flight(commandId, commandType, priority, source, this.clock.epochMs(), onProgress);
    this.flights.add(flight);
    // The caller's signal cancels the flight; the flight is what admission and the executor watch.
    if (signal) this.callerSignals.watch(signal, flight);
    const bypass = options?.bypassAdmission === true;
    // No slot free: the queued path lands the flight itself (one async step fewer than wrapping it here).
    if (!bypass && !this.admissionCtl.tryAdmit()) return this.queue(flight, request, executor, t0, onProgress);
    let out: Promise<unknown> | Settled | undefined;
    try {
      // Without a slot when bypassing: release() must then never be called for this command.
      out = this.begin(flight, request, executor, t0, t0, onProgress);
      if (!(out instanceof Promise)) return this.end(flight, t0, t0, bypass, out, flight.aborted ? ABORTED : out);
    } finally {
      if (!(out instanceof Promise)) this.landed(flight);
    }
    return this.awaitRun(out, flight, t0, bypass);
  }

  /** The executor answered with a promise: waits for it (or a cancel), then ends the command and lands it. */
  private async awaitRun(out: Promise<unknown>, flight: Flight, t0: number, bypass: boolean): Promise<CommandResult> {
    try {
      return this.end(flight, t0, t0, bypass, out, await flight.race(out));
    } finally {
      this.landed(flight);
    }
  }

  private landed(flight: Flight): void {
    this.flights.remove(flight);
    this.callerSignals.unwatch(flight);
  }

  /** No slot was free: waits in admission's queue (backoff, priorities, cancel), then runs; lands the flight. */
  private async queue(
    flight: Flight,
    request: ValidatedRequest,
    executor: Executor,
    t0: number,
    onProgress: ProgressListener | undefined,
  ): Promise<CommandResult> {
    try {
      const { commandId, commandType, priority } = flight;
      const outcome = await this.admissionCtl.admit(priority, new QueuedAdmission(flight, onProgress, t0, this.telemetry));
      if (outcome === 'queue_full') {
        return this.fail(commandId, commandType, priority, t0, flight.origin, {
          code: 'queue_full',
          message: `The command queue is full (${this.cfg.maxQueueSize} waiting); try again when running commands finish, or raise aios.maxQueueSize`,
        });
      }
      if (outcome !== 'admitted') {
        const by: CancelledBy = outcome === 'closed' ? 'shutdown' : (flight.cancelledBy ?? 'caller');
        return this.ended(commandId, commandType, priority, flight.origin, t0, flight.delayMs, flight.delayMs > 0 ? 'delayed' : 'queued', by);
      }
      const startedAt = this.clock.now();
      const out = this.begin(flight, request, executor, t0, startedAt, onProgress);
      return this.end(flight, t0, startedAt, false, out, out instanceof Promise ? await flight.race(out) : flight.aborted ? ABORTED : out);
    } finally {
      this.landed(flight);
    }
  }

  /**
   * The command starts: START, then the executor is called, holding a slot (taken at `startedAt`) unless the
   * command bypasses admission. A promise when it answers asynchronously, else its outcome.
   */
  private begin(
    flight: Flight,
    request: ValidatedRequest,
    executor: Executor,
    t0: number,
    startedAt: number,
    onProgress: ProgressListener | undefined,
  ): Promise<unknown> | Settled {
    const waitMs = startedAt - t0;
    flight.stage = 'running';
    // The submission's epoch plus the monotonic wait: one clock read fewer, and never before submittedAt.
    flight.startedAt = waitMs > 0 ? flight.submittedAt + Math.round(waitMs) : flight.submittedAt;
    this.telemetry.emit('START', flight.commandId, flight.commandType, flight.priority, undefined, startMetadata(waitMs, flight.origin));
    onProgress?.({ stage: 'running', delayMs: flight.delayMs, remainingMs: 0, queuePosition: 0, reason: '' });
    // An executor that answers synchronously (a plain function under run(fn)) is settled at once: racing it
    // against a cancel would only cost a promise, a listener and two turns.
    return startExecutor(executor, request, flight);
  }

  /** How the executor ended (or ABORTED: the command was cancelled first): the slot goes back exactly once. */
  private end(
    flight: Flight,
    t0: number,
    startedAt: number,
    bypass: boolean,
    out: Promise<unknown> | Settled,
    settled: Settled | typeof ABORTED,
  ): CommandResult {
    const { commandId, commandType, priority, delayMs } = flight;
    if (settled === ABORTED) {
      // Answer the caller now; the slot stays taken until the executor (told through its context) stops.
      if (!bypass) {
        const release = (): void => this.admissionCtl.release();
        if (out instanceof Promise) out.then(release, release);
        else release();
      }
      return this.ended(commandId, commandType, priority, flight.origin, t0, delayMs, 'running', flight.cancelledBy ?? 'caller');
    }
    const endedAt = this.clock.now();
    if (!bypass) this.admissionCtl.release(endedAt - startedAt); // how long it held its slot: the adaptive limit's sample
    const durationMs = endedAt - t0;
    const waitMs = startedAt - t0;
    const source = flight.origin;
    if (settled.ok) {
      // A program's exit code (shell commands, `aios run`) is part of what happened: it goes with COMPLETE.
      const exitCode = exitCodeOf(settled.value);
      const metadata =
        exitCode !== undefined
          ? withSource({ ...(waitMs > 0 ? { waitMs: round3(waitMs) } : {}), exitCode }, source)
          : waitMs > 0
            ? new WaitMetadata(waitMs, source.kind, source.caller)
            : source.metadata;
      this.telemetry.emit('COMPLETE', commandId, commandType, priority, durationMs, metadata, true);
      return { commandId, commandType, success: true, result: settled.value, durationMs, throttled: delayMs > 0, delayMs };
    }
    // An executor that failed because it was told to stop ended in a cancel, not an error.
    if (flight.aborted) return this.ended(commandId, commandType, priority, source, t0, delayMs, 'running', flight.cancelledBy ?? 'caller');
    const error = toCommandError(settled.error);
    const exitCode = exitCodeOf(error.data);
    this.telemetry.emit(
      'ERROR',
      commandId,
      commandType,
      priority,
      durationMs,
      withSource({ code: error.code, message: error.message, ...(exitCode !== undefined ? { exitCode } : {}) }, source),
      true,
    );
    return { commandId, commandType, success: false, error, durationMs, throttled: delayMs > 0, delayMs };
  }

  readonly record: Telemetry['emit'] = (...args) => this.telemetry.emit(...args);

  newCommandId(): string {
    return `${this.idPrefix}-${(++this.idCounter).toString(36)}`;
  }

  addRealtimeSection(name: string, read: () => unknown): Disposable {
    return this.sections.add(name, read, 'REALTIME');
  }

  addDetailedSection(name: string, read: () => unknown): Disposable {
    return this.sections.add(name, read, 'DETAILED');
  }

  checkPolicy(commandType: string, policyName?: string): SecurityDecision {
    return this.security.check(commandType, policyName);
  }

  inFlight({ submittedBy = Infinity, max = Infinity }: InFlightFilter = {}): InFlightCommand[] {
    const out: InFlightCommand[] = [];
    for (const f of this.flights) {
      if (out.length >= max) break;
      if (f.submittedAt > submittedBy) continue; // not a break: a wall clock set back can put a newer one first
      out.push({
        commandId: f.commandId,
        commandType: f.commandType,
        priority: f.priority,
        stage: f.stage,
        submittedAt: f.submittedAt,
        source: f.source,
        sourceKind: f.origin.kind,
        ...(f.startedAt !== undefined ? { startedAt: f.startedAt } : {}),
      });
    }
    return out;
  }

  countInFlight(submittedBy = Infinity): InFlightCount {
    let running = 0;
    let queued = 0;
    for (const f of this.flights) {
      if (f.submittedAt > submittedBy) continue;
      if (hasStarted(f.stage)) running++;
      else queued++;
    }
    return { running, queued };
  }

  cancel(commandId: string, reason = 'cancelled by the user'): boolean {
    for (const f of this.flights) if (f.commandId === commandId) return f.cancel('user', new Error(reason));
    return false;
  }

  /** A command refused before it was accepted: its ERROR is counted always, and written unless the disk is far behind. */
  private fail(commandId: string, commandType: string, priority: Priority, t0: number, source: SourceTag, error: CommandError): CommandResult {
    const durationMs = this.clock.now() - t0;
    this.telemetry.emit('ERROR', commandId, commandType, priority, durationMs, withSource({ code: error.code, message: error.message }, source), false, true);
    return { commandId, commandType, success: false, error, durationMs, throttled: false, delayMs: 0 };
  }

  /** Records CANCEL and answers the caller; the message says when and by whom. */
  private ended(
    commandId: string,
    commandType: string,
    priority: Priority,
    source: SourceTag,
    t0: number,
    delayMs: number,
    stage: CancelStage,
    by: CancelledBy,
  ): CommandResult {
    const durationMs = this.clock.now() - t0;
    this.telemetry.emit('CANCEL', commandId, commandType, priority, durationMs, withSource({ code: 'cancelled', stage, by }, source));
    return {
      commandId,
      commandType,
      success: false,
      error: { code: 'cancelled', message: cancelMessage(stage, by) },
      durationMs,
      throttled: delayMs > 0,
      delayMs,
    };
  }

  private applyLoad(s: SystemSample): void {
    this.admissionCtl.setLoad(s.cpuPercent, this.cfg.countExternalPythonProcesses ? Math.max(0, s.pythonProcesses) : 0);
  }

  private toSystemContext(s: SystemSample): SystemContext {
    return Object.freeze({
      ...this.staticSystem,
      cpuPercent: s.cpuPercent,
      memoryPercent: s.memoryPercent,
      pythonProcesses: s.pythonProcesses,
    });
  }

  private storageReport(): StorageReport {
    const w = this.writer?.stats;
    return {
      enabled: this.writer !== undefined,
      directory: this.storageDir,
      writtenEvents: w?.writtenLines ?? 0,
      droppedEvents: w?.droppedLines ?? 0,
      restored: this.snapshots?.restored ?? false,
    };
  }

  async flush(): Promise<void> {
    await Promise.all([this.writer?.flush(), this.snapshots?.save()]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.admissionCtl.close();
    for (const f of this.flights) f.cancel('shutdown', new Error('the AIOS middleware shut down'));
    // Let the commands settled above record their CANCEL before the last write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.samplerSubscription.dispose();
    if (this.ownsSampler) this.sampler.dispose();
    this.telemetry.dispose();
    await this.snapshots?.close();
    await this.writer?.close();
  }
}

type CancelStage = 'submitted' | 'queued' | 'delayed' | 'running';

/** A queued command's admission options: one object per command, onThrottle a method rather than a closure. */
class QueuedAdmission implements AdmitOptions {
  constructor(
    readonly signal: Flight,
    readonly onProgress: ProgressListener | undefined,
    readonly arrivedAt: number,
    private readonly telemetry: Telemetry,
  ) {}

  onThrottle(info: ThrottleInfo): void {
    const flight = this.signal;
    flight.delayMs = info.delayMs;
    flight.stage = 'delayed';
    this.telemetry.emit(
      'THROTTLE',
      flight.commandId,
      flight.commandType,
      flight.priority,
      undefined,
      withSource(
        {
          delayMs: info.delayMs,
          reason: info.reason,
          queuePosition: info.queuePosition,
          active: info.active,
          limit: info.limit,
          cpuPercent: info.cpuPercent,
        },
        flight.origin,
      ),
    );
  }
}

/** `exitCode` of a program's result or failure data, when it has a whole number there. */
function exitCodeOf(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const code = (value as { exitCode?: unknown }).exitCode;
  return typeof code === 'number' && Number.isInteger(code) ? code : undefined;
}

/** The caller's options read once (a getter that throws is then one clear refusal, not a rejection). */
function readOptions(options: ExecuteOptions | undefined): ExecuteOptions | undefined {
  if (options === undefined || options === null) return undefined;
  const { signal, onProgress, bypassAdmission, onCommandId, policyName } = options;
  return { signal, onProgress, bypassAdmission, onCommandId, policyName: typeof policyName === 'string' ? policyName : undefined };
}

/** Calls the executor: a promise when it answers asynchronously, else its outcome at once. */
function startExecutor(executor: Executor, request: ValidatedRequest, ctx: Flight): Promise<unknown> | Settled {
  try {
    const out: unknown = executor(request, ctx);
    const thenable = (typeof out === 'object' || typeof out === 'function') && out !== null && typeof (out as { then?: unknown }).then === 'function';
    return thenable ? Promise.resolve(out) : { ok: true, value: out };
  } catch (error) {
    return { ok: false, error };
  }
}

function cancelMessage(stage: CancelStage, by: CancelledBy): string {
  if (by === 'shutdown')
    return stage === 'running' ? 'The AIOS middleware shut down while the command was running' : 'The AIOS middleware shut down before the command started';
  const who = by === 'user' ? ' from the list of running commands' : '';
  if (stage === 'submitted') return 'The command was cancelled before it was submitted';
  return stage === 'running' ? `The command was cancelled while running${who}` : `The command was cancelled before it started${who}`;
}

/** Source tags by command kind and request source: a few fixed names in practice; past this many, made anew each time. */
const tags = new Map<string, SourceTag>();
const MAX_TAGS = 256;

export function sourceTag(commandType: string, raw: string | undefined): SourceTag {
  const key = `${commandType.startsWith(CONTROL_PREFIX) ? 'c' : 'x'}${raw ?? ''}`;
  const known = tags.get(key);
  if (known !== undefined) return known;
  const { kind, caller } = commandSource(commandType, raw);
  const metadata: Record<string, string> = caller !== undefined ? { source: kind, caller } : { source: kind };
  const tag: SourceTag = { kind, ...(caller !== undefined ? { caller } : {}), metadata: constantMetadata(metadata) };
  if (tags.size < MAX_TAGS) tags.set(key, tag);
  return tag;
}

/** The source of a request that could not be validated, when it names one readably. */
function sourceOfInput(input: unknown): SourceTag {
  let raw: unknown;
  try {
    raw = typeof input === 'object' && input !== null ? (input as { source?: unknown }).source : undefined;
  } catch {
    raw = undefined; // a getter that throws: no source to tell
  }
  return sourceTag('', typeof raw === 'string' && raw.length <= MAX_SOURCE_LENGTH ? raw : undefined);
}

/** Adds the source's kind and caller to an event's own metadata. */
function withSource<T extends Record<string, unknown>>(metadata: T, source: SourceTag): T & { source: SourceKind; caller?: string } {
  const m = metadata as T & { source: SourceKind; caller?: string };
  m.source = source.kind;
  if (source.caller !== undefined) m.caller = source.caller;
  return m;
}

function startMetadata(waitMs: number, source: SourceTag): Readonly<Record<string, unknown>> {
  return waitMs > 0 ? new WaitMetadata(waitMs, source.kind, source.caller) : source.metadata;
}
