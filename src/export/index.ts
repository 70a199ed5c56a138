// Telemetry beyond the window: OTLP metrics and logs, a Prometheus /metrics on 127.0.0.1 and the PowerShell-compatible JSON
// endpoint, all off until configured. This module is light (no OpenTelemetry import): it lives in the
// extension's main bundle, counts metrics and runs the JSON endpoint itself, and loads the OpenTelemetry part
// (src/export/otel.ts, bundled as dist/export.js) only when an OTLP endpoint or a Prometheus port is set.
//
// Wiring (extension side):
//   const exporters = createExporters(readExportSettings((k) => vscode.workspace.getConfiguration('aios.export').get(k)), {
//     telemetry: middleware.telemetry, sessionId: middleware.sessionId, serviceVersion: context.extension.packageJSON.version,
//     state: () => ({ admission: middleware.admission, serviceStatus: supervisor.state.status, predictionAccuracy: learning.model.accuracy() }),
//     loadOtel: bundledOtel(__dirname), log: (level, message) => output[level](message) });
//   context.subscriptions.push(exporters);
//   on a change of `aios.export`: exporters.update(readExportSettings(...)) -> problems to show.
//   tree / REALTIME report: exporters.health().
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Disposable, TelemetryEvent } from '../core/types';
import { CommandMetrics, type ExportState } from './commandMetrics';
import { DEFAULT_EXPORT_CONFIG, exportEnabled, validateExportConfig, type ExportConfig, type PartialExportConfig } from './config';
import { EndpointExporter } from './endpoint';
import { describeError, type ExportHealthReport } from './health';
import type { OtelHandle, startOtel } from './otel';

export type { ExportConfig, PartialExportConfig, OtlpConfig, OtlpProtocol, PrometheusConfig, EndpointConfig, QueueConfig } from './config';
export { DEFAULT_EXPORT_CONFIG, validateExportConfig, exportEnabled, redactUrl } from './config';
export type { ExportHealthReport, ExporterHealthReport } from './health';
export type { ExportState } from './commandMetrics';
export { CommandMetrics, DURATION_BOUNDARIES_MS, OUTCOMES } from './commandMetrics';
export { EndpointExporter, toSeedEvent, type SeedBatch, type SeedEvent } from './endpoint';

/** The shape of dist/export.js (src/export/otel.ts). */
export interface OtelModule {
  startOtel: typeof startOtel;
}

export type ExportLogLevel = 'info' | 'warn' | 'error';

export interface ExportOptions {
  /** Where events come from: the middleware's telemetry (only onEvent is used). */
  telemetry: { onEvent(listener: (event: TelemetryEvent) => void): Disposable };
  /** Read at each metrics collection (never per event) for the queue, running, throttle, health and prediction gauges. */
  state: () => ExportState;
  sessionId: string;
  serviceVersion: string;
  /** Default: os.hostname(). */
  hostName?: string;
  /** Loads the OpenTelemetry part; in the extension `bundledOtel(__dirname)`, in tests `() => otelModule`. */
  loadOtel: () => OtelModule;
  log?: (level: ExportLogLevel, message: string) => void;
  /** Longest a reconfiguration or shutdown waits for the last sends. Default 2000 ms. */
  shutdownDeadlineMs?: number;
  /** Retry backoff of the JSON endpoint (tests make it short). Default 500 ms doubling to 30 s. */
  endpointBackoff?: { initialMs: number; maxMs: number };
}

/** The loader for the extension: `export.js` in `distDir` (dist/chunks/), required only when needed. */
export function bundledOtel(distDir: string): () => OtelModule {
  const file = join(distDir, 'export.js');
  // A computed path, so the bundler leaves this require alone and dist/export.js stays a separate file.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return () => require(file) as OtelModule;
}

/**
 * The settings as `validateExportConfig` takes them, from a getter of `aios.export.<key>` (for VS Code:
 * `(k) => vscode.workspace.getConfiguration('aios.export').get(k)`). Keys not set read as undefined.
 */
export function readExportSettings(get: (key: string) => unknown): PartialExportConfig {
  const section = <K extends keyof ExportConfig>(name: K): Partial<ExportConfig[K]> => {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(DEFAULT_EXPORT_CONFIG[name])) {
      const v = get(`${name}.${key}`);
      if (v !== undefined) out[key] = v;
    }
    return out as Partial<ExportConfig[K]>;
  };
  return { otlp: section('otlp'), prometheus: section('prometheus'), http: section('http'), queue: section('queue') };
}

export class Exporters implements Disposable {
  private config: ExportConfig;
  private subscription: Disposable | undefined;
  private metrics: CommandMetrics | undefined;
  private otel: OtelHandle | undefined;
  private endpoint: EndpointExporter | undefined;
  private otelKey = '';
  private endpointKey = '';
  /** Reconfigurations and the shutdown run one after another. */
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  /** An old OpenTelemetry exporter is still shutting down (its port may still be taken). */
  private closing = false;
  private readonly deadlineMs: number;
  /** Problems found in the configuration given at creation. */
  readonly configErrors: readonly string[];

  constructor(
    config: unknown,
    private readonly options: ExportOptions,
  ) {
    this.deadlineMs = options.shutdownDeadlineMs ?? 2000;
    const { config: valid, errors } = validateExportConfig(config);
    this.config = valid;
    this.configErrors = [...errors, ...this.apply(valid)];
  }

  /** The telemetry listener: O(1), never throws, so no exporter can slow or fail a command. */
  private readonly onEvent = (e: TelemetryEvent): void => {
    try {
      this.metrics?.record(e);
      this.otel?.push(e);
      this.endpoint?.push(e);
    } catch {
      // Nothing above throws on events the core emits; a bug here must still not reach the pipeline.
    }
  };

