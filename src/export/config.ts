// Export settings (surfaced as `aios.export.*`) and their validation. Everything is off by default: nothing
// leaves the machine until an endpoint or a port is set. Validation never throws: an invalid field keeps its
// previous value and yields one message that names the setting.

export type OtlpProtocol = 'http/protobuf' | 'http/json';

export interface OtlpConfig {
  /** Base URL of an OTLP/HTTP receiver, e.g. `http://localhost:4318`; `/v1/metrics` and `/v1/logs` are appended. Empty: off. */
  endpoint: string;
  protocol: OtlpProtocol;
  /** Extra request headers (e.g. an API key for a hosted collector). */
  headers: Record<string, string>;
  /** How often metrics are pushed. */
  metricsIntervalMs: number;
  /** Send one log record per telemetry event (metrics are always sent when an endpoint is set). */
  logs: boolean;
  /** One request's time limit, the SDK's own retries included. */
  timeoutMs: number;
}

export interface PrometheusConfig {
  /** Port of `/metrics` on 127.0.0.1; 0: off. */
  port: number;
}

export interface EndpointConfig {
  /** The PowerShell-compatible telemetry endpoint (`aios.export.http.endpoint`): batches of events are POSTed here as JSON. Empty: off. */
  endpoint: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** Shared by the two event exporters (OTLP logs and the JSON endpoint); each has its own queue. */
export interface QueueConfig {
  /** Events waiting at most; beyond it the oldest are dropped (and counted). */
  maxQueueSize: number;
  /** Events in one request at most. */
  maxBatchSize: number;
  /** Longest time an event waits before its batch is sent. */
  flushIntervalMs: number;
}

export interface ExportConfig {
  otlp: OtlpConfig;
  prometheus: PrometheusConfig;
  http: EndpointConfig;
  queue: QueueConfig;
}

export const DEFAULT_EXPORT_CONFIG: Readonly<ExportConfig> = Object.freeze({
  otlp: Object.freeze({ endpoint: '', protocol: 'http/protobuf', headers: {}, metricsIntervalMs: 10_000, logs: true, timeoutMs: 10_000 }),
  prometheus: Object.freeze({ port: 0 }),
  http: Object.freeze({ endpoint: '', headers: {}, timeoutMs: 10_000 }),
  queue: Object.freeze({ maxQueueSize: 10_000, maxBatchSize: 512, flushIntervalMs: 1000 }),
});

export type PartialExportConfig = { [K in keyof ExportConfig]?: Partial<ExportConfig[K]> };

function cloneExportConfig(c: Readonly<ExportConfig>): ExportConfig {
  return {
    otlp: { ...c.otlp, headers: { ...c.otlp.headers } },
    prometheus: { ...c.prometheus },
    http: { ...c.http, headers: { ...c.http.headers } },
    queue: { ...c.queue },
  };
}

/** True when some exporter is configured. */
export function exportEnabled(c: Readonly<ExportConfig>): boolean {
  return c.otlp.endpoint !== '' || c.prometheus.port !== 0 || c.http.endpoint !== '';
}

type NumberRule = { min: number; max: number };

export const EXPORT_NUMBER_RULES: { [S in keyof ExportConfig]: Partial<Record<keyof ExportConfig[S], NumberRule>> } = {
  otlp: { metricsIntervalMs: { min: 1000, max: 3_600_000 }, timeoutMs: { min: 100, max: 120_000 } },
  prometheus: { port: { min: 0, max: 65_535 } },
  http: { timeoutMs: { min: 100, max: 120_000 } },
  queue: { maxQueueSize: { min: 1, max: 1_000_000 }, maxBatchSize: { min: 1, max: 10_000 }, flushIntervalMs: { min: 10, max: 600_000 } },
};
const KNOWN: { [S in keyof ExportConfig]: readonly (keyof ExportConfig[S])[] } = {
  otlp: ['endpoint', 'protocol', 'headers', 'metricsIntervalMs', 'logs', 'timeoutMs'],
  prometheus: ['port'],
  http: ['endpoint', 'headers', 'timeoutMs'],
  queue: ['maxQueueSize', 'maxBatchSize', 'flushIntervalMs'],
};
const PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'http/json'];
const MAX_HEADERS = 50;
const MAX_HEADER_VALUE = 8192;
/** RFC 9110 token: what a header name may be. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function show(v: unknown): string {
  try {
    const s = JSON.stringify(v) ?? String(v);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** Why a value was refused; a class so no valid value (say, a header named `error`) can look like one. */
