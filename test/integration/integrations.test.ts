// Telemetry and control beyond the window, and admission that reacts, in the real host: the control endpoint
// from a script's side (real HTTP), Prometheus (Debian's real one) scraping the extension host, the seed's
// telemetry endpoint, an export file, a remediation rule that fires and restores, the adaptive limit under
// AI_INFERENCE load (figures in test-results/host-adaptive.json), and a limit shared with another member of
// the cluster through Debian's real redis-server.
import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { createMiddleware } from '../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../src/core/system/sampler';
import { Commands, STATUS_BAR_ITEM } from '../../src/shared/ids';
import { freePort } from '../support/net';
import { Prometheus } from '../support/prometheus';
import { RedisServer } from '../support/redis';
import { record } from '../reliability/table';
import { expandTreeSection, onScreen, screenshot, statusBarText, statusBarTooltip, treeRows } from './ui';
import { healthyAios, waitUntil, withSettings, type AiosApi } from './util';

async function http(url: string, init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json: json as Record<string, any>, text };
}

/** GET /healthz with a Host header of our choosing (fetch may not set Host; node:http may). */
function statusWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/healthz`, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A receiver for the PowerShell-compatible telemetry endpoint: records each batch by its id. */
async function seedReceiver(): Promise<{ url: string; batches: Map<string, { events: Record<string, unknown>[] }>; close(): Promise<void> }> {
  const batches = new Map<string, { events: Record<string, unknown>[] }>();
  const server: Server = createServer((req: IncomingMessage, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      const body = JSON.parse(text) as { batchId: string; events: Record<string, unknown>[] };
      batches.set(body.batchId, body);
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/telemetry`,
    batches,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe('beyond the window', function () {
  this.timeout(180_000);
  let api: AiosApi;

  before(async () => {
    api = await healthyAios();
  });

  it("the control endpoint: loopback, a token from secret storage, the palette's control plane and pipeline", async function () {
    await withSettings({ 'controlServer.enabled': true }, async () => {
      const url = await waitUntil(() => api.context.controlServer.url, 15_000, 'the control endpoint to listen');
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      await vscode.env.clipboard.writeText('');
      await vscode.commands.executeCommand(Commands.copyControlToken);
      const token = await waitUntil(async () => (await vscode.env.clipboard.readText()) || undefined, 5000, 'the token on the clipboard');
      assert.ok(token.length >= 32);

      assert.equal((await http(`${url}/healthz`)).status, 200);
      assert.equal((await http(`${url}/api/telemetry?detail=SUMMARY`)).status, 401, 'no token');
      assert.equal((await http(`${url}/api/telemetry?detail=SUMMARY`, { token: 'wrong-token-wrong-token' })).status, 401, 'a wrong token');
      assert.equal(await statusWithHost(url, 'evil.example'), 403, 'a Host that is not loopback (DNS rebinding)');

      const level = await http(`${url}/admin/control`, { token, body: { Operation: 'UPDATE_LOG_LEVEL', Value: 'WARNING', Source: 'PowerShell' } });
      assert.equal(level.status, 200, level.text);
      assert.equal((await api.context.supervisor.checkHealth())?.logLevel, 'WARNING', 'Sync-PythonState reached the service');
      const echo = await http(`${url}/api/commands`, { token, body: { CommandType: 'ECHO', Priority: 'HIGH', Parameters: { from: 'curl' } } });
      assert.equal(echo.status, 200, echo.text);
      assert.deepEqual(echo.json.result, { from: 'curl' });
      const event = api
        .telemetry('DETAILED')
        .recentEvents.filter((e) => e.eventType === 'START' && e.commandType === 'ECHO')
        .pop();
      assert.equal(event?.metadata?.source, 'endpoint', 'recorded as coming from the endpoint');
      const realtime = api.telemetry('REALTIME') as unknown as { controlServer: { url: string } };
      assert.equal(realtime.controlServer.url, url);
      if (onScreen()) {
        const tip = await statusBarTooltip('aios.status', /Control endpoint/);
        assert.ok(tip.includes(url), tip);
        await screenshot('integrations-tooltip-endpoint');
      }
      await api.context.control({ operation: 'UPDATE_LOG_LEVEL', value: 'INFO' });
    });
    await waitUntil(() => api.context.controlServer.url === undefined || undefined, 10_000, 'the endpoint to stop');
  });

  it("Debian's Prometheus scrapes the extension host: its command counter follows the extension's own count, the prediction coverage the learning's", async function () {
    const port = await freePort();
    const prometheus = new Prometheus();
    // The exporter counts from when it starts (as a Prometheus counter does), the extension since the host started.
    const echoes = () => api.telemetry('DETAILED').byType.ECHO?.successCount ?? 0;
    const before = echoes();
    await withSettings({ 'export.prometheus.port': port }, async () => {
      await waitUntil(() => api.context.exports.health().prometheus, 30_000, 'the Prometheus exporter');
      // More than the 20 a type needs before it is predicted, so some of these are scored.
      for (let i = 0; i < 25; i++)
        assert.equal((await api.execute({ commandType: 'ECHO', priority: i % 2 ? 'LOW' : 'HIGH', parameters: { i } })).success, true);
      await prometheus.start(`127.0.0.1:${port}`);
      try {
        const own = () => echoes() - before;
        const seen = await waitUntil(
          async () => {
            const v = await prometheus.value('sum(aios_commands_total{command_type="ECHO",outcome="success"})');
            return v === own() ? v : undefined;
          },
          30_000,
          'Prometheus to hold the extension host count',
        );
        assert.equal(seen, own());
        const total = await prometheus.value('sum(aios_commands_total)');
        assert.ok(total !== undefined && total >= seen);
        // The extension hands its learning's accuracy to the exporters at each scrape.
        const coverage = await waitUntil(
          async () => {
            const modelled = api.context.learning.model.accuracy().byType.ECHO;
            const v = await prometheus.value('aios_prediction_duration_p90_coverage_ratio{command_type="ECHO"}');
            return modelled !== undefined && v === modelled.p90Coverage ? { v, scored: modelled.predictions } : undefined;
          },
          30_000,
          "Prometheus to hold the learning model's p90 coverage of ECHO",
        );
        assert.ok(coverage.scored >= 5, `ECHO's predictions were scored: ${coverage.scored}`);
      } finally {
        await prometheus.stop();
      }
    });
  });

  it("the PowerShell-compatible telemetry endpoint gets every event in the PowerShell tool's field names, and the tree shows its health", async function () {
    const receiver = await seedReceiver();
    try {
      await withSettings({ 'export.http.endpoint': receiver.url, 'export.queue.flushIntervalMs': 100 }, async () => {
        await waitUntil(() => api.context.exports.health().http, 10_000, 'the endpoint exporter');
        const marker = `seed-${Date.now()}`;
        const r = await api.execute({ commandType: 'ECHO', parameters: { marker } });
        const events = await waitUntil(
          () => {
            const all = [...receiver.batches.values()].flatMap((b) => b.events).filter((e) => e.CommandId === r.commandId);
            return all.length >= 2 ? all : undefined;
          },
          15_000,
          'START and COMPLETE at the receiver',
        );
        assert.deepEqual(events.map((e) => e.EventType).sort(), ['COMPLETE', 'START']);
        for (const key of ['Timestamp', 'EventType', 'CommandId', 'CommandType', 'Priority', 'UserContext', 'SystemContext', 'AIOSContext']) {
          assert.ok(key in events[0], `${key} in ${JSON.stringify(events[0]).slice(0, 200)}`);
        }
        assert.ok(!JSON.stringify(events).includes(marker), 'parameters never leave the machine');
        if (onScreen()) {
          await expandTreeSection('Export');
          let rows: string[] = [];
          await waitUntil(
            async () => {
              rows = await treeRows('Telemetry');
              return rows.some((l) => /Telemetry endpoint.*ok \d/.test(l)) || undefined;
            },
            10_000,
            'the Export row',
          ).catch((err: Error) => {
            throw new Error(`${err.message}: ${rows.join(' | ')}`);
          });
          await screenshot('integrations-tree-export');
        }
      });
    } finally {
      await receiver.close();
    }
  });

  it('"AIOS: Export Telemetry" writes the events of a time range as CSV, from the logs on disk', async () => {
    const from = Date.now();
    for (let i = 0; i < 5; i++) await api.execute({ commandType: 'ECHO', parameters: { i } });
    const out = join(tmpdir(), `aios-export-${process.pid}-${Date.now()}.csv`);
    const result = await vscode.commands.executeCommand<{ eventsWritten: number; skippedLines: number; outputPath: string }>(Commands.exportTelemetry, {
      outputPath: out,
      format: 'csv',
      from,
    });
    assert.ok(result.eventsWritten >= 10, `START and COMPLETE of five commands at least (${result.eventsWritten})`);
    const lines = readFileSync(out, 'utf8').trim().split(/\r\n/);
    assert.match(lines[0], /^timestamp,eventType,commandId,commandType,priority,durationMs/);
    assert.equal(lines.length - 1, result.eventsWritten);
    assert.ok(lines.slice(1).every((l) => Date.parse(l.split(',')[0]) >= from - 1000));
  });

  it('a rule fires when its metric holds and restores when it clears, through the control plane, recorded as RULE events', async function () {
    const rule = {
      name: 'queue-high',
      when: { metric: 'queueDepth', above: 2, forSeconds: 1 },
      then: { control: { operation: 'CUSTOM_COMMAND', parameters: { command: 'reduce_complexity', arguments: { factor: 0.5 } } } },
      restore: { control: { operation: 'CUSTOM_COMMAND', parameters: { command: 'reduce_complexity', arguments: { factor: 1 } } } },
      cooldownSeconds: 0,
    };
    await withSettings({ rules: [rule] }, async () => {
      await waitUntil(() => api.context.rules.states()[0]?.status === 'armed' || undefined, 10_000, 'the rule to be armed');
      api.context.middleware.pause();
      const held = Array.from({ length: 4 }, (_, i) => api.execute({ commandType: 'ECHO', parameters: { held: i } }));
      try {
        await waitUntil(
          async () => ((await api.context.supervisor.checkHealth())?.inference.complexityFactor === 0.5 ? true : undefined),
          20_000,
          'the rule to fire',
        );
        assert.equal(api.context.rules.states()[0].status, 'firing');
        if (onScreen()) {
          await expandTreeSection('Rules');
          await waitUntil(
            async () => ((await treeRows('Telemetry')).some((l) => /queue-high.*firing/.test(l)) ? true : undefined),
            10_000,
            'the firing rule in the tree',
          );
          await screenshot('integrations-tree-rule-firing');
        }
      } finally {
        api.context.middleware.resume();
      }
      for (const r of await Promise.all(held)) assert.equal(r.success, true);
      await waitUntil(
        async () => ((await api.context.supervisor.checkHealth())?.inference.complexityFactor === 1 ? true : undefined),
        20_000,
        'the rule to restore',
      );
      const events = api
        .telemetry('DETAILED')
        .recentEvents.filter((e) => e.commandType === 'RULE:queue-high')
        .map((e) => e.metadata?.action);
      assert.deepEqual(events.slice(-2), ['fire', 'restore']);
      const o = api.telemetry('SUMMARY').overall;
      assert.equal(api.telemetry('DETAILED').byType['RULE:queue-high'].count, 2);
      assert.ok(o.totalCommands >= 4, 'rule events are not commands');
    });
  });

  it('the adaptive limit under AI_INFERENCE load against the real service (figures, not assertions)', async function () {
    const resultsDir = process.env.AIOS_TEST_RESULTS ?? tmpdir();
    await withSettings(
      { 'throttle.mode': 'adaptive', 'throttle.minConcurrency': 1, 'throttle.maxConcurrency': 16, maxConcurrency: 8, baseDelayMs: 0 },
      async () => {
        await waitUntil(() => api.context.middleware.admission.mode === 'adaptive' || undefined, 10_000, 'adaptive mode');
        const limits: { t: number; limit: number; reason: string }[] = [];
        const sub = api.context.middleware.onLimitChange((c) => limits.push({ t: Date.now(), limit: c.to, reason: c.reason }));
        const t0 = Date.now();
        let done = 0;
        const latencies: number[] = [];
        const until = t0 + 15_000;
        await Promise.all(
          Array.from({ length: 24 }, async (_, w) => {
            while (Date.now() < until) {
              const r = await api.execute({ commandType: 'AI_INFERENCE', parameters: { prompt: `load ${w}`, seed: done, maxTokens: 30 } });
              if (r.success) {
                done++;
                latencies.push(r.durationMs);
              }
            }
          }),
        );
        sub.dispose();
        latencies.sort((a, b) => a - b);
        const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
        const figures = {
          seconds: (Date.now() - t0) / 1000,
          commandsPerSecond: Math.round(done / ((Date.now() - t0) / 1000)),
          p50Ms: Math.round(q(0.5)),
          p99Ms: Math.round(q(0.99)),
          finalLimit: api.context.middleware.admission.limit,
          adaptive: api.context.middleware.admission.adaptive,
          limitChanges: limits,
        };
        writeFileSync(join(resultsDir, 'host-adaptive.json'), JSON.stringify(figures, null, 2));
        console.log(
          `      adaptive under AI_INFERENCE load: ${figures.commandsPerSecond}/s, p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms, limit now ${figures.finalLimit} after ${limits.length} changes`,
        );
        assert.ok(done > 0, 'the load ran');
      },
    );
  });

  it('a limit shared through Redis with another member: this window waits for its slot, shows who holds them, and keeps to its own limit while Redis is down', async function () {
    this.timeout(120_000);
    const redis = new RedisServer();
    await redis.start();
    const name = `inhost-${Date.now()}`;
    // The other member: a middleware of its own in this process (as another window would be), two slots.
    const other = createMiddleware({ sampler: new StaticSampler(), config: { maxConcurrency: 2, baseDelayMs: 0, cluster: { redisUrl: redis.url, name } } });
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    try {
      const holding = [0, 1].map(() => other.execute({ commandType: 'HOLD' }, () => released));
      await waitUntil(
        () => (other.admission.shared?.status === 'shared' && other.admission.active === 2) || undefined,
        15_000,
        'the other member to hold 2 slots',
      );
      await withSettings({ 'cluster.redisUrl': redis.url, 'cluster.name': name, maxConcurrency: 2, baseDelayMs: 0 }, async () => {
        await waitUntil(() => api.context.middleware.admission.shared?.status === 'shared' || undefined, 15_000, 'this window in the cluster');
        // Both slots are the other member's: ours waits in the queue, although nothing runs here.
        const mine = api.execute({ commandType: 'ECHO', parameters: { shared: true } });
        await waitUntil(() => api.context.middleware.admission.queued.NORMAL === 1 || undefined, 10_000, 'our ECHO to wait');
        assert.equal(api.context.middleware.admission.active, 0);
        if (onScreen()) {
          // The indicator renders a few times a second: wait for the render after our ECHO queued.
          const label = await statusBarText(STATUS_BAR_ITEM, /cluster 2\/2 · 1 queued/);
          assert.match(label, /AIOS 0 · cluster 2\/2 · 1 queued/);
          const tip = await statusBarTooltip(STATUS_BAR_ITEM, /slots in use/);
          // Windows with a lease: the holder, and this one while the lease its last ask took is still running.
          assert.match(
            tip,
            new RegExp(`shared '${name}' on redis://127\\.0\\.0\\.1:${redis.port}: 2 of 2 slots in use by (1 window|2 windows); this window holds 0`),
          );
          await expandTreeSection('System');
          const rows = await waitUntil(
            async () => {
              const r = await treeRows('Telemetry');
              return r.some((l) => /\(this window\)/.test(l)) && r.some((l) => /2 slots · lease/.test(l)) ? r : undefined;
            },
            15_000,
            'the holders in the tree',
          );
          assert.ok(
            rows.some((l) => /waiting HIGH 0 \/ NORMAL 1 \/ LOW 0/.test(l)),
            rows.join('\n'),
          );
          await screenshot('integrations-shared-limit');
        }
        release();
        const r = await mine;
        assert.equal(r.success, true, JSON.stringify(r.error));
        await Promise.all(holding);

        // Redis goes away: this window keeps to its own limit, says so once, and runs at once.
        await redis.stop();
        await waitUntil(() => api.context.middleware.admission.shared?.status === 'fallback' || undefined, 15_000, 'the fallback');
        if (onScreen()) assert.match(await statusBarText(STATUS_BAR_ITEM, /Redis unreachable/), /AIOS \d\/2 · Redis unreachable/);
        assert.equal((await api.execute({ commandType: 'ECHO', parameters: { fallback: true } })).success, true);
        if (onScreen()) await screenshot('integrations-shared-limit-fallback');
        await redis.start();
        await waitUntil(() => api.context.middleware.admission.shared?.status === 'shared' || undefined, 30_000, 'the shared limit again');
      });
      await waitUntil(() => api.context.middleware.admission.mode !== 'shared' || undefined, 10_000, 'this window to leave the cluster');
    } finally {
      release();
      await other.close();
      await redis.dispose();
    }
  });
});

