// The export building blocks on their own: settings validation, the batch shipper's bounds and backoff,
// and the metric counts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_COMMAND_TYPES, OTHER_TYPE } from '../../../src/core/telemetry/stats';
import type { TelemetryEvent } from '../../../src/core/types';
import { CommandMetrics } from '../../../src/export/commandMetrics';
import { DEFAULT_EXPORT_CONFIG, exportEnabled, redactUrl, validateExportConfig } from '../../../src/export/config';
import { readExportSettings } from '../../../src/export';
import { ExporterHealth, describeError } from '../../../src/export/health';
import { BatchShipper, PermanentFailure, backoffMs } from '../../../src/export/shipper';
import { until } from './receivers';

describe('export settings', () => {
  it('are all off by default', () => {
    assert.equal(exportEnabled(DEFAULT_EXPORT_CONFIG), false);
    assert.equal(exportEnabled(validateExportConfig({ prometheus: { port: 9464 } }).config), true);
  });

  it('refuse bad values by setting name, keep the previous value, never echo a header value', () => {
    const { config, errors } = validateExportConfig({
      otlp: { endpoint: 'ftp://x', protocol: 'grpc', headers: { 'bad name': 'v', ok: 'secret-token' }, metricsIntervalMs: 5 },
      prometheus: { port: 70000 },
      http: { endpoint: 'https://user:pw@example.com/t', timeoutMs: 'soon' },
      queue: { maxQueueSize: 0 },
      nope: 1,
    });
    assert.deepEqual(config, DEFAULT_EXPORT_CONFIG);
    const text = errors.join('\n');
    for (const name of [
      'aios.export.otlp.endpoint',
      'aios.export.otlp.protocol',
      'aios.export.otlp.headers',
      'aios.export.otlp.metricsIntervalMs',
      'aios.export.prometheus.port',
      'aios.export.http.endpoint',
      'aios.export.http.timeoutMs',
      'aios.export.queue.maxQueueSize',
      'aios.export.nope',
    ])
      assert.ok(text.includes(name), `no message names ${name}:\n${text}`);
    assert.ok(!text.includes('secret-token') && !text.includes(':pw@'), 'a secret was echoed');
    const header = validateExportConfig({ otlp: { headers: { a: 'line\nbreak' } } });
    assert.match(header.errors[0], /value of a .* without line breaks/);
  });

  it('accept good values, and a header called "error" is just a header', () => {
    const { config, errors } = validateExportConfig({
      otlp: { endpoint: 'http://localhost:4318', protocol: 'http/json', headers: { error: 'x', 'api-key': 'k' }, logs: false },
      prometheus: { port: 9464 },
      http: { endpoint: 'https://collector.example/ingest?x=1' },
      queue: { maxQueueSize: 100, maxBatchSize: 1000 },
    });
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0], /maxBatchSize \(1000\) must not exceed .*maxQueueSize \(100\)/);
    assert.equal(config.queue.maxBatchSize, 100);
    assert.deepEqual(config.otlp.headers, { error: 'x', 'api-key': 'k' });
    assert.equal(config.otlp.protocol, 'http/json');
    assert.equal(config.otlp.logs, false);
    assert.equal(redactUrl(config.http.endpoint), 'https://collector.example/ingest');
  });

  it('read from flat VS Code keys', () => {
    const settings: Record<string, unknown> = { 'otlp.endpoint': 'http://127.0.0.1:4318', 'prometheus.port': 9464, 'queue.maxBatchSize': 10 };
    const partial = readExportSettings((k) => settings[k]);
    assert.deepEqual(partial, { otlp: { endpoint: 'http://127.0.0.1:4318' }, prometheus: { port: 9464 }, http: {}, queue: { maxBatchSize: 10 } });
    assert.deepEqual(validateExportConfig(partial).errors, []);
  });
});

