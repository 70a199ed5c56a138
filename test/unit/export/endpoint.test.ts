// The PowerShell-compatible JSON endpoint against a real receiver on 127.0.0.1 that fails every third request (alternately
// refusing with 503, and recording the batch but cutting the connection before answering).
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createExporters } from '../../../src/export';
import { EndpointExporter, SeedSerializer, toSeedEvent } from '../../../src/export/endpoint';
import * as otel from '../../../src/export/otel';
import { EndpointReceiver, close, until } from './receivers';
import { SECRET_PARAMETER, executor, middleware, runScenario } from './scenario';

const SEED_FIELDS = ['Timestamp', 'EventType', 'CommandId', 'CommandType', 'Priority', 'Duration', 'UserContext', 'SystemContext', 'AIOSContext', 'Metadata'];

function exportersFor(mw: ReturnType<typeof middleware>, config: unknown) {
  return createExporters(config, {
    telemetry: mw.telemetry,
    state: () => ({ admission: mw.admission }),
    sessionId: mw.sessionId,
    serviceVersion: '1.2.3',
    loadOtel: () => otel,
    endpointBackoff: { initialMs: 5, maxMs: 40 },
  });
}

async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, r));
  const port = (s.address() as AddressInfo).port;
  await close(s);
  return port;
}

