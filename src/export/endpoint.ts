// The PowerShell-compatible telemetry endpoint: batches of events POSTed as JSON in the PowerShell tool's field names. Plain Node
// (node:http/https), no dependency. Each batch carries an id (body `batchId`, header `Idempotency-Key`) that
// stays the same when the batch is sent again, so a receiver that records ids sees every event once even
// when a response is lost; failed batches are retried with exponential backoff and jitter, the queue behind
// them is bounded (oldest dropped and counted).
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { jsonMs, jsonString } from '../core/telemetry';
import type { ServiceContext, SystemContext, TelemetryEvent, UserContext } from '../core/types';
import type { EndpointConfig, QueueConfig } from './config';
import { redactUrl } from './config';
import { ExporterHealth } from './health';
import { BatchShipper, PermanentFailure } from './shipper';

/** One event as the PowerShell tool sent it. */
export interface SeedEvent {
  Timestamp: string;
  EventType: string;
  CommandId: string;
  CommandType: string;
  Priority: string;
  /** Milliseconds; null for START and THROTTLE. */
  Duration: number | null;
  UserContext: UserContext;
  SystemContext: SystemContext;
  AIOSContext: ServiceContext;
  Metadata: Readonly<Record<string, unknown>>;
}

/** The body of one POST. */
export interface SeedBatch {
  batchId: string;
  sessionId: string;
  events: SeedEvent[];
}

export function toSeedEvent(e: TelemetryEvent): SeedEvent {
  return {
    Timestamp: e.timestamp,
    EventType: e.eventType,
    CommandId: e.commandId,
    CommandType: e.commandType,
    Priority: e.priority,
    Duration: e.durationMs ?? null,
    UserContext: e.user,
    SystemContext: e.system,
    AIOSContext: e.service,
    Metadata: e.metadata ?? {},
  };
}

/**
 * JSON of a batch, equal to JSON.stringify({batchId, sessionId, events: events.map(toSeedEvent)}) but with
 * the three context objects (which change about once a second) serialised once per identity.
 */
export class SeedSerializer {
  private readonly cache = new WeakMap<object, string>();

  private context(o: object): string {
    let s = this.cache.get(o);
    if (s === undefined) {
      s = JSON.stringify(o);
      this.cache.set(o, s);
    }
    return s;
  }

  batch(batchId: string, sessionId: string, events: readonly TelemetryEvent[]): string {
    const parts: string[] = [];
    for (const e of events) {
      parts.push(
        `{"Timestamp":${jsonString(e.timestamp)},"EventType":${jsonString(e.eventType)},"CommandId":${jsonString(e.commandId)},"CommandType":${jsonString(
          e.commandType,
        )},"Priority":${jsonString(e.priority)},"Duration":${e.durationMs === undefined ? 'null' : jsonMs(e.durationMs)},"UserContext":${this.context(
          e.user,
        )},"SystemContext":${this.context(e.system)},"AIOSContext":${this.context(e.service)},"Metadata":${e.metadata === undefined ? '{}' : JSON.stringify(e.metadata)}}`,
      );
    }
    return `{"batchId":${JSON.stringify(batchId)},"sessionId":${JSON.stringify(sessionId)},"events":[${parts.join(',')}]}`;
  }
}

export interface EndpointExporterOptions {
  config: EndpointConfig;
  queue: QueueConfig;
  sessionId: string;
  /** Retry backoff; defaults 500 ms doubling to 30 s. */
  backoff?: { initialMs: number; maxMs: number };
  userAgent?: string;
}

/** Statuses worth sending the same batch again for; any other 4xx will not change by retrying. */
function retryable(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

export class EndpointExporter {
  readonly health: ExporterHealth;
  private readonly shipper: BatchShipper<TelemetryEvent>;
  private readonly url: URL;
  private readonly agent: http.Agent;
  private readonly serializer = new SeedSerializer();
  private readonly ids = new WeakMap<readonly TelemetryEvent[], string>();
  private readonly instance = randomBytes(4).toString('hex');
  private seq = 0;

  constructor(private readonly opts: EndpointExporterOptions) {
    this.url = new URL(opts.config.endpoint);
    const secure = this.url.protocol === 'https:';
    this.agent = secure ? new https.Agent({ keepAlive: true, maxSockets: 1 }) : new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.health = new ExporterHealth(redactUrl(opts.config.endpoint), () => this.shipper.queued);
    this.shipper = new BatchShipper<TelemetryEvent>({
      ...opts.queue,
      retry: true,
      backoff: opts.backoff,
      health: this.health,
      send: (batch) => this.post(batch),
    });
  }

  /** O(1), never throws: the telemetry listener calls it for every event. */
  push(e: TelemetryEvent): void {
    this.shipper.push(e);
  }

  private batchId(batch: readonly TelemetryEvent[]): string {
    let id = this.ids.get(batch);
    if (id === undefined) {
      id = `${this.opts.sessionId}-${this.instance}-${(++this.seq).toString(36)}`;
      this.ids.set(batch, id);
    }
    return id;
  }

  private post(batch: readonly TelemetryEvent[]): Promise<void> {
    const id = this.batchId(batch);
    const body = Buffer.from(this.serializer.batch(id, this.opts.sessionId, batch));
    const request = this.url.protocol === 'https:' ? https.request : http.request;
    return new Promise<void>((resolve, reject) => {
      const req = request(
        this.url,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            ...this.opts.config.headers,
            'Content-Type': 'application/json',
            'Content-Length': body.length,
            'Idempotency-Key': id,
            'User-Agent': this.opts.userAgent ?? 'aios-middleware',
          },
          timeout: this.opts.config.timeoutMs,
        },
        (res) => {
          res.resume(); // the body is not needed; reading it frees the socket for the next batch
          const status = res.statusCode ?? 0;
          res.on('end', () => {
            if (status >= 200 && status < 300) resolve();
            else {
              const message = `HTTP ${status}${res.statusMessage ? ` ${res.statusMessage}` : ''} from ${this.health.target}`;
              reject(retryable(status) ? new Error(message) : new PermanentFailure(`${message}; the batch was dropped`));
            }
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${this.health.target} within ${this.opts.config.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Sends what is queued now, within `deadlineMs`. */
  flush(deadlineMs = 5000): Promise<void> {
    return this.shipper.drain(deadlineMs);
  }

  /** Sends what is queued (within `deadlineMs`) and stops. */
  async shutdown(deadlineMs = 2000): Promise<void> {
    await this.shipper.close(deadlineMs);
    this.agent.destroy();
  }
}
