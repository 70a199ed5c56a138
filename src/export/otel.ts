// OpenTelemetry export: OTLP/HTTP metrics and logs and a Prometheus `/metrics`, through the official
// OpenTelemetry JS SDK and exporters. This is the only module that imports OpenTelemetry; it is bundled on
// its own (dist/export.js) and loaded only when an OTLP endpoint or a Prometheus port is configured.
//
// Metrics: one MeterProvider (the resource) with a PeriodicExportingMetricReader (OTLP) and/or a
// PrometheusExporter (pull), each fed by a MetricProducer that reads the middleware's own counts
// (CommandMetrics) at collection time, so OTLP and Prometheus report the same numbers and the command path
// pays no SDK cost. Names follow both conventions: OpenTelemetry's (dotted names, the unit apart, base units,
// snake_case attributes) and, on /metrics, Prometheus's as OpenTelemetry's compatibility rules derive them
// (prometheusName), so a query reads the same whether Prometheus scrapes /metrics or gets our OTLP.
// Logs: a LoggerProvider whose records are made and sent in batches off the command path (BatchShipper:
// bounded, oldest dropped and counted), then handed to the OTLP log exporter.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { SeverityNumber, type LogAttributes, type LogRecord } from '@opentelemetry/api-logs';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPLogExporter as OTLPLogExporterJson } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as OTLPLogExporterProto } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as OTLPMetricExporterJson } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as OTLPMetricExporterProto } from '@opentelemetry/exporter-metrics-otlp-proto';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { LoggerProvider, type LogRecordExporter, type LogRecordProcessor, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  DataPointType,
  MeterProvider,
  PeriodicExportingMetricReader,
  type CollectionResult,
  type DataPoint,
  type MetricData,
  type MetricProducer,
  type MetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import type { TypeAccuracy } from '../core/learning';
import { countsAsCommand } from '../core/telemetry';
import { PRIORITIES, type TelemetryEvent } from '../core/types';
import { DURATION_BOUNDARIES_MS, OUTCOMES, TIMED_OUTCOMES, type CommandMetrics, type ExportState } from './commandMetrics';
import type { OtlpConfig, QueueConfig } from './config';
import { redactUrl } from './config';
import { ExporterHealth } from './health';
import { BatchShipper } from './shipper';

/** What names this window's telemetry: nothing secret, no command line, no environment. */
export interface ResourceInfo {
  serviceVersion: string;
  /** The window's session id (the middleware's sessionId), as service.instance.id. */
  sessionId: string;
  hostName: string;
}

export interface OtelOptions {
  resource: ResourceInfo;
  metrics: CommandMetrics;
  state: () => ExportState;
  /** Dropped counts of the other event exporters, exported as aios.export.dropped{exporter}. */
  dropped?: () => Record<string, number>;
  otlp?: OtlpConfig;
  /** Port of /metrics on 127.0.0.1 (0: any free port, for tests); undefined: no Prometheus. */
  prometheusPort?: number;
  queue: QueueConfig;
}

export interface OtelHandle {
  /** O(1), never throws: queues the event for the OTLP log exporter (a no-op when logs are off). */
  push(e: TelemetryEvent): void;
  readonly metricsHealth?: ExporterHealth;
  readonly logsHealth?: ExporterHealth;
  readonly prometheusHealth?: ExporterHealth;
  /** Resolves when /metrics listens (or failed to: see prometheusHealth.lastError); its port. */
  readonly prometheusReady: Promise<number | undefined>;
  /** Collects and pushes metrics now (and the queued log records); for tests and a manual "export now". */
  flush(deadlineMs?: number): Promise<void>;
  /** Final export within `deadlineMs`, then stops every timer, socket and server. */
  shutdown(deadlineMs?: number): Promise<void>;
}

export const SCOPE = { name: 'aios-middleware' };

const hr = (ms: number): HrTime => [Math.floor(ms / 1000), Math.round((ms % 1000) * 1e6)];

function buildResource(r: ResourceInfo): Resource {
  // No resource detectors: the process detector would add the command line and executable path.
  return defaultResource().merge(
    resourceFromAttributes({
      'service.name': 'aios-middleware',
      'service.version': r.serviceVersion,
      'service.instance.id': r.sessionId,
      'host.name': r.hostName,
    }),
  );
}

