// The error codes a command's result can carry, in one place: the public API (src/api.ts), the control
// endpoint's answers, telemetry and the Python service (python/aios_service/errors.py, mapped to names by
// src/python/protocol.ts) all use these. test/unit/errorCodes.test.ts holds every copy to this list.

/** Codes the pipeline gives before (or instead of) running the executor, and for an executor's throw without a code. */
export const PIPELINE_ERROR_CODES = ['invalid_request', 'blocked', 'queue_full', 'service_unhealthy', 'cancelled', 'closed', 'executor_error'] as const;

/** Codes the extension's executors give: shell programs, in-process functions, terminals, the service connection. */
export const EXECUTOR_ERROR_CODES = [
  'unknown_command_type',
  'exit_code',
  'exit_unknown',
  'not_found',
  'spawn_failed',
  'timeout',
  'abandoned',
  'service_unavailable',
  'service_crashed',
] as const;

/** Codes the Python service answers with (its JSON-RPC error numbers by name), and `service_error` for a number it does not know. */
export const SERVICE_ERROR_CODES = [
  'parse_error',
  'invalid_request',
  'method_not_found',
  'invalid_params',
  'internal_error',
  'server_not_initialized',
  'request_cancelled',
  'unknown_command_type',
  'handler_failed',
  'config_invalid',
  'config_write_failed',
  'unknown_operation',
  'unknown_control_command',
  'message_too_large',
  'queue_full',
  'handlers_invalid',
  'worker_crashed',
  'service_error',
] as const;

export type KnownErrorCode = (typeof PIPELINE_ERROR_CODES)[number] | (typeof EXECUTOR_ERROR_CODES)[number] | (typeof SERVICE_ERROR_CODES)[number];

/** Every known code once, in the order above. */
export const ERROR_CODES: readonly KnownErrorCode[] = [...new Set<KnownErrorCode>([...PIPELINE_ERROR_CODES, ...EXECUTOR_ERROR_CODES, ...SERVICE_ERROR_CODES])];
