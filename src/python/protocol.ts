// The typed protocol between the extension and the Python service (python/aios_service): JSON-RPC 2.0 with
// LSP framing over stdio. Names and shapes here mirror the Python code one to one; python/README.md is the
// prose version. No `vscode` import: the unit tests drive the real service with plain vscode-jsonrpc, and
// vscode-languageclient re-exports these same vscode-jsonrpc types, so the constants work with its client.
import { NotificationType, RequestType } from 'vscode-jsonrpc';
import type { Priority, SERVICE_ERROR_CODES } from '../core';

type ServiceErrorCode = (typeof SERVICE_ERROR_CODES)[number];

// ---- shared vocabulary ---------------------------------------------------------------------------------------

export const CONTROL_OPERATIONS = [
  'UPDATE_LOG_LEVEL',
  'FLUSH_CACHE',
  'RELOAD_CONFIG',
  'HEALTH_OVERRIDE',
  'BCM_RESET',
  'CUSTOM_COMMAND',
] as const;
export type ControlOperation = (typeof CONTROL_OPERATIONS)[number];

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const CACHE_TYPES = ['model_cache', 'result_cache', 'all'] as const;
export type CacheType = (typeof CACHE_TYPES)[number];

/**
 * JSON-RPC error codes the service answers with. Stable: never renumbered (python/aios_service/errors.py).
 * Server codes are -32010..-32019; the rest are JSON-RPC's and LSP's own.
 */
export const ErrorCodes = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  ServerNotInitialized: -32002,
  RequestCancelled: -32800,
  UnknownCommandType: -32010,
  HandlerFailed: -32011,
  ConfigInvalid: -32012,
  ConfigWriteFailed: -32013,
  UnknownOperation: -32014,
  UnknownControlCommand: -32015,
  MessageTooLarge: -32016,
  QueueFull: -32017,
  HandlersInvalid: -32018,
  WorkerCrashed: -32019,
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * The service's exit code when its workspace handlers module did not finish importing within
 * `limits.importTimeoutMs` (python/aios_service/service.py EXIT_HANDLERS_IMPORT_TIMEOUT): it ended itself, and a
 * restart would import the same file again.
 */
export const EXIT_HANDLERS_IMPORT_TIMEOUT = 78;

/** What a person reads when the service ended itself with EXIT_HANDLERS_IMPORT_TIMEOUT. */
export function handlersImportTimeoutReason(handlersModule: string | null | undefined): string {
  return (
    `importing the workspace handlers module ${handlersModule ?? '(none)'} did not finish within limits.importTimeoutMs ` +
    '(an endless loop, or a call that waits, at import time?). Fix the file and save it to start the service again, or run "AIOS: Restart Python Service".'
  );
}

/** The service's error numbers by name: names from the core's vocabulary (errors.ts), numbers from errors.py. */
const errorNames: ReadonlyMap<number, ServiceErrorCode> = new Map<number, ServiceErrorCode>([
  [ErrorCodes.ParseError, 'parse_error'],
  [ErrorCodes.InvalidRequest, 'invalid_request'],
  [ErrorCodes.MethodNotFound, 'method_not_found'],
  [ErrorCodes.InvalidParams, 'invalid_params'],
  [ErrorCodes.InternalError, 'internal_error'],
  [ErrorCodes.ServerNotInitialized, 'server_not_initialized'],
  [ErrorCodes.RequestCancelled, 'request_cancelled'],
  [ErrorCodes.UnknownCommandType, 'unknown_command_type'],
  [ErrorCodes.HandlerFailed, 'handler_failed'],
  [ErrorCodes.ConfigInvalid, 'config_invalid'],
  [ErrorCodes.ConfigWriteFailed, 'config_write_failed'],
  [ErrorCodes.UnknownOperation, 'unknown_operation'],
  [ErrorCodes.UnknownControlCommand, 'unknown_control_command'],
  [ErrorCodes.MessageTooLarge, 'message_too_large'],
  [ErrorCodes.QueueFull, 'queue_full'],
  [ErrorCodes.HandlersInvalid, 'handlers_invalid'],
  [ErrorCodes.WorkerCrashed, 'worker_crashed'],
]);

/** A short snake_case name for an error code (for telemetry reasons and logs); 'service_error' if unknown. */
export function serviceErrorName(code: number): ServiceErrorCode {
  return errorNames.get(code) ?? 'service_error';
}

/** `error.data` on execute errors (and most others where a command is involved); the members of
 *  ConfigInvalidData and HandlersInvalidData on those two errors. */