/** The version of the text format /metrics writes (the exposition format 0.0.4), as Prometheus expects it said. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Durations are counted in ms on the command path and exported in seconds, the base unit of both conventions. */
const DURATION_BOUNDARIES_S: readonly number[] = DURATION_BOUNDARIES_MS.map((ms) => ms / 1000);

/**
 * The name of a metric on /metrics, as OpenTelemetry's Prometheus compatibility rules make it (and so
 * Prometheus's own OTLP receiver and the Collector's Prometheus exporter): the unit as a word at the end
 * (`s` → `_seconds`, `1` on a gauge → `_ratio`; `{…}` annotations add nothing). The exporter then turns dots
 * into underscores and adds `_total` to counters: `aios.command.duration` (s) → `aios_command_duration_seconds`.
 */
export function prometheusName(name: string, unit: string, gauge: boolean): string {
  const suffix = unit === 's' ? 'seconds' : unit === '1' && gauge ? 'ratio' : '';
  return suffix === '' || name.endsWith(`_${suffix}`) ? name : `${name}_${suffix}`;
}

/** Reads CommandMetrics and the state callback into OpenTelemetry metric data at each collection. */
export class AiosMetricProducer implements MetricProducer {
  /** `prometheus`: names as /metrics shows them (prometheusName); else OpenTelemetry's own. */
  constructor(
    private readonly resource: Resource,
    private readonly metrics: CommandMetrics,
    private readonly state: () => ExportState,
    private readonly dropped: () => Record<string, number>,
    private readonly prometheus = false,
  ) {}

  private descriptor(name: string, description: string, unit: string, valueType: ValueType, gauge = false) {
    return { name: this.prometheus ? prometheusName(name, unit, gauge) : name, description, unit, valueType };
  }

