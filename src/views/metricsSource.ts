// Feeds the metrics panel from the middleware and the supervisor: one MetricsSnapshot on demand, and a
// change signal at most every 250 ms while events flow (telemetry's stats signal; the panel coalesces too).
import * as vscode from 'vscode';
import type { AiosContext } from '../context';
import { MetricsHistory } from '../webview/history';
import type { InitMessage, MetricsSnapshot } from '../webview/protocol';
import type { MetricsSource } from './metricsPanel';
import { metricsSnapshot } from './metricsSnapshot';
import type { TelemetrySourceFilter } from './sourceFilter';

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

  constructor(
    private readonly ctx: MetricsHost,
    private readonly sourceFilter: TelemetrySourceFilter,
  ) {
    this.disposables = [
      this.emitter,
      sourceFilter.onDidChange(() => this.emitter.fire()),
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
    return metricsSnapshot(this.ctx.middleware, this.ctx.supervisor.state, this.lastDelayMs, this.sourceFilter.filter);
  }

  dispose(): void {
    clearInterval(this.sampler);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
