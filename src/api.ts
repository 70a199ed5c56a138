// The public API: what other extensions get from `vscode.extensions.getExtension('aios.aios-middleware')
// .activate()`. This file is the contract they compile against. It imports nothing, so the declaration file
// built from it (`npm run build:api` → dist/api.d.ts, shipped in the .vsix as dist/api.d.ts) stands alone;
// the extension's own objects are checked against these types where the API is built (src/publicApi.ts,
// without casts), so a change of shape breaks the build.
//
// Versioning: `apiVersion` follows semver. A new member is a minor change; a changed or removed member
// (or a changed meaning) is a major one. Check the major before using the API:
//   const api = await vscode.extensions.getExtension<AiosApi>('aios.aios-middleware')?.activate();
//   if (!api || !api.apiVersion.startsWith('1.')) { /* not a version this code knows */ }

/** The version of this contract. */
export type AiosApiVersion = '1.0.0';

export type AiosPriority = 'HIGH' | 'NORMAL' | 'LOW';
export type AiosEventType = 'START' | 'COMPLETE' | 'ERROR' | 'THROTTLE' | 'CANCEL';
export type AiosDetailLevel = 'SUMMARY' | 'DETAILED' | 'REALTIME';

/** Structurally a vscode.Disposable. */
export interface AiosDisposable {
  dispose(): unknown;
}

/** Structurally a vscode.Event: subscribe with a listener, dispose the result to stop. */
export type AiosEvent<T> = (listener: (e: T) => unknown, thisArgs?: unknown, disposables?: AiosDisposable[]) => AiosDisposable;

/** A command for the middleware. Its type names what runs it: a shell command type, or the Python service. */
export interface AiosCommandRequest {
  commandType: string;
  /** Default: the shell command type's own priority, else NORMAL. */
  priority?: AiosPriority;
  /** JSON data; a shell command type's `${name}` placeholders are filled from here. */
  parameters?: Record<string, unknown>;
}

/**
 * The error codes a result can carry (src/core/errors.ts is the vocabulary; a test holds this copy to it). More
 * may be added in a minor version: treat an unknown one as a failure.
 * - before the command runs: invalid_request, blocked (the security policy), queue_full, service_unhealthy
 *   (NORMAL and LOW while the service is unhealthy), cancelled, closed;
 * - from an executor: executor_error (it threw without a code), unknown_command_type, exit_code / exit_unknown /
 *   not_found / spawn_failed / timeout (shell programs and terminals), abandoned, service_unavailable,
 *   service_crashed (the Python service's process);
 * - from the Python service: its JSON-RPC errors by name (invalid_params, handler_failed, worker_crashed…).
 */
export type AiosKnownErrorCode =
  | 'invalid_request'
  | 'blocked'
  | 'queue_full'
  | 'cancelled'
  | 'closed'
  | 'executor_error'
  | 'unknown_command_type'
  | 'exit_code'
  | 'exit_unknown'
  | 'not_found'
  | 'spawn_failed'
  | 'timeout'
  | 'abandoned'
  | 'service_unavailable'
  | 'service_crashed'
  | 'parse_error'
  | 'method_not_found'
  | 'invalid_params'
  | 'internal_error'
  | 'server_not_initialized'
  | 'request_cancelled'
  | 'handler_failed'
  | 'config_invalid'
  | 'config_write_failed'
  | 'unknown_operation'
  | 'unknown_control_command'
  | 'message_too_large'
  | 'handlers_invalid'
  | 'worker_crashed'
  | 'service_unhealthy'
  | 'service_error';

export type AiosErrorCode = AiosKnownErrorCode | (string & {});

export interface AiosCommandError {
  code: AiosErrorCode;
  message: string;
}

/** Every call resolves (never rejects) with one of these. */
export interface AiosCommandResult<T = unknown> {
  commandId: string;
  commandType: string;
  success: boolean;
  /** The executor's answer when success: the service's result, a shell command's {exitCode, stdout, stderr, truncated?}, a function's return value. */
  result?: T;
  error?: AiosCommandError;
  /** Submit to settle, including any wait in the queue. */
  durationMs: number;
  /** True when admission delayed it (a THROTTLE event was recorded). */
  throttled: boolean;
  delayMs: number;
}

export interface AiosProgress {
  /** `waiting`: admitted, but waiting on something outside the middleware (the Python service starting). */
  stage: 'throttled' | 'queued' | 'running' | 'waiting';
  delayMs: number;
  remainingMs: number;
  /** 1-based place among waiting commands (0 once running). */
  queuePosition: number;
  reason: string;
}

