// OpenTelemetry export against a real OTLP/HTTP receiver on 127.0.0.1 (decoded with OpenTelemetry's own
// protobuf definitions, or as OTLP/JSON), after real commands ran through createMiddleware: the exported
// numbers must equal the middleware's own.
import assert from 'node:assert/strict';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { attachLearning, type Learning, type TypeAccuracy } from '../../../src/core/learning';
import { bundledOtel, createExporters, type Exporters, type OtlpProtocol } from '../../../src/export';
import * as otel from '../../../src/export/otel';
import { OtlpReceiver, attrs, close, num, until } from './receivers';
import { SECRET_PARAMETER, exportedCommands, middleware, runScenario } from './scenario';

const ROUNDS = 5;

function exportersFor(mw: ReturnType<typeof middleware>, config: unknown, learning?: Learning): Exporters {
  return createExporters(config, {
    telemetry: mw.telemetry,
    state: () => ({ admission: mw.admission, serviceStatus: 'healthy', predictionAccuracy: learning?.model.accuracy() }),
    sessionId: mw.sessionId,
    serviceVersion: '9.8.7',
    hostName: 'test-host',
    loadOtel: () => otel,
  });
}

async function checkProtocol(protocol: OtlpProtocol): Promise<void> {
  const receiver = await new OtlpReceiver().start();
  const mw = middleware(`otlp-${protocol.replace('/', '-')}`);
  // Predicts a type after 3 of its commands, so the scenario's are scored.
  const learning = attachLearning(mw, { minSamples: 3 });
  const exporters = exportersFor(mw, { otlp: { endpoint: receiver.url, protocol, metricsIntervalMs: 3_600_000 } }, learning);
  assert.deepEqual(exporters.configErrors, []);
  const expected = await runScenario(mw, ROUNDS);
  await exporters.flush();

  // Encoding as configured.
  const want = protocol === 'http/json' ? 'application/json' : 'application/x-protobuf';
  assert.ok(
    receiver.requests.every((r) => r.contentType === want),
    `content types: ${[...new Set(receiver.requests.map((r) => r.contentType))].join(', ')}`,
  );

  // Resource: the service, its version, the window session, the host; nothing else of ours.
  const resource = attrs(receiver.metrics()[0].resourceMetrics[0].resource.attributes);
  assert.equal(resource['service.name'], 'aios-middleware');
  assert.equal(resource['service.version'], '9.8.7');
  assert.equal(resource['service.instance.id'], mw.sessionId);
  assert.equal(resource['host.name'], 'test-host');
  assert.ok(!Object.keys(resource).some((k) => k.startsWith('process.')), `no process.* attributes (command line): ${Object.keys(resource).join(', ')}`);

  // Counters: per command_type, priority, outcome and source, equal to what ran; per type, equal to the core's
  // stats; control operations are not commands.
  const commands = receiver.latest('aios.commands').sum!;
  assert.equal(commands.isMonotonic, true);
  const exported = new Map<string, number>();
  for (const dp of commands.dataPoints) {
    const a = attrs(dp.attributes);
    exported.set([a.command_type, a.priority, a.outcome, a.source].join('|'), num(dp));
  }
  assert.ok(![...exported.keys()].some((k) => k.startsWith('CONTROL:')), `no control operation among the commands: ${[...exported.keys()].join(', ')}`);
  assert.deepEqual(Object.fromEntries([...exported].sort()), Object.fromEntries([...expected.ends].sort()));
  const byType = mw.telemetry.byType();
  const total = (type: string, outcome: string) =>
    [...exported].filter(([k]) => k.startsWith(`${type}|`) && k.split('|')[2] === outcome).reduce((s, [, v]) => s + v, 0);
  for (const [type, s] of Object.entries(byType)) {
    if (type.startsWith('CONTROL:')) continue;
    assert.equal(total(type, 'success'), s.successCount, `${type} success`);
    assert.equal(total(type, 'error') + total(type, 'blocked'), s.errorCount, `${type} errors (blocked included, as the core counts them)`);
    assert.equal(total(type, 'blocked'), s.blockedCount, `${type} blocked`);
    assert.equal(total(type, 'cancelled'), s.cancelledCount, `${type} cancelled`);
  }
  const { overall, bySource } = mw.telemetry.query('SUMMARY');
  const ofSource = (source: string) => [...exported].filter(([k]) => k.endsWith(`|${source}`)).reduce((s, [, v]) => s + v, 0);
  assert.equal(
    [...exported].filter(([k]) => !k.endsWith('|terminal')).reduce((s, [, v]) => s + v, 0),
    overall.totalCommands,
    'the headline: every source but terminal',
  );
  for (const [source, s] of Object.entries(bySource)) assert.equal(ofSource(source), source === 'control' ? 0 : s.count, `source ${source}`);
  assert.equal(ofSource('terminal'), ROUNDS);

  const throttled = receiver.latest('aios.command.throttles').sum!.dataPoints.reduce((s, dp) => s + num(dp), 0);
  assert.equal(throttled, overall.throttledCommands);
  assert.ok(throttled >= ROUNDS, 'the scenario throttles once a round');

  // Latency histogram, in seconds: the commands that reached their executor, their summed durations as the core's.
  const duration = receiver.latest('aios.command.duration');
  assert.equal(duration.unit, 's');
  const histogram = duration.histogram!.dataPoints;
  assert.deepEqual(histogram[0].explicitBounds.slice(0, 4), [0.001, 0.002, 0.005, 0.01]);
  for (const type of ['ECHO', 'SLOW', 'FAIL']) {
    const points = histogram.filter((dp) => attrs(dp.attributes).command_type === type);
    const count = points.reduce((s, dp) => s + Number(dp.count), 0);
    const sumMs = points.reduce((s, dp) => s + Number(dp.sum), 0) * 1000;
    const s = byType[type];
    const reached = type === 'FAIL' ? s.errorCount : s.successCount;
    assert.equal(count, reached, `${type} histogram count`);
    assert.ok(Math.abs(sumMs - s.totalDurationMs) < 0.001 * count + 1e-9, `${type} histogram sum ${sumMs} ms vs core ${s.totalDurationMs}`);
    for (const dp of points)
      assert.equal(
        dp.bucketCounts.reduce((a: number, b) => a + Number(b), 0),
        Number(dp.count),
      );
  }
  assert.equal(histogram.filter((dp) => attrs(dp.attributes).command_type === 'DROP_TABLE').length, 0, 'blocked commands never ran: no latency');

  // Gauges from the state callback.
  const depth = receiver.latest('aios.queue.depth').gauge!.dataPoints;
  assert.deepEqual(depth.map((dp) => attrs(dp.attributes).priority).sort(), ['HIGH', 'LOW', 'NORMAL']);
  assert.equal(num(receiver.latest('aios.commands.running').gauge!.dataPoints[0]), 0);
  assert.equal(num(receiver.latest('aios.service.health').gauge!.dataPoints[0]), 1);

  // The learning's accuracy per command type, as the model reports it.
  const accuracy = Object.entries(learning.model.accuracy().byType).filter(([type]) => !type.startsWith('CONTROL:'));
  assert.deepEqual(
    accuracy.map(([type]) => type).sort(),
    ['ECHO', 'FAIL', 'SLOW', 'TERMINAL:false'],
    'every command type that ran often enough was predicted and scored',
  );
  const perType = (name: string, unit: string): Record<string, number> => {
    const m = receiver.latest(name);
    assert.equal(m.unit, unit, `${name}'s unit`);
    return Object.fromEntries((m.gauge ?? m.sum)!.dataPoints.map((dp) => [String(attrs(dp.attributes).command_type), num(dp)]));
  };
  const modelled = (value: (a: TypeAccuracy) => number) => Object.fromEntries(accuracy.map(([type, a]) => [type, value(a)]));
  assert.deepEqual(
    perType('aios.prediction.duration.p90_coverage', '1'),
    modelled((a) => a.p90Coverage),
  );
  assert.deepEqual(
    perType('aios.prediction.duration.mean_absolute_error', 's'),
    modelled((a) => a.meanAbsErrorMs / 1000),
  );
  assert.deepEqual(
    perType('aios.prediction.duration.scored', '{prediction}'),
    modelled((a) => a.predictions),
  );
  learning.dispose();

  // Logs: one record per event, the event's fields as attributes.
  const records = receiver.logRecords();
  assert.equal(records.length, expected.events.length, 'one log record per telemetry event');
  const seen = records.map((r) => {
    const a = attrs(r.attributes);
    return [a.commandId, a.eventType].join('|');
  });
  assert.deepEqual(seen.sort(), expected.events.map((e) => `${e.commandId}|${e.eventType}`).sort());
  const failed = records.map((r) => ({ r, a: attrs(r.attributes) })).find(({ a }) => a.eventType === 'ERROR' && a.commandType === 'FAIL')!;
  assert.equal(failed.a['metadata.code'], 'executor_error');
  assert.equal(failed.a['metadata.message'], 'kaput');
  assert.equal(failed.a['user.sessionId'], mw.sessionId);
  assert.equal(failed.a['system.cpuPercent'], 12);
  assert.equal(failed.a['service.status'], 'healthy');
  assert.equal(failed.a.priority, 'LOW');
  assert.equal(typeof failed.a.durationMs, 'number');
  assert.equal(failed.r.severityText, 'ERROR');
  assert.equal(failed.r.eventName, 'aios.command.error');
  const event = expected.events.find((e) => e.commandId === failed.a.commandId && e.eventType === 'ERROR')!;
  assert.equal(Number(BigInt(String(failed.r.timeUnixNano)) / 1_000_000n), Date.parse(event.timestamp));

  // Privacy: the parameters never leave.
  assert.ok(!receiver.requests.some((r) => r.body.includes(SECRET_PARAMETER)), 'a command parameter was exported');

  const health = exporters.health();
  assert.equal(health.otlpMetrics?.failures, 0);
  assert.equal(health.otlpLogs?.delivered, expected.events.length);
  assert.equal(health.otlpLogs?.dropped, 0);
  assert.ok(health.otlpMetrics?.lastSuccess);
  await exporters.shutdown();
  await mw.close();
}

