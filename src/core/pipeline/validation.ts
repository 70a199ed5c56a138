// Request validation: the first gate. Turns untrusted input into a ValidatedRequest or a message that
// tells the caller exactly what to fix.
import { MAX_SOURCE_LENGTH } from '../telemetry';
import type { CommandRequest, Priority, ValidatedRequest } from '../types';

/** Letters, digits and `_ . : / -`, starting with a letter or digit: safe in file names, logs and JSON. */
export const COMMAND_TYPE = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$/;
const EMPTY_PARAMETERS: Readonly<Record<string, unknown>> = Object.freeze({});

export class RequestError extends Error {
  readonly code = 'invalid_request';
  constructor(message: string) {
    super(message);
    this.name = 'RequestError';
  }
}

function normalisePriority(p: unknown): Priority | undefined {
  switch (p) {
    case undefined:
    case 'NORMAL':
    case 'normal':
      return 'NORMAL';
    case 'HIGH':
    case 'high':
      return 'HIGH';
    case 'LOW':
    case 'low':
      return 'LOW';
    default:
      return undefined;
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (v === null) return 'null';
  return Array.isArray(v) ? 'an array' : typeof v;
}

/** Validates and normalises a request; throws RequestError with a person-readable message. */
export function validateRequest(input: unknown, maxParameterBytes: number): ValidatedRequest {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new RequestError(`A command request must be an object like {"commandType": "ANALYZE"} (got ${describe(input)})`);
  }
  const req = input as CommandRequest;
  const type = req.commandType;
  if (typeof type !== 'string' || !COMMAND_TYPE.test(type)) {
    throw new RequestError(`commandType must be 1-128 characters of letters, digits and _ . : / -, starting with a letter or digit (got ${describe(type)})`);
  }
  const priority = normalisePriority(req.priority);
  if (priority === undefined) {
    throw new RequestError(`priority must be HIGH, NORMAL or LOW (got ${describe(req.priority)})`);
  }
  const source = req.source;
  if (source !== undefined && (typeof source !== 'string' || source.length > MAX_SOURCE_LENGTH)) {
    throw new RequestError(`source must be a string of at most ${MAX_SOURCE_LENGTH} characters (got ${describe(source)})`);
  }
  const params = req.parameters;
  if (params === undefined || params === null) {
    return { commandType: type, priority, parameters: EMPTY_PARAMETERS, parametersJson: '{}', source };
  }
  if (typeof params !== 'object' || Array.isArray(params)) {
    throw new RequestError(`parameters must be an object of named values (got ${describe(params)})`);
  }
  let json: string;
  try {
    json = JSON.stringify(params);
  } catch (e) {
    throw new RequestError(`parameters must be plain JSON data (${e instanceof Error ? e.message : String(e)})`);
  }
  // UTF-8 needs at most 3 bytes per UTF-16 unit: measure exactly only when the cheap bound is not enough.
  if (json.length * 3 > maxParameterBytes) {
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > maxParameterBytes) {
      throw new RequestError(
        `parameters are ${bytes} bytes as JSON, more than the ${maxParameterBytes} allowed (setting aios.maxParameterBytes); send a file path or a reference instead of the data`,
      );
    }
  }
  return { commandType: type, priority, parameters: params, parametersJson: json, source };
}
