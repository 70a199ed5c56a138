// Export health: what each exporter last did, for the telemetry tree and the REALTIME report. Counters only
// grow while the exporter lives; nothing here holds a header value or a URL's credentials.

export interface ExporterHealthReport {
  /** Where it sends (or, for Prometheus, where it listens), without credentials or query. */
  target: string;
  /** ISO time of the last delivery (or scrape served), null before the first. */
  lastSuccess: string | null;
  /** Failed attempts (each retry counts). */
  failures: number;
  /** Failed attempts since the last success; > 0 means it is failing now. */
  consecutiveFailures: number;
  /** Events or records given up: queue overflow (oldest first) and batches the receiver refused for good. */
  dropped: number;
  /** Events, records or exports delivered (scrapes served, for Prometheus). */
  delivered: number;
  /** Waiting to be sent now (0 for metrics). */
  queued: number;
  lastError: string | null;
  /** ISO time of lastError. */
  lastErrorAt: string | null;
}

/** Health of every configured exporter; an exporter that is off is absent. */
export interface ExportHealthReport {
  otlpMetrics?: ExporterHealthReport;
  otlpLogs?: ExporterHealthReport;
  prometheus?: ExporterHealthReport;
  /** The PowerShell-compatible JSON endpoint (aios.export.http.endpoint). */
  http?: ExporterHealthReport;
}

const MAX_ERROR = 300;

export class ExporterHealth {
  lastSuccess = 0;
  failures = 0;
  consecutiveFailures = 0;
  dropped = 0;
  delivered = 0;
  lastError: string | undefined;
  lastErrorAt = 0;

  constructor(
    public target: string,
    private readonly queued: () => number = () => 0,
  ) {}

  success(delivered: number): void {
    this.lastSuccess = Date.now();
    this.delivered += delivered;
    this.consecutiveFailures = 0;
  }

  failure(error: unknown): void {
    this.failures++;
    this.consecutiveFailures++;
    this.lastError = describeError(error).slice(0, MAX_ERROR);
    this.lastErrorAt = Date.now();
  }

  report(): ExporterHealthReport {
    return {
      target: this.target,
      lastSuccess: this.lastSuccess ? new Date(this.lastSuccess).toISOString() : null,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
      dropped: this.dropped,
      delivered: this.delivered,
      queued: this.queued(),
      lastError: this.lastError ?? null,
      lastErrorAt: this.lastErrorAt ? new Date(this.lastErrorAt).toISOString() : null,
    };
  }
}

/** A person-readable message for anything thrown, with the system error code when there is one. */
export function describeError(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    // Node reports a refused connection to a dual-stack name as an AggregateError with no message.
    const inner = e instanceof AggregateError && e.errors[0] instanceof Error ? e.errors[0].message : '';
    const message = e.message || inner || e.name;
    if (typeof code === 'number') return `HTTP ${code}${message && message !== String(code) ? ` ${message}` : ''}`;
    return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return typeof e === 'string' ? e : String(e);
}