describe('BatchShipper', () => {
  it('backoff doubles up to its cap, with jitter between half and all of it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const ceiling = Math.min(30_000, 500 * 2 ** (attempt - 1));
        const d = backoffMs(attempt, 500, 30_000, () => r);
        return d >= ceiling / 2 && d <= ceiling;
      }),
    );
    assert.equal(
      backoffMs(1, 500, 30_000, () => 1),
      500,
    );
    assert.equal(
      backoffMs(3, 500, 30_000, () => 1),
      2000,
    );
    assert.equal(
      backoffMs(30, 500, 30_000, () => 0),
      15_000,
    );
  });

  it('holds at most maxQueueSize, drops the oldest first and counts them; sends in order, in batches', async () => {
    const sent: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const health = new ExporterHealth('test');
    const s = new BatchShipper<number>({
      maxQueueSize: 10,
      maxBatchSize: 4,
      flushIntervalMs: 1,
      retry: true,
      health,
      send: async (batch) => {
        await gate;
        sent.push([...batch]);
      },
    });
    s.push(0);
    await until(() => s.queued === 1 && sent.length === 0, 1000, 'the first batch in flight');
    await new Promise((r) => setTimeout(r, 5));
    for (let i = 1; i <= 100; i++) s.push(i);
    assert.equal(s.queued, 11, 'ten queued plus the one in flight');
    assert.equal(health.dropped, 90);
    release();
    await until(() => s.queued === 0, 2000, 'the queue to drain');
    assert.deepEqual(sent.flat(), [0, ...Array.from({ length: 10 }, (_, i) => 91 + i)]);
    assert.ok(sent.slice(1).every((b) => b.length <= 4));
    assert.equal(health.delivered, 11);
    await s.close(100);
  });

  it('retries the same batch after a failure; drops it on a permanent one', async () => {
    const attempts: [number[], number][] = [];
    let fail = 2;
    const health = new ExporterHealth('test');
    const s = new BatchShipper<number>({
      maxQueueSize: 10,
      maxBatchSize: 10,
      flushIntervalMs: 1,
      retry: true,
      backoff: { initialMs: 1, maxMs: 4 },
      health,
      send: (batch, attempt) => {
        attempts.push([[...batch], attempt]);
        return fail-- > 0 ? Promise.reject(new Error('down')) : Promise.resolve();
      },
    });
    s.push(1);
    s.push(2);
    await until(() => health.delivered === 2, 2000, 'delivery');
    assert.deepEqual(attempts, [
      [[1, 2], 0],
      [[1, 2], 1],
      [[1, 2], 2],
    ]);
    assert.equal(health.failures, 2);
    assert.equal(health.consecutiveFailures, 0);
    assert.equal(health.lastError, 'down');

    fail = 0;
    const p = new BatchShipper<number>({
      maxQueueSize: 10,
      maxBatchSize: 10,
      flushIntervalMs: 1,
      retry: true,
      health,
      send: () => Promise.reject(new PermanentFailure('HTTP 401')),
    });
    p.push(1);
    await until(() => health.dropped === 1, 2000, 'the refused batch dropped');
    assert.equal(p.queued, 0);
    await s.close(10);
    await p.close(10);
  });

  it('close() sends what is left within its deadline, then drops and counts the rest', async () => {
    const health = new ExporterHealth('test');
    const s = new BatchShipper<number>({
      maxQueueSize: 100,
      maxBatchSize: 10,
      flushIntervalMs: 60_000,
      retry: true,
      health,
      send: () => new Promise(() => undefined), // never answers
    });
    for (let i = 0; i < 25; i++) s.push(i);
    const t0 = Date.now();
    await s.close(50);
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(health.dropped, 25);
    s.push(1); // after close: ignored, never throws
    assert.equal(s.queued, 0);
  });
});

function event(
  eventType: TelemetryEvent['eventType'],
  commandId: string,
  commandType = 'T',
  metadata?: Record<string, unknown>,
  durationMs?: number,
): TelemetryEvent {
  return {
    timestamp: '2026-01-01T00:00:00.000Z',
    eventType,
    commandId,
    commandType,
    priority: 'HIGH',
    durationMs,
    user: {},
    system: { platform: 'linux', arch: 'x64', nodeVersion: 'v20', cpuCount: 1, cpuPercent: 0, memoryPercent: 0, pythonProcesses: 0 },
    service: {},
    metadata,
  };
}

