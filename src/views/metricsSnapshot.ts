// The metrics panel's (and the browser dashboard's) snapshot, read from the middleware and the service's state.
// No vscode: the panel's source and the dashboard bench build it the same way.
import { countsAsCommand, SOURCE_KINDS, type Middleware, type SourceFilter } from '../core';
import type { ServiceState } from '../python/supervisor';
import type { MetricsSnapshot } from '../webview/protocol';
import { partitionTypes } from './sourceModel';

/**
 * `lastDelayMs`: the last THROTTLE's delay, shown while something waits. `filter`: the sources the figures,
 * the per-source rows and the per-type table cover (as in the tree); queues, the limit and the machine are
 * the whole middleware's. The per-type table has command types that ran (not control operations, not types
 * whose every command was refused).
 */
export function metricsSnapshot(
  middleware: Middleware,
  service: Pick<ServiceState, 'status' | 'pid' | 'health' | 'downSince' | 'detail'>,
  lastDelayMs: number,
  filter?: SourceFilter,
): MetricsSnapshot {
  const report = middleware.telemetry.query('SUMMARY', filter);
  const o = report.overall;
  const a = middleware.admission;
  const s = middleware.sampler.latest();
  return {
    at: Date.now(),
    ...(filter ? { sources: SOURCE_KINDS.filter((k) => filter.has(k)) } : {}),
    overall: {
      totalCommands: o.totalCommands,
      successfulCommands: o.successfulCommands,
      failedCommands: o.failedCommands,
      successRate: o.successRate,
      averageDurationMs: o.averageDurationMs,
      throttledCommands: o.throttledCommands,
      cancelledCommands: o.cancelledCommands,
      blockedCommands: o.blockedCommands,
      refusedCommands: o.refusedCommands,
    },
    bySource: Object.entries(report.bySource).map(([source, s]) => ({
      source,
      count: s.count,
      successRate: s.successRate,
      errorCount: s.errorCount,
      refusedCount: s.refusedCount,
      cancelledCount: s.cancelledCount,
      p95: s.p95,
    })),
    latency: { p50: o.p50, p95: o.p95, p99: o.p99 },
    admission: {
      active: a.active,
      limit: a.limit,
      mode: a.mode,
      queued: { ...a.queued },
      paused: a.paused,
      lastDelayMs: a.delayed > 0 || a.queued.HIGH + a.queued.NORMAL + a.queued.LOW > 0 ? lastDelayMs : 0,
    },
    system: s.sampledAt > 0 ? { cpuPercent: s.cpuPercent, memoryPercent: s.memoryPercent, pythonProcesses: s.pythonProcesses } : null,
    service: {
      status: service.status,
      ...(service.pid !== undefined ? { pid: service.pid } : {}),
      ...(service.health ? { logLevel: service.health.logLevel, uptimeS: service.health.uptimeS } : {}),
      ...(service.downSince !== undefined ? { downSince: service.downSince } : {}),
      ...(service.detail ? { detail: service.detail } : {}),
    },
    perType: partitionTypes(middleware.telemetry.byType(filter), countsAsCommand).ran.map(([commandType, t]) => ({
      commandType,
      count: t.count,
      averageDurationMs: t.averageDurationMs,
      p95: t.p95,
      errorCount: t.errorCount,
      ...(t.lastExecuted ? { lastExecuted: t.lastExecuted } : {}),
    })),
  };
}