export interface ServiceErrorData extends Partial<ConfigInvalidData>, Partial<Omit<HandlersInvalidData, 'exception' | 'line' | 'column'>> {
  commandId?: string;
  commandType?: string;
  /** The Python exception class when a handler raised (or, on HandlersInvalid, when the module did). */
  exception?: string;
  command?: string;
}

/** A place in a file: 1-based line; 1-based column, or null when only the line is known. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number | null;
}

/** `error.data` of ConfigInvalid (RELOAD_CONFIG): where the config file is wrong. line/column are 1-based; both
 *  are null only when there is no file to point into (a `config_file` that does not exist). A syntax error gives
 *  the exact position; a bad value the line of its member (line 1 when it cannot be found). */
export interface ConfigInvalidData {
  configFile: string | null;
  line: number | null;
  column: number | null;
}

/** `error.data` of HandlersInvalid (RELOAD_CONFIG): the workspace handlers module did not import. */
export interface HandlersInvalidData {
  handlersModule: string;
  /** The file `line` is in: the module itself, or a sibling module it imports that failed. */
  file: string;
  line: number;
  /** Syntax errors only; otherwise null. */
  column: number | null;
  /** The Python exception class (SyntaxError, ImportError, ValueError for a bad registration, ...). */
  exception: string;
  /** Always true: the registrations from before the reload stay in force. */
  previousHandlersKept: true;
  /** Whether the config part of the reload took effect. The config is read first and a bad one fails the reload
   *  with ConfigInvalid before the module is imported, so on HandlersInvalid this is true. */
  configApplied: boolean;
}

// ---- initialize ----------------------------------------------------------------------------------------------

/** `initialize` params.initializationOptions. Relative paths resolve against `workspaceFolder`. */
export interface InitializationOptions {
  /** The service config file (JSON, schema in python/README.md); a missing file means defaults. */
  configFile?: string | null;
  /** Absolute path of the workspace's `.aios/handlers.py`: pass it only in a trusted workspace. */
  handlersModule?: string | null;
  /** Start-up log level; wins over the config file's `logLevel`. */
  logLevel?: string | null;
  workspaceFolder?: string | null;
  /** The extension's `aios.maxConcurrency` (1..256): the pool runs max(config `workers`, this) executes at once. */
  maxConcurrency?: number | null;
  /** Where handlers run: 'off' (threads), 'opt-in' (those marked process=True), 'all'; null: the config file's mode. */
  processWorkers?: 'off' | 'opt-in' | 'all' | null;
}

export interface InitializeResult {
  capabilities: Record<string, never>;
  serverInfo: { name: 'aios-service'; version: string };
}

// ---- aios/execute --------------------------------------------------------------------------------------------

export interface ExecuteParams {
  commandId: string;
  commandType: string;
  priority: Priority;
  parameters: Record<string, unknown>;
}

/** Failures are JSON-RPC errors (HandlerFailed, UnknownCommandType, InvalidParams, RequestCancelled…), so a
 *  result always has success: true. */
export interface ExecuteResult<R = unknown> {
  success: true;
  result: R;
  durationMs: number;
}

export interface SleepParameters {
  seconds: number;
}
export interface SleepResult {
  sleptS: number;
}
export interface InferenceParameters {
  prompt?: string;
  /** Before the complexity factor; at most the config's inference.maxTokensLimit. */
  maxTokens?: number;
  /** Generation is deterministic per seed (default 0), which is what makes results cacheable. */
  seed?: number;
}
export interface InferenceResult {
  text: string;
  tokens: number;
  /** After reduce_complexity's factor. */
  maxTokens: number;
  requestedMaxTokens: number;
  complexityFactor: number;
  seed: number;
  model: { name: 'word-ngram'; order: number; vocabularySize: number; trainingTokens: number; corpus: string };
  /** True when served from result_cache. */
  cached: boolean;
}

// ---- aios/control --------------------------------------------------------------------------------------------

/** Per-operation `value` and `parameters` (snake_case keys, as the control plane has always named them). */
export interface ControlParametersByOperation {
  UPDATE_LOG_LEVEL: { target_module?: string; persistent?: boolean };
  FLUSH_CACHE: { cache_type?: CacheType; force?: boolean };
  RELOAD_CONFIG: { config_file?: string; reload_handlers?: boolean };
  HEALTH_OVERRIDE: { duration?: number };
  BCM_RESET: { command_type?: string };
  CUSTOM_COMMAND: { command: string; arguments?: Record<string, unknown> };
}

