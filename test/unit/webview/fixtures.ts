// A valid snapshot to start tests from; override what a test is about.
import type { MetricsSnapshot } from '../../../src/webview/protocol';

export function snapshot(over: Partial<MetricsSnapshot> = {}, overall: Partial<MetricsSnapshot['overall']> = {}): MetricsSnapshot {
  return {
    at: 1_700_000_000_000,
    overall: {
      totalCommands: 100,
      successfulCommands: 95,
      failedCommands: 5,
      successRate: 0.95,
      averageDurationMs: 12.5,
      throttledCommands: 3,
      cancelledCommands: 0,
      blockedCommands: 1,
      ...overall,
    },
    latency: { p50: 10, p95: 40, p99: 80 },
    admission: { active: 2, limit: 8, queued: { HIGH: 0, NORMAL: 4, LOW: 1 }, paused: false, lastDelayMs: 50 },
    system: { cpuPercent: 37.5, memoryPercent: 61, pythonProcesses: 2 },
    service: { status: 'healthy', pid: 4242, logLevel: 'INFO', uptimeS: 125 },
    perType: [{ commandType: 'ANALYZE', count: 100, averageDurationMs: 12.5, p95: 40, errorCount: 5, lastExecuted: '2023-11-14T22:13:20.000Z' }],
    ...over,
  };
}
