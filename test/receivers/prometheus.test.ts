// Debian's real Prometheus scrapes the exporter's /metrics from a plain-Node middleware; its HTTP API must
// then hold the middleware's own counts and the learning model's accuracy, and Debian's promtool must find
// nothing to say about a real scrape.
// Prometheus runs on 127.0.0.1 with its storage in a temp folder and is stopped after. The `receivers` tier
// installs the Debian package (prometheus and promtool, when root) before this runs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { functionExecutor } from '../../src/core/execution/executors';
import { attachLearning } from '../../src/core/learning';
import { CONTROL_PREFIX } from '../../src/core/types';
import { createExporters, type Exporters } from '../../src/export';
import * as otel from '../../src/export/otel';
import { freePort } from '../support/net';
import { Prometheus, promtoolCheckMetrics } from '../support/prometheus';
import { middleware, runScenario } from '../unit/export/scenario';

/** Control operations as the control plane runs them: CONTROL:<operation>, HIGH, no admission slot; one refused. */
async function runControlOperations(mw: ReturnType<typeof middleware>): Promise<void> {
  const service = functionExecutor({
    [`${CONTROL_PREFIX}UPDATE_LOG_LEVEL`]: () => ({ logLevel: 'DEBUG' }),
    [`${CONTROL_PREFIX}FLUSH_CACHE`]: () => ({ flushed: 3 }),
    [`${CONTROL_PREFIX}BCM_RESET`]: () => {
      throw new Error('not allowed now');
    },
  });
  for (const operation of ['UPDATE_LOG_LEVEL', 'FLUSH_CACHE', 'BCM_RESET', 'UPDATE_LOG_LEVEL'])
    await mw.execute({ commandType: `${CONTROL_PREFIX}${operation}`, priority: 'HIGH' }, service, { bypassAdmission: true });
}