describe('OpenTelemetry export (OTLP/HTTP receiver on 127.0.0.1)', () => {
  it('http/protobuf: metrics equal the middleware counts, one log record per event', () => checkProtocol('http/protobuf'));
  it('http/json: the same numbers in OTLP/JSON', () => checkProtocol('http/json'));

  it('pushes metrics on its interval without being asked', async () => {
    const receiver = await new OtlpReceiver().start();
    const mw = middleware();
    const exporters = exportersFor(mw, { otlp: { endpoint: receiver.url, metricsIntervalMs: 1000, logs: false } });
    await runScenario(mw, 1);
    await until(() => receiver.metrics().length >= 1, 5000, 'a periodic metrics export');
    assert.equal(receiver.requests.filter((r) => r.path === '/v1/logs').length, 0, 'logs: false sends no logs');
    await exporters.shutdown();
    await mw.close();
  });

  it('a collector that is down never fails or slows a command; failures, drops and the error are reported; the queue stays bounded', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (dead.address() as AddressInfo).port;
    await close(dead); // nothing listens there now: connections are refused
    const mw = middleware();
    const exporters = exportersFor(mw, {
      otlp: { endpoint: `http://127.0.0.1:${port}`, timeoutMs: 300 },
      queue: { maxQueueSize: 100, maxBatchSize: 20, flushIntervalMs: 10 },
    });
    const results = [];
    for (let i = 0; i < 500; i++) results.push(await mw.execute({ commandType: 'ECHO' }, (await import('./scenario')).executor));
    assert.ok(results.every((r) => r.success));
    await until(() => (exporters.health().otlpLogs?.failures ?? 0) > 0, 5000, 'a failed log export');
    await exporters.flush();
    const h = exporters.health();
    assert.ok(h.otlpLogs!.queued <= 100 + 20, `queued ${h.otlpLogs!.queued}`);
    assert.ok(h.otlpLogs!.dropped >= 1000 - 120 - h.otlpLogs!.delivered, `dropped ${h.otlpLogs!.dropped}`);
    assert.equal(h.otlpLogs!.delivered, 0);
    assert.match(h.otlpLogs!.lastError ?? '', /ECONNREFUSED/);
    assert.ok(h.otlpMetrics!.failures >= 1);
    assert.equal(h.otlpMetrics!.lastSuccess, null);
    const t0 = Date.now();
    await exporters.shutdown();
    assert.ok(Date.now() - t0 < 5000, 'shutdown is bounded by its deadline');
    await mw.close();
  });
});