describe('CommandMetrics', () => {
  it('counts outcomes, throttles and latency as the core does', () => {
    const m = new CommandMetrics();
    m.record(event('START', 'a'));
    m.record(event('COMPLETE', 'a', 'T', undefined, 3));
    m.record(event('ERROR', 'b', 'T', { code: 'blocked' }, 0.1)); // never started: no latency
    m.record(event('THROTTLE', 'c', 'T', { delayMs: 40 }));
    m.record(event('START', 'c'));
    m.record(event('ERROR', 'c', 'T', { code: 'executor_error' }, 7));
    m.record(event('CANCEL', 'd', 'T', { code: 'cancelled' }, 1));
    assert.equal(m.ended('T', 'HIGH', 'success'), 1);
    assert.equal(m.ended('T', 'HIGH', 'blocked'), 1);
    assert.equal(m.ended('T', 'HIGH', 'error'), 1);
    assert.equal(m.ended('T', 'HIGH', 'cancelled'), 1);
    const s = m.seriesOf('T', 'other')!;
    assert.equal(s.throttles[0], 1);
    assert.equal(s.latency[0]!.count, 1);
    assert.equal(s.latency[0]!.sum, 3);
    assert.equal(s.latency[1]!.count, 1, 'the executor error has a latency');
    assert.equal(s.latency[1]!.counts[3], 1, '7 ms lands in the (5, 10] bucket');
    const g = m.gauges({ admission: { active: 2, delayed: 1, queued: { HIGH: 0, NORMAL: 3, LOW: 0 } }, serviceStatus: 'crashed' });
    assert.deepEqual(g, { queued: { HIGH: 0, NORMAL: 3, LOW: 0 }, running: 2, throttleDelayMs: 40, serviceHealth: 0 });
    assert.equal(m.gauges({ admission: { active: 0, delayed: 0, queued: { HIGH: 0, NORMAL: 0, LOW: 0 } } }).throttleDelayMs, 0, 'nothing waits: no delay');
  });

  it('counts by source; control operations and rule records are not commands', () => {
    const m = new CommandMetrics();
    m.record(event('COMPLETE', 'a', 'ECHO', { source: 'palette' }, 3));
    m.record(event('COMPLETE', 'b', 'ECHO', { source: 'api', caller: 'publisher.name' }, 3));
    m.record(event('THROTTLE', 'c', 'ECHO', { delayMs: 5, source: 'api' }));
    m.record(event('ERROR', 'd', 'TERMINAL:false', { code: 'exit_code', exitCode: 1, source: 'terminal' }, 2));
    m.record(event('COMPLETE', 'e', 'ECHO', undefined, 1)); // an event from before sources were kept
    m.record(event('COMPLETE', 'f', 'CONTROL:RELOAD_CONFIG', { source: 'control', caller: 'palette' }, 1));
    m.record(event('ERROR', 'g', 'CONTROL:FLUSH_CACHE', { code: 'handler_failed', source: 'control' }, 1));
    m.record(event('COMPLETE', 'h', 'RULE:cpu-high', { rule: 'cpu-high' }, 1));
    assert.equal(m.ended('ECHO', 'HIGH', 'success'), 3);
    assert.equal(m.ended('ECHO', 'HIGH', 'success', 'palette'), 1);
    assert.equal(m.ended('ECHO', 'HIGH', 'success', 'api'), 1);
    assert.equal(m.ended('ECHO', 'HIGH', 'success', 'other'), 1);
    assert.equal(m.ended('TERMINAL:false', 'HIGH', 'error', 'terminal'), 1);
    assert.equal(m.seriesOf('ECHO', 'api')!.throttles[0], 1);
    assert.deepEqual([...m.types.keys()], ['ECHO', 'TERMINAL:false'], 'no CONTROL:* or RULE:* series');
    assert.deepEqual(
      [...m.entries()].map(([type, source]) => `${type}|${source}`),
      ['ECHO|palette', 'ECHO|api', 'ECHO|other', 'TERMINAL:false|terminal'],
    );
  });

  it(`caps command types at ${MAX_COMMAND_TYPES}, the rest in ${OTHER_TYPE}`, () => {
    const m = new CommandMetrics();
    for (let i = 0; i < MAX_COMMAND_TYPES + 50; i++) m.record(event('COMPLETE', String(i), `T${i}`));
    assert.equal(m.types.size, MAX_COMMAND_TYPES);
    assert.equal(m.ended(OTHER_TYPE, 'HIGH', 'success'), 51);
  });

  it('describes errors a person can act on', () => {
    assert.equal(describeError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })), 'connect ECONNREFUSED 127.0.0.1:1');
    assert.equal(describeError(Object.assign(new Error('Service Unavailable'), { code: 503 })), 'HTTP 503 Service Unavailable');
    assert.equal(
      describeError(Object.assign(new AggregateError([new Error('connect ECONNREFUSED ::1:1')], ''), { code: 'ECONNREFUSED' })),
      'connect ECONNREFUSED ::1:1',
    );
  });
});