  collect(): Promise<CollectionResult> {
    const errors: unknown[] = [];
    const startTime = hr(this.metrics.startEpochMs);
    const endTime = hr(Date.now());
    const point = <T>(attributes: Attributes, value: T): DataPoint<T> => ({ startTime, endTime, attributes, value });
    const commands: DataPoint<number>[] = [];
    const throttles: DataPoint<number>[] = [];
    const durations: DataPoint<{ buckets: { boundaries: number[]; counts: number[] }; sum: number; count: number; min: number; max: number }>[] = [];
    // `source`: the command's source kind (palette, api, terminal…), the same word in both naming conventions.
    for (const [commandType, source, s] of this.metrics.entries()) {
      for (let p = 0; p < PRIORITIES.length; p++) {
        const priority = PRIORITIES[p];
        for (let o = 0; o < OUTCOMES.length; o++) {
          const v = s.ends[p * OUTCOMES.length + o];
          if (v > 0) commands.push(point({ command_type: commandType, priority, outcome: OUTCOMES[o], source }, v));
        }
        if (s.throttles[p] > 0) throttles.push(point({ command_type: commandType, priority, source }, s.throttles[p]));
        for (let o = 0; o < TIMED_OUTCOMES.length; o++) {
          const h = s.latency[p * TIMED_OUTCOMES.length + o];
          if (h === undefined) continue;
          durations.push(
            point(
              { command_type: commandType, priority, outcome: TIMED_OUTCOMES[o], source },
              {
                buckets: { boundaries: [...DURATION_BOUNDARIES_S], counts: Array.from(h.counts) },
                sum: h.sum / 1000,
                count: h.count,
                min: h.min / 1000,
                max: h.max / 1000,
              },
            ),
          );
        }
      }
    }
    const counter = (name: string, description: string, unit: string, points: DataPoint<number>[]): MetricData => ({
      descriptor: this.descriptor(name, description, unit, ValueType.INT),
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints: points,
    });
    const gauge = (name: string, description: string, unit: string, points: DataPoint<number>[]): MetricData => ({
      descriptor: this.descriptor(name, description, unit, ValueType.DOUBLE, true),
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.GAUGE,
      dataPoints: points,
    });
    const metrics: MetricData[] = [
      counter('aios.commands', 'Commands that ended, by command_type, priority and outcome (success, error, blocked, cancelled)', '{command}', commands),
      counter('aios.command.throttles', 'Commands given a backoff delay, by command_type and priority', '{command}', throttles),
      {
        descriptor: this.descriptor(
          'aios.command.duration',
          'Submit-to-settle time of commands that reached their executor, by command_type, priority and outcome',
          's',
          ValueType.DOUBLE,
        ),
        aggregationTemporality: AggregationTemporality.CUMULATIVE,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: durations,
      },
    ];
    const dropped = Object.entries(this.dropped());
    if (dropped.length > 0)
      metrics.push(
        counter(
          'aios.export.dropped',
          'Telemetry events an exporter gave up (queue full or refused), by exporter',
          '{event}',
          dropped.map(([exporter, n]) => point({ exporter }, n)),
        ),
      );
    try {
      const state = this.state();
      const g = this.metrics.gauges(state);
      metrics.push(
        gauge(
          'aios.queue.depth',
          'Commands waiting for admission, by priority',
          '{command}',
          PRIORITIES.map((priority) => point({ priority }, g.queued[priority])),
        ),
        gauge('aios.commands.running', 'Commands running now', '{command}', [point({}, g.running)]),
        gauge('aios.throttle.delay', 'Backoff delay given to commands over the limit now', 's', [point({}, g.throttleDelayMs / 1000)]),
      );
      if (g.serviceHealth !== undefined)
        metrics.push(
          // No unit: a state, not a ratio ('1' would make it aios_service_health_ratio on /metrics).
          gauge('aios.service.health', 'The Python service: 1 healthy, 0 not (starting, unhealthy, crashed or stopped)', '', [point({}, g.serviceHealth)]),
        );
      // The learning's figures per command type, since it started (the history it restored from disk included);
      // control operations are not commands here either.
      const scored = Object.entries(state.predictionAccuracy?.byType ?? {}).filter(([commandType]) => countsAsCommand(commandType));
      const byType = (value: (a: TypeAccuracy) => number) => scored.map(([commandType, a]) => point({ command_type: commandType }, value(a)));
      if (scored.length > 0)
        metrics.push(
          gauge(
            'aios.prediction.duration.p90_coverage',
            'Share of the scored commands that took at most the p90 of time in the service predicted as they started, by command_type',
            '1',
            byType((a) => a.p90Coverage),
          ),
          gauge(
            'aios.prediction.duration.mean_absolute_error',
            'Mean |actual - predicted p50| of the time in the service of the scored commands, by command_type',
            's',
            byType((a) => a.meanAbsErrorMs / 1000),
          ),
          counter(
            'aios.prediction.duration.scored',
            'Duration predictions scored against what then happened, by command_type',
            '{prediction}',
            byType((a) => a.predictions),
          ),
        );
    } catch (e) {
      errors.push(e); // the counters still go out; the gauges wait for a state that can be read
    }
    return Promise.resolve({ resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: SCOPE, metrics }] }, errors });
  }
}

/** Counts each export's outcome in `health`; otherwise the exporter as it is. */
function trackedMetricExporter(inner: PushMetricExporter, health: ExporterHealth): PushMetricExporter {
  return {
    export: (metrics, done) =>
      inner.export(metrics, (result) => {
        if (result.code === ExportResultCode.SUCCESS) health.success(1);
        else health.failure(result.error ?? new Error('metrics export failed'));
        done(result);
      }),
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
    selectAggregationTemporality: inner.selectAggregationTemporality?.bind(inner),
    selectAggregation: inner.selectAggregation?.bind(inner),
  };
}

