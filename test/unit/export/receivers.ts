// Real receivers on 127.0.0.1 for the export tests: an OTLP/HTTP receiver that decodes what it gets with
// OpenTelemetry's own protobuf definitions (the generated code shipped in @opentelemetry/otlp-transformer
// 0.214, installed as `otlp-proto-decoder`; the 0.223 line serialises by hand and ships no decoder) or as
// OTLP/JSON, and a JSON endpoint receiver that can be told to fail.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import type { SeedBatch, SeedEvent } from '../../../src/export/endpoint';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const proto = require('otlp-proto-decoder/build/src/generated/root') as ProtoRoot;

interface ProtoType {
  decode(buf: Uint8Array): unknown;
  toObject(msg: unknown, opts: Record<string, unknown>): unknown;
}

// The OTLP/JSON shapes the tests read (opentelemetry-proto's JSON mapping; int64 as number or string).
export interface AnyValueJson {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValueJson[] };
}
export interface KeyValueJson {
  key: string;
  value: AnyValueJson;
}
export interface NumberPointJson {
  attributes?: KeyValueJson[];
  asInt?: string | number;
  asDouble?: number;
}
export interface HistogramPointJson {
  attributes?: KeyValueJson[];
  count: string | number;
  sum?: number;
  bucketCounts: (string | number)[];
  explicitBounds: number[];
}
export interface MetricJson {
  name: string;
  unit?: string;
  sum?: { dataPoints: NumberPointJson[]; isMonotonic?: boolean };
  gauge?: { dataPoints: NumberPointJson[] };
  histogram?: { dataPoints: HistogramPointJson[] };
}
export interface MetricsRequestJson {
  resourceMetrics: { resource: { attributes: KeyValueJson[] }; scopeMetrics: { metrics: MetricJson[] }[] }[];
}
export interface LogRecordJson {
  timeUnixNano: string | number;
  severityText?: string;
  eventName?: string;
  body?: AnyValueJson;
  attributes?: KeyValueJson[];
}
export interface LogsRequestJson {
  resourceLogs: { resource: { attributes: KeyValueJson[] }; scopeLogs: { logRecords: LogRecordJson[] }[] }[];
}
interface ProtoRoot {
  opentelemetry: {
    proto: { collector: { metrics: { v1: { ExportMetricsServiceRequest: ProtoType } }; logs: { v1: { ExportLogsServiceRequest: ProtoType } } } };
  };
}

export interface Received {
  path: string;
  contentType: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of req) chunks.push(c as Uint8Array);
  return Buffer.concat(chunks);
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  after(() => close(server));
  return (server.address() as AddressInfo).port;
}

export function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** protobufjs → plain JSON-like object in the OTLP/JSON mapping (camelCase, int64 as decimal strings, as in OTLP/JSON). */
const TO_OBJECT = { longs: String, enums: Number, bytes: String, defaults: false, arrays: true, objects: true };

export class OtlpReceiver {
  readonly requests: Received[] = [];
  server!: Server;
  port = 0;
  /** Answer with this status instead of 200 (e.g. 503 to look down). */
  status = 200;

  async start(): Promise<this> {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      void readBody(req).then((body) => {
        if (this.status === 200)
          this.requests.push({ path: req.url ?? '', contentType: String(req.headers['content-type'] ?? ''), headers: req.headers, body });
        const json = String(req.headers['content-type']).includes('json');
        res.writeHead(this.status, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
        res.end(json ? '{}' : undefined);
      });
    });
    this.port = await listen(this.server);
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private decode(path: string, type: ProtoType): unknown[] {
    return this.requests
      .filter((r) => r.path === path)
      .map((r) =>
        r.contentType.includes('json') ? (JSON.parse(r.body.toString('utf8')) as unknown) : type.toObject(type.decode(new Uint8Array(r.body)), TO_OBJECT),
      );
  }

  /** Every metrics request in the OTLP/JSON shape, whichever encoding it came in. */
  metrics(): MetricsRequestJson[] {
    return this.decode('/v1/metrics', proto.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest) as MetricsRequestJson[];
  }

  /** Every log record received, in order. */
  logRecords(): LogRecordJson[] {
    const requests = this.decode('/v1/logs', proto.opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest) as LogsRequestJson[];
    return requests.flatMap((r) => r.resourceLogs.flatMap((rl) => rl.scopeLogs.flatMap((sl) => sl.logRecords)));
  }

  /** The metric `name` in the newest metrics request. */
  latest(name: string): MetricJson {
    const requests = this.metrics();
    if (requests.length === 0) throw new Error('no metrics request reached the receiver');
    const metrics = requests[requests.length - 1].resourceMetrics.flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
    const m = metrics.find((x) => x.name === name);
    if (!m) throw new Error(`no metric ${name} in the newest request (got ${metrics.map((x) => x.name).join(', ')})`);
    return m;
  }
}

export type Scalar = string | number | boolean | undefined;

/** OTLP AnyValue (JSON mapping) → a JS value (arrays as their JSON). */
export function anyValue(v: AnyValueJson | undefined): Scalar {
  if (v === undefined) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue !== undefined) return JSON.stringify((v.arrayValue.values ?? []).map(anyValue));
  return undefined;
}

/** OTLP KeyValue list → object. */
export function attrs(list: KeyValueJson[] | undefined): Record<string, Scalar> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]));
}

/** A number data point's value, whichever field holds it. */
export const num = (dp: NumberPointJson): number => Number(dp.asInt ?? dp.asDouble ?? 0);

/** A JSON endpoint: records batches by batchId (repeats counted apart), and fails every `failEvery`-th request. */
export class EndpointReceiver {
  server!: Server;
  port = 0;
  requests = 0;
  /** Every `failEvery`-th request fails (0: never); alternately answered 503 before reading, or read, recorded and cut. */
  failEvery = 0;
  failures = 0;
  readonly batches = new Map<string, SeedBatch>();
  repeats = 0;
  idempotencyKeys: string[] = [];

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const n = ++this.requests;
      const fail = this.failEvery > 0 && n % this.failEvery === 0;
      if (fail && this.failures++ % 2 === 0) {
        req.resume();
        res.writeHead(503).end();
        return;
      }
      void readBody(req).then((body) => {
        const batch = JSON.parse(body.toString('utf8')) as SeedBatch;
        this.idempotencyKeys.push(String(req.headers['idempotency-key']));
        if (this.batches.has(batch.batchId)) this.repeats++;
        else this.batches.set(batch.batchId, batch);
        // Recorded, but the answer is lost: the sender must send the same batch (same id) again.
        if (fail) req.socket.destroy();
        else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    this.port = await listen(this.server);
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/telemetry`;
  }

  events(): SeedEvent[] {
    return [...this.batches.values()].flatMap((b) => b.events);
  }
}

export async function until(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
