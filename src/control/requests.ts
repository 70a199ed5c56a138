// The control endpoint's request bodies and refusals: the PowerShell-compatible control shape and a command, validated into
// the middleware's own request types with messages a person can act on. Plain functions, no HTTP.
import { sourceString, type SourceKind } from '../core/telemetry';
import { HEALTH_OVERRIDE_VALUES, type CommandRequest, type CommandResult } from '../core/types';
import { CONTROL_OPERATIONS, LOG_LEVELS, type ControlOperation } from '../python/protocol';

const MAX_SOURCE_LENGTH = 64;
/** The source kind of everything that comes in over HTTP. */
const ENDPOINT: SourceKind = 'endpoint';
const MAX_VALUE_LENGTH = 4096;
const CLIENT_COMMAND_ID = /^[A-Za-z0-9][A-Za-z0-9_.:{}-]{0,127}$/;
/** A control-plane operation, as the extension's control plane takes it. */
export interface ControlServerCall {
  operation: ControlOperation;
  value?: string;
  parameters?: Record<string, unknown>;
  source: string;
}

/** No control characters (C0, DEL): a source ends up in logs and telemetry. */
const PRINTABLE = /^[^\p{Cc}]+$/u;

// ---- errors ----------------------------------------------------------------------------------------------------

/** A refusal with an HTTP status and a stable code; the body is {"error": {"code", "message"}}. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, 'invalid_request', message);

/** Longest piece of a client's own text quoted back in a message: an answer never grows with the request. */
export const MAX_QUOTED = 64;

/** A client's text as JSON, cut to MAX_QUOTED characters (and an ellipsis) so refusals stay small. */
export function quote(text: string, max = MAX_QUOTED): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/**
 * The HTTP status for a command's outcome, so `curl --fail` and Invoke-RestMethod notice a failure; the body
 * is the CommandResult either way (its `error` is {code, message}).
 */
export function statusForResult(result: CommandResult): number {
  if (result.success) return 200;
  switch (result.error?.code) {
    case 'invalid_request':
      return 400;
    case 'blocked':
      return 403;
    case 'queue_full':
      return 429;
    case 'invalid_params':
    case 'unknown_command_type':
    case 'unknown_operation':
    case 'unknown_control_command':
    case 'config_invalid':
    case 'message_too_large':
      return 422;
    case 'cancelled':
    case 'closed':
    case 'service_unavailable':
      return 503;
    case 'timeout':
      return 504;
    default:
      return 502; // the executor or the service failed (handler_failed, executor_error, …)
  }
}

// ---- request bodies --------------------------------------------------------------------------------------------

function describe(v: unknown): string {
  if (typeof v === 'string') return quote(v, 40);
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : typeof v;
}

/**
 * Reads the named fields of a JSON object, matching names case-insensitively (PowerShell callers send `CommandType`,
 * JavaScript callers `commandType`); an unknown field or one given twice is an error naming it.
 */
function fields<K extends string>(body: unknown, index: FieldIndex<K>, what: string): Partial<Record<K, unknown>> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(`The body must be a JSON object (${what}); got ${describe(body)}`);
  }
  const out: Partial<Record<K, unknown>> = {};
  const given = body as Record<string, unknown>;
  // JSON.parse gives own enumerable string keys only, and never an undefined value: a field seen is one in out.
  for (const key of Object.keys(given)) {
    const name = index.exact.get(key) ?? index.byLower.get(key.toLowerCase());
    if (name === undefined) throw badRequest(`Unknown field ${quote(key)}; the fields are ${index.names.join(', ')} (any letter case)`);
    if (out[name] !== undefined) {
      const earlier = Object.keys(given).find((k) => k !== key && k.toLowerCase() === name.toLowerCase())!;
      throw badRequest(`Fields ${quote(earlier)} and ${quote(key)} are the same field; give it once`);
    }
    out[name] = given[key];
  }
  return out;
}

function optionalSource(v: unknown, field: string): string {
  if (v === undefined || v === null) return ENDPOINT;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_SOURCE_LENGTH || !PRINTABLE.test(v)) {
    throw badRequest(`${field} must be 1-${MAX_SOURCE_LENGTH} printable characters naming the caller (got ${describe(v)})`);
  }
  // Source kind `endpoint`, the client's own name its caller, so telemetry never mistakes a script for the palette.
  return sourceString('endpoint', v);
}

function optionalObject(v: unknown, field: string): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest(`${field} must be a JSON object of named values (got ${describe(v)})`);
  return v as Record<string, unknown>;
}

export interface ParsedControl {
  call: ControlServerCall;
  /** The caller's own CommandId, echoed back as clientCommandId (the middleware assigns the real one). */
  clientCommandId?: string;
  /** The caller's Timestamp, normalised to ISO 8601 UTC, echoed back as requestedAt. */
  requestedAt?: string;
}

/** A body's field names, looked up as written first (the usual case) and then in any letter case. */
interface FieldIndex<K extends string> {
  names: readonly K[];
  exact: ReadonlyMap<string, K>;
  byLower: ReadonlyMap<string, K>;
}

function fieldIndex<K extends string>(names: readonly K[]): FieldIndex<K> {
  return { names, exact: new Map(names.map((n) => [n, n])), byLower: new Map(names.map((n) => [n.toLowerCase(), n])) };
}