export interface AiosExecuteOptions {
  /** Aborting it cancels the command wherever it is (queued, delayed, running): it ends in CANCEL. */
  signal?: AbortSignal;
  onProgress?: (progress: AiosProgress) => void;
}

export interface AiosBatchProgress {
  total: number;
  done: number;
  failed: number;
  cancelled: number;
  waiting: number;
}

export interface AiosBatchOptions {
  /** Aborting it cancels what has not finished. */
  signal?: AbortSignal;
  /** Called at most every 200 ms while commands finish, and at the end. */
  onProgress?: (progress: AiosBatchProgress) => void;
}

export interface AiosBatchItemResult {
  /** The request's index in the array given to executeBatch. */
  index: number;
  commandId?: string;
  commandType: string;
  success: boolean;
  durationMs: number;
  result?: unknown;
  error?: AiosCommandError;
  /** The request failed the request checks and was never submitted. */
  skipped?: boolean;
}

export interface AiosBatchResult {
  /** In the order of the requests given. */
  results: AiosBatchItemResult[];
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  skipped: number;
  durationMs: number;
}

/** What a function given to run() sees of its command. */
export interface AiosRunContext {
  readonly commandId: string;
  /** Aborted when the command is cancelled. Made on first read: prefer onCancel/cancelled where it is hot. */
  readonly signal: AbortSignal;
  readonly cancelled: boolean;
  /** Calls `listener` once when the command is cancelled (at once if it already is); returns a remover. */
  onCancel(listener: (reason: unknown) => void): () => void;
}

export interface AiosRunOptions {
  priority?: AiosPriority;
  signal?: AbortSignal;
  parameters?: Record<string, unknown>;
}

export type AiosControlOperation = 'UPDATE_LOG_LEVEL' | 'FLUSH_CACHE' | 'RELOAD_CONFIG' | 'HEALTH_OVERRIDE' | 'BCM_RESET' | 'CUSTOM_COMMAND';

/** The service's answer to a control operation: `state` is its health report. */
export interface AiosControlReply {
  ok: true;
  state: Record<string, unknown>;
  detail?: unknown;
}

export interface AiosTelemetryEvent {
  /** ISO 8601 UTC. */
  timestamp: string;
  eventType: AiosEventType;
  commandId: string;
  commandType: string;
  priority: AiosPriority;
  durationMs?: number;
  user: Readonly<Record<string, string | number | boolean>>;
  system: {
    platform: string;
    arch: string;
    nodeVersion: string;
    cpuCount: number;
    cpuPercent: number;
    memoryPercent: number;
    pythonProcesses: number;
  };
  service: Readonly<Record<string, string | number | boolean | null>>;
  metadata?: Readonly<Record<string, unknown>>;
}

/**
 * Where a command came from, on each of its events (`metadata.source`, with `metadata.caller` for who within
 * it): palette (the Command Palette, the tree), api (extensions), task, batch, cli (`aios` in a terminal),
 * endpoint (the HTTP control endpoint), terminal (typed in a terminal, recorded only), other, control (control
 * operations), rule (rules' records).
 */
export type AiosSourceKind = 'palette' | 'api' | 'task' | 'batch' | 'cli' | 'endpoint' | 'terminal' | 'other' | 'control' | 'rule';

