// The public API: what other extensions get from `vscode.extensions.getExtension('aios.aios-middleware')
// .activate()`. This file is the contract they compile against: only types from here, nothing internal.
import type { CommandResult, Priority, TelemetryApi } from './core';

export interface AiosCommandRequest {
  commandType: string;
  priority?: Priority;
  parameters?: Record<string, unknown>;
}

export interface AiosApi {
  /** The extension's version (package.json). */
  readonly version: string;
  /** Runs a command through the middleware (policy, admission, telemetry) to the Python service. */
  run(request: AiosCommandRequest, options?: { signal?: AbortSignal }): Promise<CommandResult>;
  /** The telemetry report at a detail level (SUMMARY, DETAILED or REALTIME). */
  readonly telemetry: TelemetryApi['query'];
}