describe('the separate bundle (dist/export.js)', () => {
  it('bundledOtel() loads OpenTelemetry from its own esbuild bundle at run time, and it works across the two bundles', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aios-export-bundle-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    // The build the lead adds to esbuild.mjs: src/export/otel.ts on its own, minified as in production.
    // esbuild's API is loaded at run time: it cannot be bundled into this test.
    const { build } = createRequire(__filename)('esbuild') as typeof import('esbuild');
    await build({
      entryPoints: ['src/export/otel.ts'],
      outfile: join(dir, 'export.js'),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      minify: true,
      logLevel: 'error',
    });
    const receiver = await new OtlpReceiver().start();
    const mw = middleware();
    const exporters = createExporters(
      { otlp: { endpoint: receiver.url, metricsIntervalMs: 3_600_000 } },
      { telemetry: mw.telemetry, state: () => ({ admission: mw.admission }), sessionId: mw.sessionId, serviceVersion: '1', loadOtel: bundledOtel(dir) },
    );
    assert.deepEqual(exporters.configErrors, []);
    const expected = await runScenario(mw, 1);
    await exporters.flush();
    assert.equal(
      receiver.latest('aios.commands').sum!.dataPoints.reduce((s, dp) => s + num(dp), 0),
      exportedCommands(mw),
    );
    assert.equal(receiver.logRecords().length, expected.events.length);
    await exporters.shutdown();
    await mw.close();
  });

  it('a missing bundle is reported, and commands still run', async () => {
    const mw = middleware();
    const exporters = createExporters(
      { prometheus: { port: 1 } },
      {
        telemetry: mw.telemetry,
        state: () => ({ admission: mw.admission }),
        sessionId: mw.sessionId,
        serviceVersion: '1',
        loadOtel: bundledOtel(join(tmpdir(), 'no-such-dir')),
      },
    );
    assert.match(exporters.configErrors.join('\n'), /could not start OpenTelemetry export: .*export\.js/);
    assert.equal((await runScenario(mw, 1)).events.length > 0, true);
    await exporters.shutdown();
    await mw.close();
  });
});