/** The headline: commands of every source but `terminal` (only observed), never control operations. */
export interface AiosOverallMetrics {
  totalCommands: number;
  successfulCommands: number;
  failedCommands: number;
  cancelledCommands: number;
  blockedCommands: number;
  /** Never ran (invalid, blocked, queue full, unknown type): part of failedCommands. */
  refusedCommands: number;
  throttledCommands: number;
  successRate: number;
  averageDurationMs: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface AiosOutcomeStats {
  count: number;
  successCount: number;
  errorCount: number;
  cancelledCount: number;
  blockedCount: number;
  /** Never ran (invalid, blocked, queue full, unknown type): part of errorCount. */
  refusedCount: number;
  throttledCount: number;
  totalDurationMs: number;
  averageDurationMs: number;
  lastExecuted: string | null;
  p50: number;
  p95: number;
  p99: number;
}

export interface AiosTypeStats extends AiosOutcomeStats {
  /** The sources it was submitted from. */
  sources: AiosSourceKind[];
}

export interface AiosSourceStats extends AiosOutcomeStats {
  /** successCount / (successCount + errorCount), 0..1. */
  successRate: number;
}

export interface AiosSummaryReport {
  level: AiosDetailLevel;
  generatedAt: string;
  overall: AiosOverallMetrics;
  /** The same figures for each source seen, terminal commands and control operations included. */
  bySource: Partial<Record<AiosSourceKind, AiosSourceStats>>;
  storage: { enabled: boolean; directory?: string; writtenEvents: number; droppedEvents: number; restored: boolean };
}

export interface AiosDetailedReport extends AiosSummaryReport {
  byType: Record<string, AiosTypeStats>;
  recentEvents: AiosTelemetryEvent[];
}

export interface AiosRealtimeReport extends AiosDetailedReport {
  system: { cpuPercent: number; memoryPercent: number; pythonProcesses: number; sampledAt: number };
  admission: AiosAdmissionState;
  service: Readonly<Record<string, string | number | boolean | null>>;
}

export interface AiosAdmissionState {
  active: number;
  queued: Record<AiosPriority, number>;
  delayed: number;
  limit: number;
  paused: boolean;
}

export interface AiosHealth {
  status: 'starting' | 'healthy' | 'unhealthy' | 'stopped' | 'crashed';
  pid?: number;
  /** Why it is in this state, in words. */
  detail?: string;
}

export interface AiosLoad extends AiosAdmissionState {
  cpuPercent: number;
  memoryPercent: number;
}

export interface AiosApi {
  /** The version of this contract (semver); see the top of this file. */
  readonly apiVersion: AiosApiVersion;
  /** The extension's version (package.json). */
  readonly version: string;

  /** Runs a command through the middleware (policy, admission, telemetry) to what its type names. */
  execute(request: AiosCommandRequest, options?: AiosExecuteOptions): Promise<AiosCommandResult>;
  /** Runs many commands through the middleware with their priorities, a bounded number at a time. */
  executeBatch(requests: readonly AiosCommandRequest[], options?: AiosBatchOptions): Promise<AiosBatchResult>;
  /**
   * Runs your own function under the middleware: the policy applies to `commandType`, it waits for an
   * admission slot, and it is recorded (START, then COMPLETE, ERROR or CANCEL). A throw becomes an
   * `executor_error` result with its message.
   */
  run<T>(commandType: string, fn: (ctx: AiosRunContext) => T | PromiseLike<T>, options?: AiosRunOptions): Promise<AiosCommandResult<Awaited<T>>>;
  /**
   * A control-plane operation on the Python service, through the same pipeline at HIGH priority. The user can
   * switch these off for every extension (aios.api.allowControl): the result is then a `blocked` failure.
   */
  control(operation: AiosControlOperation, value?: string, parameters?: Record<string, unknown>): Promise<AiosCommandResult<AiosControlReply>>;

  /** The telemetry report at a detail level. */
  telemetry(level: 'SUMMARY'): AiosSummaryReport;
  telemetry(level: 'DETAILED'): AiosDetailedReport;
  telemetry(level: 'REALTIME'): AiosRealtimeReport;
  telemetry(level: AiosDetailLevel): AiosSummaryReport | AiosDetailedReport | AiosRealtimeReport;

  /**
   * The same API for a named caller (your extension's id, `publisher.name`): every command and control
   * operation it makes is recorded with caller `<callerId>` (source `api`; a control operation's source is
   * `control`, its caller `api:<callerId>`): the tree and telemetry show it. Throws a TypeError for an id
   * that is not one.
   */
  withCaller(callerId: string): AiosApi;

  /** Settles once the Python service has started (healthy) or has given up starting (health() says why). Never rejects. */
  readonly ready: Promise<void>;
  /** The Python service's health now (onDidChangeHealth tells when it changes). */
  health(): AiosHealth;
  /** Admission and the machine now (onDidChangeLoad tells when they change). */
  load(): AiosLoad;

  /** Recorded events, delivered asynchronously in batches (in order), never on the command's path; frozen copies. */
  readonly onDidRecordEvent: AiosEvent<readonly AiosTelemetryEvent[]>;
  /** The Python service's health changed. */
  readonly onDidChangeHealth: AiosEvent<AiosHealth>;
  /** Load changed: admission (running, queued, limit, paused) and the machine (CPU, memory), a few times a second at most. */
  readonly onDidChangeLoad: AiosEvent<AiosLoad>;
}