class Invalid {
  constructor(readonly message: string) {}
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The URL with its user name, password, query and fragment removed: safe to show and log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** '' or an http(s) URL; a message naming the setting otherwise. */
function checkUrl(v: unknown, name: string): string | Invalid {
  if (v === '') return '';
  if (typeof v !== 'string') return new Invalid(`${name} must be an http:// or https:// URL, or empty for off (got ${show(v)})`);
  let u: URL;
  try {
    u = new URL(v.trim());
  } catch {
    return new Invalid(`${name} must be an http:// or https:// URL, or empty for off (got a value that is not a URL)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return new Invalid(`${name} must use http:// or https:// (got ${u.protocol}//)`);
  // Credentials in a URL end up in logs and error messages: headers are the place for them.
  if (u.username || u.password) return new Invalid(`${name} must not hold a user name or password; put credentials in the headers setting`);
  return u.href;
}

/** Header values are never echoed in messages: they often hold API keys. */
function checkHeaders(v: unknown, name: string): Record<string, string> | Invalid {
  if (!isRecord(v)) return new Invalid(`${name} must be an object of header names to string values (got ${Array.isArray(v) ? 'a list' : typeof v})`);
  const entries = Object.entries(v);
  if (entries.length > MAX_HEADERS) return new Invalid(`${name} may hold at most ${MAX_HEADERS} headers (got ${entries.length})`);
  const out: Record<string, string> = {};
  for (const [k, value] of entries) {
    if (!HEADER_NAME.test(k)) return new Invalid(`${name}: ${show(k)} is not a valid HTTP header name`);
    if (typeof value !== 'string' || value.length > MAX_HEADER_VALUE || /[\r\n\0]/.test(value))
      return new Invalid(`${name}: the value of ${k} must be a string of at most ${MAX_HEADER_VALUE} characters without line breaks`);
    out[k] = value;
  }
  return out;
}

/**
 * Checks `input` (a PartialExportConfig, e.g. read from `aios.export.*`) field by field over `base`
 * (defaults unless given). Valid fields replace the base value; invalid ones keep it and add one error.
 */
export function validateExportConfig(input: unknown, base: Readonly<ExportConfig> = DEFAULT_EXPORT_CONFIG): { config: ExportConfig; errors: string[] } {
  const config = cloneExportConfig(base);
  const errors: string[] = [];
  if (input === undefined || input === null) return { config, errors };
  if (!isRecord(input)) {
    errors.push(`aios.export settings must be an object (got ${show(input)}); keeping the previous export settings`);
    return { config, errors };
  }
  for (const key of Object.keys(input)) {
    if (!(key in KNOWN)) errors.push(`unknown setting aios.export.${key} ignored (known: ${Object.keys(KNOWN).join(', ')})`);
  }
  for (const section of Object.keys(KNOWN) as (keyof ExportConfig)[]) {
    const given = input[section];
    if (given === undefined) continue;
    const prefix = `aios.export.${section}.`;
    if (!isRecord(given)) {
      errors.push(`aios.export.${section} must be an object (got ${show(given)}); keeping the previous ${section} settings`);
      continue;
    }
    const target = config[section] as unknown as Record<string, unknown>;
    for (const [key, v] of Object.entries(given)) {
      if (v === undefined) continue;
      if (!(KNOWN[section] as readonly string[]).includes(key)) {
        errors.push(`unknown setting ${prefix}${key} ignored (known: ${KNOWN[section].join(', ')})`);
        continue;
      }
      const rule = (EXPORT_NUMBER_RULES[section] as Record<string, NumberRule | undefined>)[key];
      const keep = `; keeping ${key === 'headers' ? 'the previous headers' : show(target[key])}`;
      let result: unknown;
      if (rule) {
        result =
          typeof v === 'number' && Number.isInteger(v) && v >= rule.min && v <= rule.max
            ? v
            : new Invalid(`${prefix}${key} must be an integer from ${rule.min} to ${rule.max} (got ${show(v)})`);
      } else if (key === 'endpoint') {
        result = checkUrl(v, `${prefix}${key}`);
      } else if (key === 'headers') {
        result = checkHeaders(v, `${prefix}${key}`);
      } else if (key === 'protocol') {
        result = PROTOCOLS.includes(v as OtlpProtocol) ? v : new Invalid(`${prefix}protocol must be one of ${PROTOCOLS.join(', ')} (got ${show(v)})`);
      } else if (key === 'logs') {
        result = typeof v === 'boolean' ? v : new Invalid(`${prefix}logs must be true or false (got ${show(v)})`);
      }
      if (result instanceof Invalid) errors.push(result.message + keep);
      else target[key] = result;
    }
  }
  if (config.queue.maxBatchSize > config.queue.maxQueueSize) {
    errors.push(
      `aios.export.queue.maxBatchSize (${config.queue.maxBatchSize}) must not exceed aios.export.queue.maxQueueSize (${config.queue.maxQueueSize}); using ${config.queue.maxQueueSize}`,
    );
    config.queue.maxBatchSize = config.queue.maxQueueSize;
  }
  return { config, errors };
}
