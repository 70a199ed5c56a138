// Debian's real Prometheus scrapes the exporter's /metrics from a plain-Node middleware; its HTTP API must
// then hold the middleware's own counts. Prometheus runs on 127.0.0.1 with its storage in a temp folder and
// is stopped after. The `receivers` tier installs the Debian package (when root) before this runs.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createExporters, type Exporters } from '../../src/export';
import * as otel from '../../src/export/otel';
import { middleware, runScenario } from '../unit/export/scenario';

const PROMETHEUS = process.env.AIOS_PROMETHEUS ?? '/usr/bin/prometheus';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

interface PromVector {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

class Prometheus {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'aios-prometheus-'));
  private stderr = '';
  port = 0;

  async start(target: string): Promise<void> {
    if (!existsSync(PROMETHEUS))
      throw new Error(`Prometheus not found at ${PROMETHEUS}: run the receivers tier as root (it installs Debian's prometheus), or set AIOS_PROMETHEUS`);
    this.port = await freePort();
    const config = join(this.dir, 'prometheus.yml');
    writeFileSync(
      config,
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: aios\n    static_configs:\n      - targets: ['${target}']\n`,
    );
    this.child = spawn(
      PROMETHEUS,
      [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${this.port}`, `--storage.tsdb.path=${join(this.dir, 'data')}`, '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.child.stderr!.on('data', (c: Buffer) => (this.stderr = (this.stderr + c.toString()).slice(-4000)));
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ok = await fetch(`${this.url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (this.child.exitCode !== null || Date.now() > deadline) throw new Error(`prometheus did not become ready: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async query(promql: string): Promise<PromVector['data']['result']> {
    const r = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await r.json()) as PromVector;
    assert.equal(body.status, 'success', JSON.stringify(body));
    return body.data.result;
  }

  async value(promql: string): Promise<number | undefined> {
    const result = await this.query(promql);
    return result.length === 0 ? undefined : Number(result[0].value[1]);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

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
    const overall = mw.telemetry.query('SUMMARY').overall;
    const byType = mw.telemetry.byType();
    // Scraped every second: poll the API until the newest sample holds the count.
    let seen: number | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      seen = await prometheus.value('sum(aios_commands_total)');
      if (seen === overall.totalCommands) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(seen, overall.totalCommands, 'sum(aios_commands_total)');
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