/** Hands the records a Logger makes to whoever emitted them, so one batch of events becomes one export. */
class CollectingProcessor implements LogRecordProcessor {
  records: ReadableLogRecord[] = [];
  onEmit(record: ReadableLogRecord): void {
    this.records.push(record);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const SEVERITY: Record<string, [SeverityNumber, string]> = {
  ERROR: [SeverityNumber.ERROR, 'ERROR'],
  THROTTLE: [SeverityNumber.WARN, 'WARN'],
};
const INFO: [SeverityNumber, string] = [SeverityNumber.INFO, 'INFO'];

type Primitive = string | number | boolean;

function addFlattened(target: LogAttributes, prefix: string, source: Readonly<Record<string, unknown>> | undefined): void {
  if (source === undefined) return;
  for (const [k, v] of Object.entries(source)) {
    if (v === null || v === undefined) continue;
    target[`${prefix}.${k}`] = typeof v === 'object' ? JSON.stringify(v) : (v as Primitive);
  }
}

/** One telemetry event as a log record: the event's own fields as attributes (contexts flattened one level). */
export class EventLogMapper {
  private contextKey: [object, object, object] | undefined;
  private contextAttributes: LogAttributes = {};

  toLogRecord(e: TelemetryEvent): LogRecord {
    const [severityNumber, severityText] = SEVERITY[e.eventType] ?? INFO;
    // Object.assign, not a spread: `{ ...context, eventType, … }` with these dotted keys cost ~15 µs per record
    // here (V8 left its fast path), a third of the whole export; assign and then add costs ~1 µs.
    const attributes: LogAttributes = Object.assign({}, this.context(e));
    attributes.eventType = e.eventType;
    attributes.commandId = e.commandId;
    attributes.commandType = e.commandType;
    attributes.priority = e.priority;
    if (e.durationMs !== undefined) attributes.durationMs = e.durationMs;
    addFlattened(attributes, 'metadata', e.metadata);
    return {
      eventName: `aios.command.${e.eventType.toLowerCase()}`,
      timestamp: new Date(e.timestamp),
      severityNumber,
      severityText,
      body: `${e.eventType} ${e.commandType}`,
      attributes,
    };
  }

  /** user.*, system.*, service.*: rebuilt only when one of the three objects changes (about once a second). */
  private context(e: TelemetryEvent): LogAttributes {
    const k = this.contextKey;
    if (k === undefined || k[0] !== e.user || k[1] !== e.system || k[2] !== e.service) {
      this.contextKey = [e.user, e.system, e.service];
      const a: LogAttributes = {};
      addFlattened(a, 'user', e.user);
      addFlattened(a, 'system', e.system as unknown as Record<string, unknown>);
      addFlattened(a, 'service', e.service);
      this.contextAttributes = a;
    }
    return this.contextAttributes;
  }
}

function signalUrl(base: string, signal: 'metrics' | 'logs'): string {
  return new URL(`v1/${signal}`, base.endsWith('/') ? base : `${base}/`).href;
}

async function withDeadline(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms); // not unref'd: someone awaits it, and it is bounded
    }),
  ]);
  clearTimeout(timer);
}

/** Loopback names a scrape may carry in Host: anything else is a page trying DNS rebinding. */
function loopbackHost(host: string | undefined, port: number): boolean {
  return host === `127.0.0.1:${port}` || host === `localhost:${port}` || host === `[::1]:${port}`;
}