export interface ControlParams<Op extends ControlOperation = ControlOperation> {
  operation: Op;
  /** UPDATE_LOG_LEVEL: a LogLevel; HEALTH_OVERRIDE: one of HEALTH_OVERRIDE_VALUES. */
  value?: string | null;
  parameters?: ControlParametersByOperation[Op];
  /** ISO 8601 UTC. */
  timestamp: string;
  /** Who asked (e.g. 'command-palette', 'api'). */
  source: string;
  commandId: string;
}

export interface ReduceComplexityArguments {
  /** 0 < factor <= 1; 1 restores full size. */
  factor: number;
}
export interface AdjustThrottlingArguments {
  new_max_concurrency?: number;
  /** Milliseconds. */
  new_base_delay?: number;
  /** Milliseconds. */
  new_max_delay?: number;
  reason?: string;
}

/** What each operation reports besides the new state. */
export interface ControlDetailByOperation {
  UPDATE_LOG_LEVEL: { logLevel: LogLevel; target: string | null; persisted: boolean };
  /** `flushed.model_cache` counts the built-in model cache's entries and every `ctx.models` model dropped; `models`
   *  (when model_cache was flushed) says where those were. */
  FLUSH_CACHE: { flushed: Partial<Record<'model_cache' | 'result_cache', number>>; models?: ModelsFlushed; force: boolean };
  RELOAD_CONFIG: { configFile: string | null; handlersError: string | null };
  HEALTH_OVERRIDE: { status: 'healthy' | 'unhealthy' | null; expiresAt: string | null };
  /** The counters as they were just before the reset. */
  BCM_RESET: { previous: Record<string, BcmCounters> };
  CUSTOM_COMMAND: { command: string; result: unknown };
}

export interface ControlResult<Op extends ControlOperation = ControlOperation> {
  ok: true;
  state: HealthResult;
  detail?: ControlDetailByOperation[Op];
}

// ---- aios/health ---------------------------------------------------------------------------------------------

export interface CacheStats {
  entries: number;
  hits: number;
  misses: number;
  maxEntries: number;
}

/** The handlers' named models (`ctx.models` in Python) in the service process. */
export interface ModelsStats {
  entries: number;
  /** Calls that found their model. */
  hits: number;
  /** Times a loader ran (a first call, a changed loader, or a call after a flush). */
  loads: number;
}

/** What FLUSH_CACHE dropped of `ctx.models`: in the service, and in the worker processes (each has its own). */
export interface ModelsFlushed {
  service: number;
  workers: number;
  /** Worker processes that answered the flush. */
  workerProcesses: number;
  /** Worker processes that did not answer in time (busy in native code): they flush when they can, uncounted. */
  unanswered: number;
}

export interface BcmCounters {
  calls: number;
  errors: number;
  /** Thread CPU time spent in the handler. */
  cpuSeconds: number;
  wallSeconds: number;
  /** Bytes of serialised parameters + result. */
  bytes: number;
}

/** The service config file, with defaults filled in. */
export interface ServiceConfig {
  logLevel: LogLevel;
  loggers: Record<string, LogLevel>;
  workers: number;
  cache: { maxEntries: number; modelMaxEntries: number };
  inference: { maxTokens: number; maxTokensLimit: number; order: number; corpus: string | null };
  limits: { maxMessageBytes: number; maxQueued: number; importTimeoutMs: number };
  /** 0: the service never polls the pipe before blocking (see python/aios_service/pipe.py). */
  transport: { pollMicroseconds: number };
}

export type HealthParams = Record<string, never>;

