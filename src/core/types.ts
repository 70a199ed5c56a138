// Shared vocabulary of the middleware core: one name for one thing across
// TypeScript, Python, settings and docs.
import type { KnownErrorCode } from './errors';

export type Priority = 'HIGH' | 'NORMAL' | 'LOW';
export type EventType = 'START' | 'COMPLETE' | 'ERROR' | 'THROTTLE' | 'CANCEL';
export type DetailLevel = 'SUMMARY' | 'DETAILED' | 'REALTIME';

export const PRIORITIES: readonly Priority[] = ['HIGH', 'NORMAL', 'LOW'];

/** HEALTH_OVERRIDE's values (the Python service checks the same three: a unit test holds them together). */
export const HEALTH_OVERRIDE_VALUES = ['healthy', 'unhealthy', 'clear'] as const;
export type HealthOverrideValue = (typeof HEALTH_OVERRIDE_VALUES)[number];
export const DETAIL_LEVELS: readonly DetailLevel[] = ['SUMMARY', 'DETAILED', 'REALTIME'];

/** Command types of control-plane operations (`CONTROL:RELOAD_CONFIG`…): counted apart from commands. */
export const CONTROL_PREFIX = 'CONTROL:';

/**
 * The name the security policy also checks for a custom control command (`CUSTOM_COMMAND:drop_caches`), besides
 * its command type `CONTROL:CUSTOM_COMMAND`: so `aios.security.denyPatterns` can block one control command by name.
 */
export const CUSTOM_COMMAND_PREFIX = 'CUSTOM_COMMAND:';

/** `CUSTOM_COMMAND:<name>` for a custom control command's name; undefined when it has none (the service refuses it). */
export function customCommandPolicyName(command: unknown): string | undefined {
  return typeof command === 'string' ? `${CUSTOM_COMMAND_PREFIX}${command}` : undefined;
}

/** Command types of remediation rules' records (`RULE:cpu-high`): in per-type stats only, never in the overall
 *  figures (a rule's firing is not a command; see src/core/rules/engine.ts). */
export const RULE_PREFIX = 'RULE:';

/** Structurally compatible with vscode.Disposable. */
export interface Disposable {
  dispose(): void;
}

/** What a caller submits. `priority` defaults to NORMAL; `parameters` must be a JSON-serialisable object. */
export interface CommandRequest {
  commandType: string;
  priority?: Priority | Lowercase<Priority>;
  parameters?: Record<string, unknown>;
  /** Who asked (e.g. 'palette', 'api', an extension id); recorded in telemetry metadata. */
  source?: string;
}

/** A request that passed validation: normalised priority, parameters serialised once for executors to reuse. */
export interface ValidatedRequest {
  readonly commandType: string;
  readonly priority: Priority;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** `JSON.stringify(parameters)`, computed while checking the size bound; executors may send it as is. */
  readonly parametersJson: string;
  readonly source?: string;
}

export interface ExecutorContext {
  readonly commandId: string;
  /**
   * Aborted when the command is cancelled (its caller's signal, the UI, or the middleware closing); executors
   * must stop work when it fires. Made on first read: on a hot path prefer `onCancel`/`cancelled`, since
   * creating an AbortSignal costs microseconds in Node 20.
   */
  readonly signal: AbortSignal;
  /** True once the command is cancelled. */
  readonly cancelled: boolean;
  /** Calls `listener` once when the command is cancelled (at once if it already is); returns a remover. */
  onCancel(listener: (reason: unknown) => void): () => void;
  /**
   * Tells the caller the command waits on something outside the middleware (the Python service starting),
   * as a `waiting` progress update; call the returned function when the wait is over.
   */
  waiting(reason: string): () => void;
}

/** Runs a command: its result, or a promise of it (a synchronous answer is settled at once, without a turn). */
export type Executor = (request: ValidatedRequest, ctx: ExecutorContext) => unknown;