export function startOtel(opts: OtelOptions): OtelHandle {
  const resource = buildResource(opts.resource);
  const dropped = opts.dropped ?? (() => ({}));
  const producer = new AiosMetricProducer(resource, opts.metrics, opts.state, dropped);
  const readers: MetricReader[] = [];
  const json = opts.otlp?.protocol === 'http/json';
  let metricsHealth: ExporterHealth | undefined;
  let logsHealth: ExporterHealth | undefined;
  let prometheusHealth: ExporterHealth | undefined;
  let metricReader: PeriodicExportingMetricReader | undefined;
  let logs: { shipper: BatchShipper<TelemetryEvent>; provider: LoggerProvider; exporter: LogRecordExporter } | undefined;

  if (opts.otlp && opts.otlp.endpoint !== '') {
    const otlp = opts.otlp;
    const common = { headers: { ...otlp.headers }, timeoutMillis: otlp.timeoutMs, concurrencyLimit: 2, compression: undefined };
    const metricsUrl = signalUrl(otlp.endpoint, 'metrics');
    metricsHealth = new ExporterHealth(redactUrl(metricsUrl));
    const metricExporter = json ? new OTLPMetricExporterJson({ ...common, url: metricsUrl }) : new OTLPMetricExporterProto({ ...common, url: metricsUrl });
    metricReader = new PeriodicExportingMetricReader({
      exporter: trackedMetricExporter(metricExporter, metricsHealth),
      exportIntervalMillis: otlp.metricsIntervalMs,
      exportTimeoutMillis: Math.min(otlp.timeoutMs, otlp.metricsIntervalMs),
      metricProducers: [producer],
    });
    readers.push(metricReader);

    if (otlp.logs) {
      const logsUrl = signalUrl(otlp.endpoint, 'logs');
      const health = new ExporterHealth(redactUrl(logsUrl), () => shipper.queued);
      logsHealth = health;
      const exporter: LogRecordExporter = json ? new OTLPLogExporterJson({ ...common, url: logsUrl }) : new OTLPLogExporterProto({ ...common, url: logsUrl });
      const collector = new CollectingProcessor();
      const provider = new LoggerProvider({ resource, processors: [collector] });
      const logger = provider.getLogger(SCOPE.name);
      const mapper = new EventLogMapper();
      const shipper: BatchShipper<TelemetryEvent> = new BatchShipper<TelemetryEvent>({
        ...opts.queue,
        // The exporter already retries what can be retried (5 tries within timeoutMs); after that the batch
        // is dropped and counted, as the SDK's own batch processor does.
        retry: false,
        health,
        send: (batch) => {
          for (const e of batch) logger.emit(mapper.toLogRecord(e));
          const records = collector.records;
          collector.records = [];
          return new Promise<void>((resolve, reject) =>
            exporter.export(records, (r) => (r.code === ExportResultCode.SUCCESS ? resolve() : reject(r.error ?? new Error('log export failed')))),
          );
        },
      });
      logs = { shipper, provider, exporter };
    }
  }

  let server: Server | undefined;
  let prometheusReady: Promise<number | undefined> = Promise.resolve(undefined);
  if (opts.prometheusPort !== undefined) {
    const prometheus = new PrometheusExporter({
      preventServerStart: true,
      metricProducers: [new AiosMetricProducer(resource, opts.metrics, opts.state, dropped, true)],
    });
    const serializer = new PrometheusSerializer();
    readers.push(prometheus);
    const health = new ExporterHealth(`http://127.0.0.1:${opts.prometheusPort}/metrics`);
    prometheusHealth = health;
    let port = opts.prometheusPort;
    // Our own server rather than the exporter's: it binds 127.0.0.1 whatever OTEL_EXPORTER_PROMETHEUS_HOST
    // says, answers only GET /metrics, says the format's version (the exporter's says only text/plain), and
    // counts scrapes for the health report.
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '').split('?')[0];
      if (!loopbackHost(req.headers.host, port)) {
        res.writeHead(403).end('AIOS metrics answer only to 127.0.0.1\n');
        return;
      }
      if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        res.writeHead(404).end('Not found: AIOS serves only GET /metrics\n');
        return;
      }
      prometheus.collect().then(
        ({ resourceMetrics }) => {
          res.on('finish', () => health.success(1));
          res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(serializer.serialize(resourceMetrics));
        },
        (e: unknown) => {
          health.failure(e);
          res.writeHead(500, { 'content-type': PROMETHEUS_CONTENT_TYPE }).end(`# failed to collect metrics: ${String(e)}\n`);
        },
      );
    });
    const srv = server;
    prometheusReady = new Promise<number | undefined>((resolve) => {
      srv.once('error', (e: NodeJS.ErrnoException) => {
        health.failure(e.code === 'EADDRINUSE' ? new Error(`port ${port} on 127.0.0.1 is in use; choose another aios.export.prometheus.port`) : e);
        resolve(undefined);
      });
      srv.listen({ host: '127.0.0.1', port }, () => {
        port = (srv.address() as AddressInfo).port;
        health.target = `http://127.0.0.1:${port}/metrics`;
        resolve(port);
      });
    });
    server.unref();
  }

  const meterProvider = readers.length > 0 ? new MeterProvider({ resource, readers }) : undefined;
  const logShipper = logs?.shipper;

  return {
    push: logShipper ? (e) => logShipper.push(e) : () => undefined,
    metricsHealth,
    logsHealth,
    prometheusHealth,
    prometheusReady,
    async flush(deadlineMs = 5000) {
      await Promise.all([metricReader?.forceFlush(), logs?.shipper.drain(deadlineMs)]);
    },
    async shutdown(deadlineMs = 2000) {
      const started = Date.now();
      const left = () => Math.max(0, deadlineMs - (Date.now() - started));
      if (logs) {
        await logs.shipper.close(left());
        await withDeadline(Promise.all([logs.provider.shutdown(), logs.exporter.shutdown()]), left());
      }
      if (meterProvider) await withDeadline(meterProvider.shutdown({ timeoutMillis: Math.max(1, left()) }), left());
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
      }
    },
  };
}