export interface HealthResult {
  status: 'healthy' | 'unhealthy';
  /** True while a HEALTH_OVERRIDE is in force. */
  overridden: boolean;
  /** ISO 8601 UTC, or null when the override is permanent or absent. */
  overrideExpiresAt: string | null;
  timestamp: string;
  pid: number;
  version: string;
  python: string;
  uptimeS: number;
  logLevel: LogLevel;
  /** Levels set per logger (UPDATE_LOG_LEVEL with target_module, or the config's `loggers`). */
  loggers: Record<string, LogLevel>;
  cache: { model_cache: CacheStats; result_cache: CacheStats; models: ModelsStats };
  bcm: Record<string, BcmCounters>;
  config: ServiceConfig;
  configFile: string | null;
  /** Why the config file's last load failed (at start-up: the defaults are in use; on RELOAD_CONFIG: the previous
   *  config stays), or null. Cleared by a load that succeeds. */
  configError: (ConfigInvalidData & { message: string }) | null;
  /** Command types it can run. */
  commands: string[];
  /** Custom control commands it can run. */
  controlCommands: string[];
  /** Handlers in worker processes: the mode, how workers start, and their counts. */
  processWorkers?: {
    mode: 'off' | 'opt-in' | 'all';
    startMethod: 'spawn' | 'forkserver' | 'fork';
    max: number;
    alive: number;
    busy: number;
    started: number;
    crashed: number;
    terminated: number;
    /** `ctx.models` entries the worker processes hold, as each said at the end of its last call. */
    models: number;
  };
  handlers: {
    module: string | null;
    loaded: boolean;
    /** Why the workspace module failed to import (the service keeps running), e.g.
     *  "SyntaxError: invalid syntax (handlers.py, line 3, column 12)". */
    error: string | null;
    /** Where that error is, for a diagnostic; null when the module is fine. Cleared by a reload that succeeds. */
    errorLocation: SourceLocation | null;
    commandTypes: string[];
    controlCommands: string[];
  };
  inference: {
    complexityFactor: number;
    maxTokens: number;
    effectiveMaxTokens: number;
    order: number;
    modelLoaded: boolean;
  };
  /** Execute threads: `max` is the effective pool size, max(config.workers, maxConcurrency). */
  workers: WorkerStats;
  /** The last aios/adjustThrottling the service sent, or null. */
  throttling: (AdjustThrottlingParams & { requestedAt: string }) | null;
}

// ---- aios/commands -------------------------------------------------------------------------------------------

export interface CommandInfo {
  name: string;
  /** One line. */
  description: string;
  source: 'builtin' | 'workspace';
  /** Parameter name -> a one-line hint, type first (e.g. "string: the text to count"); {} when the handler gave none. */
  parameters: Record<string, string>;
  /** Sample parameters that fit the command (the `arguments` of a control command); {} when none was given. */
  example: Record<string, unknown>;
}

export interface ControlCommandInfo extends CommandInfo {
  /** True: it sets service state a restarted service should get again, so the extension re-sends it with its last
   *  arguments after a crash. */
  replay: boolean;
}

export type CommandsParams = Record<string, never>;

export interface CommandsResult {
  commandTypes: CommandInfo[];
  controlCommands: ControlCommandInfo[];
  controlOperations: ControlOperation[];
}

// ---- aios/setConcurrency -------------------------------------------------------------------------------------

export interface WorkerStats {
  max: number;
  busy: number;
  queued: number;
}

/** Follows `aios.maxConcurrency`: the pool becomes max(config.workers, maxConcurrency) threads at once (growing
 *  starts queued work now; shrinking lets running work finish). */
export interface SetConcurrencyParams {
  /** 1..256 */
  maxConcurrency: number;
}

export interface SetConcurrencyResult {
  workers: WorkerStats;
}

// ---- window/logMessage ---------------------------------------------------------------------------------------

/** The window/logMessage `type` the service sends per Python level (LSP 3.18 MessageType). vscode-languageclient 11
 *  logs 1/2/3/5 at error/warn/info/debug on its LogOutputChannel; 4 (Log) would go through appendLine, i.e. info. */
export const LOG_MESSAGE_TYPES: Readonly<Record<LogLevel, 1 | 2 | 3 | 5>> = { CRITICAL: 1, ERROR: 1, WARNING: 2, INFO: 3, DEBUG: 5 };

// ---- server → client notifications ---------------------------------------------------------------------------

/** Changes nobody asked for: a control operation's reply already carries the state it produced. */
export type StateChangeReason = 'HEALTH_OVERRIDE_EXPIRED';

export interface StateChangedParams {
  reason: StateChangeReason;
  state: HealthResult;
}

/** Sent by the adjust_throttling control command; names match the extension's settings. */
export interface AdjustThrottlingParams {
  maxConcurrency?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  reason: string;
  commandId?: string;
}

// ---- method constants ----------------------------------------------------------------------------------------

export const ExecuteRequest = new RequestType<ExecuteParams, ExecuteResult, ServiceErrorData>('aios/execute');
export const ControlRequest = new RequestType<ControlParams, ControlResult, ServiceErrorData>('aios/control');
/** Params may be omitted: `sendRequest(HealthRequest, undefined)` is answered too. */
export const HealthRequest = new RequestType<HealthParams | undefined, HealthResult, void>('aios/health');
export const CommandsRequest = new RequestType<CommandsParams | undefined, CommandsResult, void>('aios/commands');
export const SetConcurrencyRequest = new RequestType<SetConcurrencyParams, SetConcurrencyResult, void>('aios/setConcurrency');
export const StateChangedNotification = new NotificationType<StateChangedParams>('aios/stateChanged');
export const AdjustThrottlingNotification = new NotificationType<AdjustThrottlingParams>('aios/adjustThrottling');
