// Public API of the middleware core. Plain Node: no `vscode` import anywhere under src/core.
export * from './types';
export { systemClock, ManualClock, type Clock } from './clock';
export { DEFAULT_CONFIG, validateConfig, cloneConfig } from './config';
export type { MiddlewareConfig, PartialConfig, SecurityConfig, TelemetryConfig, SamplerConfig } from './config';
export { validateRequest, RequestError } from './validation';
export { SecurityPolicy, globToRegExpSource, type SecurityDecision } from './security';
export { AdmissionController, AdmissionError, backoffDelay } from './admission';
export type { AdmissionLimits, AdmissionState, AdmitOptions, AdmitNow, AdmitLater, ThrottleInfo } from './admission';
export { LatencyHistogram } from './histogram';
export { CommandStats, MAX_COMMAND_TYPES, OTHER_TYPE, type OverallMetrics, type TypeStatsReport, type StatsSnapshot } from './stats';
export { Telemetry, STATS_NOTIFY_MS } from './telemetry';
export type { TelemetryApi, TelemetryReport, SummaryReport, DetailedReport, RealtimeReport, RealtimeState, StorageReport } from './telemetry';
export { JsonlWriter, readTelemetry, writeFileAtomic, loadLatestSnapshot, newSessionId, safeSessionId, type ReadResult, type WriterStats } from './storage';
export { SystemSampler, StaticSampler, EMPTY_SAMPLE, isPythonProcessName, type Sampler, type SystemInfoSource } from './sampler';
export { functionExecutor, shellExecutor, type CommandFunction, type ShellCommandSpec, type ShellResult } from './executors';
export { createMiddleware, type Middleware, type MiddlewareOptions, type LogLevel } from './pipeline';
export { Listeners } from './listeners';
export { ABORTED, settleOrAbort, untilAborted, type Settled } from './abort';