describe('settings applied live', () => {
  it('turns exporters on, moves them, and off again; metric counts continue across a move', async () => {
    const a = await new OtlpReceiver().start();
    const b = await new OtlpReceiver().start();
    const mw = middleware();
    const exporters = exportersFor(mw, {});
    assert.equal(exporters.active, false);
    assert.deepEqual(exporters.health(), {});
    await runScenario(mw, 1); // nothing configured: nothing counted, nothing sent

    assert.deepEqual(exporters.update({ otlp: { endpoint: a.url, metricsIntervalMs: 3_600_000 } }), []);
    assert.equal(exporters.active, true);
    await runScenario(mw, 1);
    await exporters.flush();
    const firstTotal = a.latest('aios.commands').sum!.dataPoints.reduce((s, dp) => s + num(dp), 0);
    assert.equal(firstTotal, exportedCommands(mw) / 2, 'counted from when it was turned on');

    exporters.update({ otlp: { endpoint: b.url, protocol: 'http/json' } });
    await exporters.ready();
    await runScenario(mw, 1);
    await exporters.flush();
    assert.equal(
      b.latest('aios.commands').sum!.dataPoints.reduce((s, dp) => s + num(dp), 0),
      2 * firstTotal,
      'the same cumulative series at the new endpoint',
    );
    const before = a.requests.length;

    assert.match(exporters.update({ otlp: { endpoint: 'nope' } })[0], /aios\.export\.otlp\.endpoint must be an http/);
    exporters.update({ otlp: { endpoint: '' } });
    await exporters.ready();
    assert.equal(exporters.active, false);
    assert.deepEqual(exporters.health(), {});
    await runScenario(mw, 1);
    // Shutting down sends whatever is pending: nothing may have been, with the exporter off.
    await exporters.shutdown();
    assert.equal(a.requests.length, before, 'off means nothing is sent');
    await mw.close();
  });
});

