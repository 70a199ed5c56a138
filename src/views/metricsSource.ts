// Feeds the metrics panel from the middleware and the supervisor: one MetricsSnapshot on demand, and a
// change signal at most every 250 ms while events flow (telemetry's stats signal; the panel coalesces too).
import * as vscode from 'vscode';
import type { AiosContext } from '../context';
import { MetricsHistory } from '../webview/history';
import type { InitMessage, MetricsSnapshot } from '../webview/protocol';
import type { MetricsSource } from './metricsPanel';

/** The part of the extension's services this file uses. */
export type MetricsHost = Pick<AiosContext, 'middleware' | 'supervisor'>;

/** The charts' history is sampled this often from activation on, whether the panel is open or not. */
const HISTORY_SAMPLE_MS = 1000;

export class MiddlewareMetricsSource implements MetricsSource, vscode.Disposable {
  private lastDelayMs = 0;
  private readonly chartHistory = new MetricsHistory();
  private readonly sampler: NodeJS.Timeout;
  private readonly emitter = new vscode.EventEmitter<void>();
  private readonly disposables: vscode.Disposable[];

  constructor(private readonly ctx: MetricsHost) {
    this.disposables = [
      this.emitter,
      ctx.middleware.telemetry.onEvent((e) => {
        if (e.eventType === 'THROTTLE' && typeof e.metadata?.delayMs === 'number') this.lastDelayMs = e.metadata.delayMs;
      }),
      ctx.middleware.telemetry.onStatsChanged(() => this.emitter.fire()),
      ctx.supervisor.onDidChangeState(() => this.emitter.fire()),
    ];
    this.sampler = setInterval(() => this.chartHistory.push(this.snapshot()), HISTORY_SAMPLE_MS);
    this.sampler.unref();
  }

  history(): InitMessage['history'] {
    this.chartHistory.prune(Date.now());
    return this.chartHistory.toState();
  }

  onDidChange(listener: () => void): vscode.Disposable {
    return this.emitter.event(listener);
  }

  snapshot(): MetricsSnapshot {
    const { middleware, supervisor } = this.ctx;
    const o = middleware.telemetry.query('SUMMARY').overall;
    const a = middleware.admission;
    const s = middleware.sampler.latest();
    const service = supervisor.state;
    return {
      at: Date.now(),
      overall: {
        totalCommands: o.totalCommands,
        successfulCommands: o.successfulCommands,
        failedCommands: o.failedCommands,
        successRate: o.successRate,
        averageDurationMs: o.averageDurationMs,
        throttledCommands: o.throttledCommands,
        cancelledCommands: o.cancelledCommands,
        blockedCommands: o.blockedCommands,
      },
      latency: { p50: o.p50, p95: o.p95, p99: o.p99 },
      admission: {
        active: a.active,
        limit: a.limit,
        mode: a.mode,
        queued: { ...a.queued },
        paused: a.paused,
        lastDelayMs: a.delayed > 0 || a.queued.HIGH + a.queued.NORMAL + a.queued.LOW > 0 ? this.lastDelayMs : 0,
      },
      system: s.sampledAt > 0 ? { cpuPercent: s.cpuPercent, memoryPercent: s.memoryPercent, pythonProcesses: s.pythonProcesses } : null,
      service: {
        status: service.status,
        ...(service.pid !== undefined ? { pid: service.pid } : {}),
        ...(service.health ? { logLevel: service.health.logLevel, uptimeS: service.health.uptimeS } : {}),
        ...(service.downSince !== undefined ? { downSince: service.downSince } : {}),
        ...(service.detail ? { detail: service.detail } : {}),
      },
      perType: Object.entries(middleware.telemetry.byType()).map(([commandType, t]) => ({
        commandType,
        count: t.count,
        averageDurationMs: t.averageDurationMs,
        p95: t.p95,
        errorCount: t.errorCount,
        ...(t.lastExecuted ? { lastExecuted: t.lastExecuted } : {}),
      })),
    };
  }

  dispose(): void {
    clearInterval(this.sampler);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