describe('JSON endpoint (the PowerShell-compatible telemetry endpoint)', () => {
  it('a receiver that fails every third request still gets every event exactly once', async () => {
    const receiver = await new EndpointReceiver().start();
    receiver.failEvery = 3;
    const mw = middleware('endpoint-flaky');
    const exporters = exportersFor(mw, {
      http: { endpoint: receiver.url, headers: { Authorization: 'Bearer test-token' } },
      queue: { maxBatchSize: 7, flushIntervalMs: 5 },
    });
    const expected = await runScenario(mw, 20);
    await until(() => receiver.events().length >= expected.events.length && exporters.health().http!.queued === 0, 20_000, 'every event at the receiver');

    const got = receiver.events().map((e) => `${e.CommandId}|${e.EventType}`);
    assert.equal(new Set(got).size, got.length, 'no event in two batches');
    assert.deepEqual(got.sort(), expected.events.map((e) => `${e.commandId}|${e.eventType}`).sort());
    assert.ok(receiver.failures >= 2, `the receiver failed ${receiver.failures} requests`);
    assert.ok(receiver.repeats >= 1, 'a batch recorded before its answer was lost came again, with the same id');
    const h = exporters.health().http!;
    assert.equal(h.dropped, 0);
    assert.equal(h.delivered, expected.events.length);
    assert.ok(h.failures >= receiver.failures - 1, `failures ${h.failures}`);
    assert.equal(h.target, receiver.url);
    assert.ok(h.lastSuccess);

    // The PowerShell tool's field names and values.
    const byId = new Map(expected.events.map((e) => [`${e.commandId}|${e.eventType}`, e]));
    for (const e of receiver.events()) {
      assert.deepEqual(Object.keys(e), SEED_FIELDS);
      assert.deepEqual(e, JSON.parse(JSON.stringify(toSeedEvent(byId.get(`${e.CommandId}|${e.EventType}`)!))));
    }
    const complete = receiver.events().find((e) => e.EventType === 'COMPLETE')!;
    assert.equal(typeof complete.Duration, 'number');
    assert.equal(complete.UserContext.sessionId, mw.sessionId);
    assert.equal(complete.AIOSContext.status, 'healthy');
    assert.equal(receiver.events().find((e) => e.EventType === 'START')!.Duration, null);
    // Each batch says who sent it and under which id, in the body and the Idempotency-Key header.
    for (const [id, b] of receiver.batches) {
      assert.equal(b.batchId, id);
      assert.equal(b.sessionId, mw.sessionId);
    }
    assert.ok(receiver.idempotencyKeys.every((k) => receiver.batches.has(k)));
    assert.ok(!JSON.stringify([...receiver.batches.values()]).includes(SECRET_PARAMETER), 'parameters never leave');
    await exporters.shutdown();
    await mw.close();
  });

  it('sends the configured headers', async () => {
    const seen: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers['x-api-key'] as string | undefined);
      req.resume();
      req.on('end', () => res.end());
    });
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    const mw = middleware();
    const exporters = exportersFor(mw, { http: { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, headers: { 'X-Api-Key': 'k1' } } });
    await mw.execute({ commandType: 'ECHO' }, executor);
    await exporters.flush();
    assert.deepEqual(seen, ['k1']);
    await exporters.shutdown();
    await close(server);
    await mw.close();
  });

  it('an endpoint that is down: commands run, the queue stays at its bound, the oldest are dropped and counted', async () => {
    const mw = middleware();
    const exporters = exportersFor(mw, {
      http: { endpoint: `http://127.0.0.1:${await deadPort()}/x`, timeoutMs: 500 },
      queue: { maxQueueSize: 50, maxBatchSize: 10, flushIntervalMs: 5 },
    });
    for (let i = 0; i < 300; i++) assert.equal((await mw.execute({ commandType: 'ECHO' }, executor)).success, true);
    await until(() => (exporters.health().http?.failures ?? 0) >= 2, 5000, 'failed attempts');
    const h = exporters.health().http!;
    assert.ok(h.queued <= 50 + 10, `queued ${h.queued}`);
    assert.equal(h.dropped, 600 - h.queued, 'every event is either still queued or counted as dropped');
    assert.equal(h.delivered, 0);
    assert.match(h.lastError ?? '', /ECONNREFUSED/);
    assert.ok(h.consecutiveFailures >= 2);
    await exporters.shutdown();
    assert.equal(exporters.health().http, undefined);
    await mw.close();
  });

  it('keeps the oldest batch it already sent and drops the oldest queued events when full', async () => {
    const receiver = await new EndpointReceiver().start();
    receiver.failEvery = 1; // every request fails until told otherwise
    const ex = new EndpointExporter({
      config: { endpoint: receiver.url, headers: {}, timeoutMs: 1000 },
      queue: { maxQueueSize: 5, maxBatchSize: 3, flushIntervalMs: 20 },
      sessionId: 's',
      backoff: { initialMs: 5, maxMs: 20 },
    });
    const mw = middleware();
    const events: string[] = [];
    mw.telemetry.onEvent((e) => {
      events.push(e.commandId + e.eventType);
      ex.push(e);
    });
    await mw.execute({ commandType: 'ECHO' }, executor); // 2 events: the first batch, sent and failing
    await until(() => receiver.requests >= 1, 5000, 'the first attempt');
    for (let i = 0; i < 10; i++) await mw.execute({ commandType: 'ECHO' }, executor); // 20 more: only 5 fit
    receiver.failEvery = 0;
    await ex.flush();
    await until(() => ex.health.report().queued === 0, 5000, 'the queue to empty');
    const got = receiver.events().map((e) => e.CommandId + e.EventType);
    assert.deepEqual(got, [...events.slice(0, 2), ...events.slice(-5)], 'the first batch, then the newest five');
    assert.equal(ex.health.dropped, 15);
    await ex.shutdown();
    await mw.close();
  });

  it('a refusal that retrying cannot fix (HTTP 400) drops the batch, counts it and says why', async () => {
    let requests = 0;
    const server = createServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(400, 'Bad Request').end();
    });
    await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
    const mw = middleware();
    const exporters = exportersFor(mw, { http: { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/t` } });
    await mw.execute({ commandType: 'ECHO' }, executor);
    await exporters.flush();
    await until(() => exporters.health().http!.dropped === 2, 5000, 'the batch dropped');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(requests, 1, 'not retried');
    assert.match(exporters.health().http!.lastError ?? '', /HTTP 400 Bad Request/);
    await exporters.shutdown();
    await close(server);
    await mw.close();
  });

  it('serialises like JSON.stringify of the PowerShell tool shape', () => {
    const e = {
      timestamp: '2026-01-01T00:00:00.000Z',
      eventType: 'ERROR' as const,
      commandId: 'a-1',
      commandType: 'X"\\\u2028',
      priority: 'LOW' as const,
      durationMs: 1.5,
      user: { sessionId: 's' },
      system: { platform: 'linux', arch: 'x64', nodeVersion: 'v20', cpuCount: 2, cpuPercent: 1, memoryPercent: 2, pythonProcesses: -1 },
      service: { status: 'healthy', pid: null },
      metadata: { code: 'executor_error', message: 'bad\n"thing"' },
    };
    const s = new SeedSerializer().batch('b1', 's', [e, { ...e, durationMs: undefined, metadata: undefined }]);
    assert.deepEqual(JSON.parse(s), {
      batchId: 'b1',
      sessionId: 's',
      events: [toSeedEvent(e), toSeedEvent({ ...e, durationMs: undefined, metadata: undefined })],
    });
  });
});