/**
 * Stable error codes in CommandResult.error.code:
 * - invalid_request: the request failed validation (message says which field and why).
 * - blocked: the security policy refused the command type (message names the pattern and setting).
 * - queue_full: the admission queue held maxQueueSize commands already.
 * - cancelled: the caller's AbortSignal fired (while queued, delayed or running) or the middleware closed.
 * - closed: execute() was called after close().
 * - executor_error: the executor threw or rejected without a code of its own.
 * - any code an executor gives by throwing CommandError (e.g. 'unknown_command_type', 'exit_code', 'timeout').
 * The whole vocabulary is errors.ts.
 */
export type ErrorCode = KnownErrorCode | (string & {});

export interface CommandError {
  code: ErrorCode;
  message: string;
  /** What the executor attached (e.g. the file and line of a config error); never recorded in telemetry. */
  data?: unknown;
}

export interface CommandResult {
  commandId: string;
  commandType: string;
  success: boolean;
  result?: unknown;
  error?: CommandError;
  /** Submit to settle, as the caller experienced it (includes any delay and queueing). */
  durationMs: number;
  /** True when the command was given a backoff delay (a THROTTLE event was emitted). */
  throttled: boolean;
  delayMs: number;
}

/** Thrown by executors to report a failure with a stable code; anything else becomes 'executor_error'. */
export class CommandFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** Passed on as CommandResult.error.data. */
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'CommandFailure';
  }
}

export interface ProgressUpdate {
  /** `waiting`: admitted, but the executor waits on something else (reason says what); `running` again after. */
  stage: 'throttled' | 'queued' | 'running' | 'waiting';
  /** The backoff delay given at submission (0 when none). */
  delayMs: number;
  /** Backoff time left at the moment of this update. */
  remainingMs: number;
  /** 1-based place among waiting commands in priority order (0 once running). */
  queuePosition: number;
  reason: string;
}

export type ProgressListener = (update: ProgressUpdate) => void;

export interface ExecuteOptions {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /**
   * Run without taking an admission slot (not queued, not throttled, not counted against the limit, and not held
   * by a pause); the security policy and telemetry still apply. For the control plane: its operations run on the
   * service's control thread, not in the worker pool admission guards, and a remedy must not wait behind the load
   * it is meant to relieve.
   */
  bypassAdmission?: boolean;
  /** Called with the command's id as soon as it has one, before it may queue (e.g. to answer "accepted" at once). */
  onCommandId?: (commandId: string) => void;
  /**
   * A second name the security policy checks with the command type (the control plane's
   * `CUSTOM_COMMAND:<name>`, customCommandPolicyName): blocked when either is denied; with an allow list, run
   * when either is allowed.
   */
  policyName?: string;
}

/** Latest background measurement of the machine; never taken on the command path. */
export interface SystemSample {
  cpuPercent: number;
  memoryPercent: number;
  /** Python processes other than the ones this extension owns; -1 until first counted or when disabled. */
  pythonProcesses: number;
  /** Epoch ms of the newest measurement, 0 before the first. */
  sampledAt: number;
}

/** Who runs the command. Host-supplied; only non-secret, non-identifying-beyond-need values. */
export type UserContext = Readonly<Record<string, string | number | boolean>>;

/** State of the executor service as the host sees it (health, pid, version...). Treat as immutable. */
export type ServiceContext = Readonly<Record<string, string | number | boolean | null>>;

export interface SystemContext {
  platform: string;
  arch: string;
  nodeVersion: string;
  cpuCount: number;
  cpuPercent: number;
  memoryPercent: number;
  pythonProcesses: number;
}

export interface TelemetryEvent {
  /** ISO 8601 UTC. */
  timestamp: string;
  eventType: EventType;
  commandId: string;
  commandType: string;
  priority: Priority;
  durationMs?: number;
  user: UserContext;
  system: SystemContext;
  service: ServiceContext;
  metadata?: Readonly<Record<string, unknown>>;
}
