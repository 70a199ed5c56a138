// Debian's real Prometheus scrapes the exporter's /metrics from a plain-Node middleware; its HTTP API must
// then hold the middleware's own counts. Prometheus runs on 127.0.0.1 with its storage in a temp folder and
// is stopped after. The `receivers` tier installs the Debian package (when root) before this runs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createExporters, type Exporters } from '../../src/export';
import * as otel from '../../src/export/otel';
import { freePort } from '../support/net';
import { Prometheus } from '../support/prometheus';
import { middleware, runScenario } from '../unit/export/scenario';

describe('Debian prometheus scrapes /metrics', () => {
  const prometheus = new Prometheus();
  const mw = middleware('prometheus-receiver');
  let exporters: Exporters;
  let port: number;

  before(async () => {
    port = await freePort();
    exporters = createExporters(
      { prometheus: { port } },
      {
        telemetry: mw.telemetry,
        state: () => ({ admission: mw.admission, serviceStatus: 'healthy' }),
        sessionId: mw.sessionId,
        serviceVersion: '0.0.1',
        loadOtel: () => otel,
      },
    );
    assert.equal(await exporters.prometheusPort(), port);
    await prometheus.start(`127.0.0.1:${port}`);
  });

  after(async () => {
    await prometheus.stop();
    await exporters?.shutdown();
    await mw.close();
  });

  it('the command counter in Prometheus equals the middleware count', async () => {
    await runScenario(mw, 4);
    const { overall, bySource } = mw.telemetry.query('SUMMARY');
    const byType = mw.telemetry.byType();
    // Scraped every second: poll the API until the newest sample holds the count.
    let seen: number | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      seen = await prometheus.value('sum(aios_commands_total{source!="terminal"})');
      if (seen === overall.totalCommands) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // The headline is every source but terminal (commands typed in a terminal, only observed); each source apart.
    assert.equal(seen, overall.totalCommands, 'sum(aios_commands_total{source!="terminal"})');
    for (const source of ['palette', 'api', 'terminal', 'other'] as const) {
      assert.equal(await prometheus.value(`sum(aios_commands_total{source="${source}"})`), bySource[source]?.count, `source ${source}`);
    }
    assert.equal(await prometheus.value('count(aios_commands_total{commandType=~"CONTROL:.*"}) or vector(0)'), 0, 'control operations are not commands');
    assert.equal(await prometheus.value('sum(aios_commands_total{commandType="ECHO",outcome="success"})'), byType.ECHO.successCount);
    assert.equal(await prometheus.value('sum(aios_commands_total{outcome="blocked"})'), overall.blockedCommands);
    assert.equal(await prometheus.value('sum(aios_commands_total{commandType="ECHO",priority="HIGH",outcome="success"})'), 4);
    assert.equal(await prometheus.value('sum(aios_command_throttles_total)'), overall.throttledCommands);
    assert.equal(await prometheus.value('sum(aios_command_duration_count{commandType="SLOW"})'), byType.SLOW.successCount);
    assert.equal(await prometheus.value('aios_service_health'), 1);
    assert.equal(await prometheus.value('sum(aios_queue_depth)'), 0);
    const info = await prometheus.query('target_info');
    assert.equal(info[0]?.metric.service_name, 'aios-middleware');
    assert.equal(info[0]?.metric.service_instance_id, mw.sessionId);
    const up = await prometheus.value(`up{instance="127.0.0.1:${port}"}`);
    assert.equal(up, 1, 'the target is up');
    assert.ok((exporters.health().prometheus?.delivered ?? 0) >= 1, 'scrapes are counted');
  });
});