describe('Prometheus /metrics (the exporter alone; Debian prometheus scrapes it in the receivers tier)', () => {
  function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; body: string; contentType?: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, contentType: res.headers['content-type'] }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('serves the same counts on 127.0.0.1 only, GET /metrics only, loopback Host only', async () => {
    const mw = middleware();
    // Port 0 in settings means off; the test asks startOtel for a free port directly through the options.
    const exporters = createExporters(
      { prometheus: { port: 1 } },
      {
        telemetry: mw.telemetry,
        state: () => ({ admission: mw.admission }),
        sessionId: mw.sessionId,
        serviceVersion: '1.0.0',
        loadOtel: () => ({ startOtel: (o) => otel.startOtel({ ...o, prometheusPort: 0 }) }),
      },
    );
    const port = await exporters.prometheusPort();
    assert.ok(port && port > 0);
    const expected = await runScenario(mw, 2);
    const { status, body, contentType } = await get(port, '/metrics');
    assert.equal(status, 200);
    assert.equal(contentType, 'text/plain; version=0.0.4; charset=utf-8', 'the exposition format and its version');
    const value = (series: RegExp) =>
      body
        .split('\n')
        .filter((l) => series.test(l))
        .reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    assert.equal(value(/^aios_commands_total\{.*command_type="ECHO".*outcome="success"/), expected.ends.get('ECHO|HIGH|success|palette')! * 3);
    const { overall, bySource } = mw.telemetry.query('SUMMARY');
    assert.equal(value(/^aios_commands_total\{(?!.*source="terminal")/), overall.totalCommands, 'the headline: every source but terminal');
    assert.equal(value(/^aios_commands_total\{.*source="terminal"/), bySource.terminal?.count);
    assert.equal(value(/^aios_commands_total\{.*source="api"/), bySource.api?.count);
    assert.doesNotMatch(body, /^aios_commands_total\{.*CONTROL:/m, 'control operations are not commands');
    assert.match(body, /^target_info\{.*service_name="aios-middleware"/m);
    assert.match(body, /^aios_command_duration_seconds_bucket\{.*le="\+Inf"/m);
    assert.match(body, /^aios_command_duration_seconds_bucket\{.*le="0\.025"/m, 'bucket bounds in seconds');
    assert.match(body, /^aios_throttle_delay_seconds\{/m);
    assert.doesNotMatch(body, /aios_service_health/, 'no service status given: no health gauge');

    assert.equal((await get(port, '/other')).status, 404);
    assert.equal((await get(port, '/metrics', `evil.example:${port}`)).status, 403, 'DNS rebinding: a foreign Host is refused');
    const h = exporters.health().prometheus!;
    assert.equal(h.target, `http://127.0.0.1:${port}/metrics`);
    assert.equal(h.delivered, 1, 'one scrape served');
    await exporters.shutdown();
    await assert.rejects(get(port, '/metrics'), /ECONNREFUSED/, 'the server is closed on shutdown');
    await mw.close();
  });

  it("names on /metrics are OpenTelemetry's with the unit as a word, as its Prometheus compatibility rules say", () => {
    assert.equal(otel.prometheusName('aios.command.duration', 's', false), 'aios.command.duration_seconds');
    assert.equal(otel.prometheusName('aios.throttle.delay', 's', true), 'aios.throttle.delay_seconds');
    assert.equal(otel.prometheusName('aios.x.coverage', '1', true), 'aios.x.coverage_ratio', 'a dimensionless gauge is a ratio');
    assert.equal(otel.prometheusName('aios.x.coverage_ratio', '1', true), 'aios.x.coverage_ratio', 'never twice');
    assert.equal(otel.prometheusName('aios.commands', '{command}', false), 'aios.commands', 'an annotation adds nothing (the exporter adds _total)');
    assert.equal(otel.prometheusName('aios.service.health', '', true), 'aios.service.health');
  });

  it('a port in use is reported by name, and the rest keeps working', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen({ host: '127.0.0.1', port: 0 }, r));
    const port = (taken.address() as AddressInfo).port;
    const mw = middleware();
    const messages: string[] = [];
    const exporters = createExporters(
      { prometheus: { port } },
      {
        telemetry: mw.telemetry,
        state: () => ({ admission: mw.admission }),
        sessionId: mw.sessionId,
        serviceVersion: '1.0.0',
        loadOtel: () => otel,
        log: (_level, m) => messages.push(m),
      },
    );
    assert.equal(await exporters.prometheusPort(), undefined);
    const h = exporters.health().prometheus!;
    assert.match(h.lastError ?? '', new RegExp(`port ${port} on 127.0.0.1 is in use`));
    await until(() => messages.length > 0, 2000, 'a log line');
    assert.match(messages[0], /aios\.export\.prometheus\.port/);
    assert.ok((await runScenario(mw, 1)).events.length > 0);
    await exporters.shutdown();
    await close(taken);
    await mw.close();
  });
});