// The deny policy on control command names, from every way in: part of the reliability tier (test/run.mjs runs
// describes named "reliability: …" in one host; the integration tier leaves them to it).
describe('reliability: control commands under the deny policy', function () {
  this.timeout(60_000);
  let api: AiosApi;

  before(async () => {
    api = await healthyAios();
  });

  it('a control command denied by name (CUSTOM_COMMAND:reduce*) is blocked from the palette command, the API, the control endpoint and a rule; it never reaches Python', async function () {
    const pattern = 'CUSTOM_COMMAND:reduce*';
    const call = { command: 'reduce_complexity', arguments: { factor: 0.25 } };
    const rule = {
      name: 'reduce-now',
      when: { metric: 'queueDepth', below: 1, forSeconds: 0 },
      then: { control: { operation: 'CUSTOM_COMMAND', parameters: call } },
    };
    const factor = async () => (await api.context.supervisor.checkHealth())?.inference.complexityFactor;
    assert.equal(await factor(), 1);
    const blocked = () => api.telemetry('DETAILED').byType['CONTROL:CUSTOM_COMMAND']?.blockedCount ?? 0;
    const blockedBefore = blocked();
    const reason = `Command type 'CUSTOM_COMMAND:reduce_complexity' is blocked by the deny pattern '${pattern}' (setting aios.security.denyPatterns)`;
    await withSettings({ 'security.denyPatterns': ['*DELETE*', '*DROP*', pattern], 'controlServer.enabled': true }, async () => {
      await waitUntil(
        () => api.context.middleware.checkPolicy('CONTROL:CUSTOM_COMMAND', 'CUSTOM_COMMAND:reduce_complexity').allowed === false || undefined,
        10_000,
        'the pattern to apply',
      );
      const palette = await vscode.commands.executeCommand<{ success: boolean; error?: { code: string; message: string } }>(Commands.runCustomControlCommand, {
        parameters: call,
      });
      const fromApi = await api.control('CUSTOM_COMMAND', undefined, call);
      const url = await waitUntil(() => api.context.controlServer.url, 15_000, 'the control endpoint to listen');
      await vscode.env.clipboard.writeText('');
      await vscode.commands.executeCommand(Commands.copyControlToken);
      const token = await waitUntil(async () => (await vscode.env.clipboard.readText()) || undefined, 5000, 'the token on the clipboard');
      const endpoint = await http(`${url}/admin/control`, { token, body: { Operation: 'CUSTOM_COMMAND', Parameters: call, Source: 'curl' } });
      for (const r of [palette, fromApi, endpoint.json]) {
        assert.equal(r.success, false);
        assert.deepEqual([r.error?.code, r.error?.message], ['blocked', reason]);
      }
      assert.equal(endpoint.status, 403);
      await withSettings({ rules: [rule] }, async () => {
        const state = await waitUntil(
          () => api.context.rules.states().find((s) => s.name === 'reduce-now' && s.lastError !== null),
          15_000,
          'the rule to fire',
        );
        assert.match(state.lastError ?? '', /blocked.*CUSTOM_COMMAND:reduce_complexity|CUSTOM_COMMAND:reduce_complexity.*blocked/);
      });
      // A name the pattern does not match still runs.
      const other = await api.control('CUSTOM_COMMAND', undefined, { command: 'warm_up', arguments: {} });
      assert.equal(other.success, true, JSON.stringify(other.error));
    });
    assert.equal(await factor(), 1, 'the service never ran reduce_complexity');
    assert.equal(blocked() - blockedBefore, 4, 'one ERROR (blocked) for each way in');
    record({
      property: 'a control command denied by name (CUSTOM_COMMAND:<name>)',
      tried: `deny ${pattern}; reduce_complexity from the palette command, the API, the control endpoint and a rule`,
      held: '4 of 4 blocked with the same message (HTTP 403), 4 ERROR blocked events, never reached Python (its factor unchanged); another name ran',
    });
  });
});