  /** True while some exporter is configured. */
  get active(): boolean {
    return exportEnabled(this.config);
  }

  /**
   * Applies new settings (a PartialExportConfig over the current ones); exporters whose settings did not
   * change keep running. Returns person-readable problems (also logged).
   */
  update(config: unknown): string[] {
    const { config: valid, errors } = validateExportConfig(config, this.config);
    this.config = valid;
    return [...errors, ...this.apply(valid)];
  }

  private apply(c: ExportConfig): string[] {
    const errors: string[] = [];
    if (this.stopped) return errors;
    const wantsMetrics = c.otlp.endpoint !== '' || c.prometheus.port !== 0;
    // The counts live as long as some metrics exporter does, so a new endpoint continues the same series.
    if (wantsMetrics) this.metrics ??= new CommandMetrics();
    else this.metrics = undefined;

    const otelKey = wantsMetrics ? JSON.stringify([c.otlp, c.prometheus.port, c.queue]) : '';
    if (otelKey !== this.otelKey) {
      this.otelKey = otelKey;
      const old = this.otel;
      this.otel = undefined;
      const metrics = this.metrics;
      const start = (): void => {
        if (!metrics || this.stopped || this.otelKey !== otelKey) return;
        try {
          const { startOtel } = this.options.loadOtel();
          const otel = startOtel({
            resource: { serviceVersion: this.options.serviceVersion, sessionId: this.options.sessionId, hostName: this.options.hostName ?? hostname() },
            metrics,
            state: this.options.state,
            dropped: () => this.dropped(),
            otlp: c.otlp.endpoint !== '' ? c.otlp : undefined,
            prometheusPort: c.prometheus.port !== 0 ? c.prometheus.port : undefined,
            queue: c.queue,
          });
          this.otel = otel;
          void otel.prometheusReady.then((port) => {
            if (port === undefined && otel.prometheusHealth?.lastError) this.log('warn', `Prometheus metrics not served: ${otel.prometheusHealth.lastError}`);
          });
        } catch (e) {
          errors.push(`could not start OpenTelemetry export: ${describeError(e)}`);
        }
      };
      // Start at once (so no event is missed) unless an old exporter must let go of its port first.
      if (old === undefined && !this.closing) start();
      else {
        this.closing = true;
        this.chain = this.chain.then(async () => {
          if (old) await old.shutdown(this.deadlineMs).catch(() => undefined);
          this.closing = false;
          const before = errors.length;
          start();
          for (const e of errors.slice(before)) this.log('error', e);
        });
      }
    }

    const endpointKey = c.http.endpoint !== '' ? JSON.stringify([c.http, c.queue]) : '';
    if (endpointKey !== this.endpointKey) {
      this.endpointKey = endpointKey;
      const old = this.endpoint;
      this.endpoint = undefined;
      if (old) void old.shutdown(this.deadlineMs);
      if (endpointKey !== '') {
        this.endpoint = new EndpointExporter({
          config: c.http,
          queue: c.queue,
          sessionId: this.options.sessionId,
          backoff: this.options.endpointBackoff,
          userAgent: `aios-middleware/${this.options.serviceVersion}`,
        });
      }
    }

    if (exportEnabled(c)) this.subscription ??= this.options.telemetry.onEvent(this.onEvent);
    else {
      this.subscription?.dispose();
      this.subscription = undefined;
    }
    for (const e of errors) this.log('warn', e);
    return errors;
  }

  private dropped(): Record<string, number> {
    const out: Record<string, number> = {};
    const logs = this.otel?.logsHealth;
    if (logs) out.otlpLogs = logs.dropped;
    if (this.endpoint) out.http = this.endpoint.health.dropped;
    return out;
  }

  private log(level: ExportLogLevel, message: string): void {
    try {
      this.options.log?.(level, message);
    } catch {
      // a logger's failure is its own
    }
  }

  /** Waits until the last reconfiguration has taken effect (the OpenTelemetry part started or stopped). */
  async ready(): Promise<void> {
    await this.chain;
    await this.otel?.prometheusReady;
  }

  /** Port /metrics listens on, once listening; undefined when off or refused (see health().prometheus). */
  async prometheusPort(): Promise<number | undefined> {
    await this.chain;
    return this.otel?.prometheusReady;
  }

  /** Health of each configured exporter, for the telemetry tree and the REALTIME report. */
  health(): ExportHealthReport {
    const report: ExportHealthReport = {};
    const o = this.otel;
    if (o?.metricsHealth) report.otlpMetrics = o.metricsHealth.report();
    if (o?.logsHealth) report.otlpLogs = o.logsHealth.report();
    if (o?.prometheusHealth) report.prometheus = o.prometheusHealth.report();
    if (this.endpoint) report.http = this.endpoint.health.report();
    return report;
  }

  /** Sends what is queued and pushes metrics now (tests; an "export now" command). */
  async flush(): Promise<void> {
    await this.chain;
    await Promise.all([this.otel?.flush(this.deadlineMs), this.endpoint?.flush(this.deadlineMs)]);
  }

  /** Stops listening, sends what it can within the deadline, closes sockets, timers and the server. */
  async shutdown(): Promise<void> {
    if (this.stopped) return this.chain;
    this.stopped = true;
    this.subscription?.dispose();
    this.subscription = undefined;
    const endpoint = this.endpoint;
    this.endpoint = undefined;
    this.chain = this.chain.then(async () => {
      const otel = this.otel;
      this.otel = undefined;
      await Promise.all([otel?.shutdown(this.deadlineMs), endpoint?.shutdown(this.deadlineMs)]);
    });
    return this.chain;
  }

  dispose(): void {
    void this.shutdown();
  }
}

export function createExporters(config: unknown, options: ExportOptions): Exporters {
  return new Exporters(config, options);
}