describe('Debian prometheus scrapes /metrics', () => {
  const prometheus = new Prometheus();
  const mw = middleware('prometheus-receiver');
  // Predicts a type after 3 of its commands, so the scenario's are scored.
  const learning = attachLearning(mw, { minSamples: 3 });
  let exporters: Exporters;
  let port: number;

  before(async () => {
    port = await freePort();
    exporters = createExporters(
      { prometheus: { port } },
      {
        telemetry: mw.telemetry,
        state: () => ({ admission: mw.admission, serviceStatus: 'healthy', predictionAccuracy: learning.model.accuracy() }),
        sessionId: mw.sessionId,
        serviceVersion: '0.0.1',
        loadOtel: () => otel,
      },
    );
    assert.equal(await exporters.prometheusPort(), port);
    await prometheus.start(`127.0.0.1:${port}`);
    // Commands of several types, successes, errors, blocked, cancelled and throttled ones, and control operations.
    await runScenario(mw, 4);
    await runControlOperations(mw);
  });

  after(async () => {
    await prometheus.stop();
    await exporters?.shutdown();
    learning.dispose();
    await mw.close();
  });

  it('the command counter in Prometheus equals the middleware count', async () => {
    const { overall, bySource } = mw.telemetry.query('SUMMARY');
    const byType = mw.telemetry.byType();
    const commands = 'sum(aios_commands_total{source!="terminal"})';
    // Scraped every second: poll the API until the newest sample holds the count.
    let seen: number | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      seen = await prometheus.value(commands);
      if (seen === overall.totalCommands) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    // The headline is every source but terminal (commands typed in a terminal, only observed); each source apart.
    assert.equal(seen, overall.totalCommands, commands);
    for (const source of ['palette', 'api', 'terminal', 'other'] as const) {
      assert.equal(await prometheus.value(`sum(aios_commands_total{source="${source}"})`), bySource[source]?.count, `source ${source}`);
    }
    assert.equal(await prometheus.value('count(aios_commands_total{command_type=~"CONTROL:.*"}) or vector(0)'), 0, 'control operations are not commands');
    assert.equal(await prometheus.value('sum(aios_commands_total{command_type="ECHO",outcome="success"})'), byType.ECHO.successCount);
    assert.equal(await prometheus.value('sum(aios_commands_total{outcome="blocked"})'), overall.blockedCommands);
    assert.equal(await prometheus.value('sum(aios_commands_total{command_type="ECHO",priority="HIGH",outcome="success"})'), 4);
    assert.equal(await prometheus.value('sum(aios_command_throttles_total)'), overall.throttledCommands);
    assert.equal(await prometheus.value('sum(aios_command_duration_seconds_count{command_type="SLOW"})'), byType.SLOW.successCount);
    const sumSeconds = await prometheus.value('sum(aios_command_duration_seconds_sum{command_type="SLOW"})');
    assert.ok(
      Math.abs(sumSeconds! * 1000 - byType.SLOW.totalDurationMs) < 0.01,
      `SLOW's durations in seconds: ${sumSeconds} s vs ${byType.SLOW.totalDurationMs} ms`,
    );
    assert.equal(await prometheus.value('aios_service_health'), 1);
    assert.equal(await prometheus.value('sum(aios_queue_depth)'), 0);
    const info = await prometheus.query('target_info');
    assert.equal(info[0]?.metric.service_name, 'aios-middleware');
    assert.equal(info[0]?.metric.service_instance_id, mw.sessionId);
    const up = await prometheus.value(`up{instance="127.0.0.1:${port}"}`);
    assert.equal(up, 1, 'the target is up');
    assert.ok((exporters.health().prometheus?.delivered ?? 0) >= 1, 'scrapes are counted');
  });

  it("Debian's promtool check metrics finds nothing to say about a real scrape", async () => {
    const scrape = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(scrape.status, 200);
    const text = await scrape.text();
    // The scrape holds what the lint is meant to see: every kind of metric, with labels.
    for (const series of [
      'aios_commands_total{',
      'aios_command_throttles_total{',
      'aios_command_duration_seconds_bucket{',
      'source="terminal"',
      'aios_prediction_duration_p90_coverage_ratio{',
      'aios_prediction_duration_mean_absolute_error_seconds{',
      'aios_prediction_duration_scored_total{',
    ])
      assert.ok(text.includes(series), `the scrape holds ${series}`);
    const { code, output } = promtoolCheckMetrics(text);
    assert.equal(output, '', 'no warning');
    assert.equal(code, 0, 'promtool check metrics exits 0');
  });

  it('/metrics says its exposition format and version, and Prometheus scrapes it without a parse error', async () => {
    const scrape = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(scrape.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    await scrape.arrayBuffer();
    const targets = (await (await fetch(`${prometheus.url}/api/v1/targets`)).json()) as {
      data: { activeTargets: { scrapeUrl: string; health: string; lastError: string }[] };
    };
    const target = targets.data.activeTargets.find((t) => t.scrapeUrl === `http://127.0.0.1:${port}/metrics`);
    assert.equal(target?.lastError, '', 'the last scrape parsed');
    assert.equal(target?.health, 'up');
  });

  it('the p90 coverage and mean error per command type in Prometheus equal what the learning model reports', async () => {
    const byType = learning.model.accuracy().byType;
    assert.ok(byType.SLOW?.predictions > 0 && byType.ECHO?.predictions > 0, `scored: ${JSON.stringify(byType)}`);
    // The newest scrape may predate the last command: poll until Prometheus holds the model's figure.
    const coverage = 'aios_prediction_duration_p90_coverage_ratio{command_type="SLOW"}';
    let seen: number | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      seen = await prometheus.value(coverage);
      if (seen === byType.SLOW.p90Coverage) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(seen, byType.SLOW.p90Coverage, coverage);
    // Control operations are not commands: the model learns them, the exporter leaves them out.
    assert.equal(await prometheus.value('count(aios_prediction_duration_p90_coverage_ratio{command_type=~"CONTROL:.*"}) or vector(0)'), 0);
    for (const [type, a] of Object.entries(byType).filter(([t]) => !t.startsWith(CONTROL_PREFIX))) {
      assert.equal(await prometheus.value(`aios_prediction_duration_p90_coverage_ratio{command_type="${type}"}`), a.p90Coverage, `${type} p90 coverage`);
      assert.equal(
        await prometheus.value(`aios_prediction_duration_mean_absolute_error_seconds{command_type="${type}"}`),
        a.meanAbsErrorMs / 1000,
        `${type} mean error`,
      );
      assert.equal(await prometheus.value(`aios_prediction_duration_scored_total{command_type="${type}"}`), a.predictions, `${type} scored`);
    }
  });
});