const CONTROL_FIELDS = fieldIndex(['Operation', 'Value', 'Parameters', 'Timestamp', 'Source', 'CommandId'] as const);

/** Validates the PowerShell-compatible control shape {Operation, Value, Parameters, Timestamp, Source, CommandId}. */
export function parseControlBody(body: unknown): ParsedControl {
  const f = fields(body, CONTROL_FIELDS, 'the PowerShell-compatible control shape, e.g. {"Operation": "FLUSH_CACHE", "Parameters": {"cache_type": "all"}}');
  const op = f.Operation;
  if (op === undefined || op === null) throw badRequest(`Operation is required: one of ${CONTROL_OPERATIONS.join(', ')}`);
  const operation = typeof op === 'string' ? (op.trim().toUpperCase() as ControlOperation) : undefined;
  if (operation === undefined || !CONTROL_OPERATIONS.includes(operation)) {
    throw badRequest(`Operation must be one of ${CONTROL_OPERATIONS.join(', ')} (got ${describe(op)})`);
  }

  let value: string | undefined;
  if (f.Value !== undefined && f.Value !== null) {
    if (typeof f.Value !== 'string' || f.Value.length > MAX_VALUE_LENGTH) {
      throw badRequest(`Value must be a string of at most ${MAX_VALUE_LENGTH} characters (got ${describe(f.Value)})`);
    }
    value = f.Value;
  }
  if (operation === 'UPDATE_LOG_LEVEL') {
    const level = value?.trim().toUpperCase();
    const normalised = level === 'WARN' ? 'WARNING' : level;
    if (normalised === undefined || !(LOG_LEVELS as readonly string[]).includes(normalised)) {
      throw badRequest(`UPDATE_LOG_LEVEL needs Value, one of ${LOG_LEVELS.join(', ')} (got ${describe(f.Value)})`);
    }
    value = normalised;
  } else if (operation === 'HEALTH_OVERRIDE') {
    const status = value?.trim().toLowerCase();
    if (status === undefined || !(HEALTH_OVERRIDE_VALUES as readonly string[]).includes(status)) {
      throw badRequest(`HEALTH_OVERRIDE needs Value, one of ${HEALTH_OVERRIDE_VALUES.join(', ')} (got ${describe(f.Value)})`);
    }
    value = status;
  }

  const parameters = optionalObject(f.Parameters, 'Parameters');
  if (operation === 'CUSTOM_COMMAND') {
    const command = parameters?.command;
    if (typeof command !== 'string' || command.trim() === '') {
      throw badRequest(
        `CUSTOM_COMMAND needs Parameters.command, the name of a control command, and optionally Parameters.arguments (got ${describe(command)})`,
      );
    }
    const args = parameters?.arguments;
    if (args !== undefined && args !== null && (typeof args !== 'object' || Array.isArray(args))) {
      throw badRequest(`Parameters.arguments must be a JSON object (got ${describe(args)})`);
    }
  }

  let requestedAt: string | undefined;
  const ts = f.Timestamp;
  if (ts !== undefined && ts !== null) {
    const ms = typeof ts === 'number' ? ts : typeof ts === 'string' && /^\d{4}-\d{2}-\d{2}([T ]|$)/.test(ts) ? Date.parse(ts) : NaN;
    if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) {
      throw badRequest(`Timestamp must be an ISO 8601 time such as "2026-01-01T12:00:00Z" or epoch milliseconds (got ${describe(ts)})`);
    }
    requestedAt = new Date(ms).toISOString();
  }

  let clientCommandId: string | undefined;
  const cid = f.CommandId;
  if (cid !== undefined && cid !== null) {
    if (typeof cid !== 'string' || !CLIENT_COMMAND_ID.test(cid)) {
      throw badRequest(`CommandId must be 1-128 letters, digits and _ . : - { } starting with a letter or digit, e.g. a GUID (got ${describe(cid)})`);
    }
    clientCommandId = cid;
  }

  const call: ControlServerCall = { operation, source: optionalSource(f.Source, 'Source') };
  if (value !== undefined) call.value = value;
  if (parameters !== undefined) call.parameters = parameters;
  return { call, ...(clientCommandId !== undefined ? { clientCommandId } : {}), ...(requestedAt !== undefined ? { requestedAt } : {}) };
}

const COMMAND_FIELDS = fieldIndex(['commandType', 'priority', 'parameters', 'source'] as const);

/**
 * Maps {commandType, priority, parameters, source} (or PowerShell's CommandType, Priority, Parameters) to a
 * CommandRequest. The middleware validates the values themselves and says what is wrong (→ 400).
 */
export function parseCommandBody(body: unknown): CommandRequest {
  const f = fields(body, COMMAND_FIELDS, 'e.g. {"commandType": "ANALYZE", "priority": "HIGH", "parameters": {}}');
  const request: Record<string, unknown> = { commandType: f.commandType, source: optionalSource(f.source, 'source') };
  if (f.priority !== undefined && f.priority !== null) request.priority = typeof f.priority === 'string' ? f.priority.trim().toUpperCase() : f.priority;
  if (f.parameters !== undefined) request.parameters = f.parameters;
  return request as unknown as CommandRequest;
}
