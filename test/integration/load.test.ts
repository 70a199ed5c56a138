// Measurements, not timing assertions, in the real extension host against the real Python service:
// - 1,000 commands/s through the middleware for a few seconds, with the status bar, the tree and the metrics
//   panel all live, while the host's event-loop delay is sampled (test-results/host-load.json);
// - sequential control round trips through vscode-languageclient itself, and through the whole control path
//   (pipeline, telemetry, status) (test-results/host-control.json).
// Figures are printed as bench JSON lines; the only assertions are outcomes and the panel's coalescing bound.
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as vscode from 'vscode';
import type { CommandResult } from '../../src/core';
import type { MetricsPanel } from '../../src/views/metricsPanel';
import { ControlRequest, type ControlParams } from '../../src/python/protocol';
import { aios, waitUntil, withSettings } from './util';

const RATE_PER_S = 1000;
const SECONDS = 5;
const TICK_MS = 10;

describe('host under load (measurement)', function () {
  this.timeout(120_000);

  it('1,000 commands/s with the UI live: event-loop lag and panel updates are reported', async () => {
    const api = await aios();
    await waitUntil(() => api.context.supervisor.state.status === 'healthy', 30_000, 'the service');
    await vscode.commands.executeCommand('workbench.view.extension.aios');
    const panel = await vscode.commands.executeCommand<MetricsPanel>('aios.showMetricsPanel');
    await new Promise((r) => setTimeout(r, 1500)); // the webview loads and says ready

    await withSettings({ maxConcurrency: 64, maxQueueSize: 100000 }, async () => {
      await waitUntil(() => api.context.middleware.admission.limit === 64, 5000, 'limit 64');
      const postsBefore = panel.postCount;
      // Each sample includes the 1 ms sampling period itself: the figures are an upper bound on lag.
      const lag = monitorEventLoopDelay({ resolution: 1 });
      lag.enable();
      const started = performance.now();
      const pending: Promise<CommandResult>[] = [];
      // Paced: a batch every tick, catching up on the schedule if a tick ran late.
      await new Promise<void>((resolve) => {
        const timer = setInterval(() => {
          const due = Math.min(RATE_PER_S * SECONDS, Math.floor(((performance.now() - started) / 1000) * RATE_PER_S));
          while (pending.length < due) pending.push(api.execute({ commandType: 'ECHO', parameters: { i: pending.length } }));
          if (pending.length >= RATE_PER_S * SECONDS) {
            clearInterval(timer);
            resolve();
          }
        }, TICK_MS);
      });
      const results = await Promise.all(pending);
      const elapsedS = (performance.now() - started) / 1000;
      lag.disable();
      const posts = panel.postCount - postsBefore;

      const ok = results.filter((r) => r.success).length;
      const figures = [
        { bench: 'host.commands', value: results.length, unit: 'count', succeeded: ok },
        { bench: 'host.throughput', value: Math.round(results.length / elapsedS), unit: 'ops/s' },
        { bench: 'host.event-loop-lag.p50', value: lag.percentile(50) / 1e6, unit: 'ms' },
        { bench: 'host.event-loop-lag.p99', value: lag.percentile(99) / 1e6, unit: 'ms', target: 20 },
        { bench: 'host.event-loop-lag.max', value: lag.max / 1e6, unit: 'ms' },
        { bench: 'host.panel-updates', value: posts / elapsedS, unit: 'per s', posts },
      ];
      for (const f of figures) console.log(JSON.stringify(f));
      writeFileSync(join(process.env.AIOS_TEST_RESULTS ?? '.', 'host-load.json'), `${figures.map((f) => JSON.stringify(f)).join('\n')}\n`);

      assert.equal(ok, results.length, JSON.stringify(results.find((r) => !r.success)?.error));
      // The panel coalesces to one post per 250 ms while visible (+1 for the final state).
      assert.ok(posts <= Math.ceil(elapsedS * 4) + 2, `${posts} panel updates in ${elapsedS.toFixed(1)} s`);
      assert.ok(posts >= 1, 'the panel was updated');
    });
  });

  it('control round trips, one after another: through the language client and through the whole path', async () => {
    const api = await aios();
    await waitUntil(() => api.context.supervisor.state.status === 'healthy', 30_000, 'the service');
    const client = await api.context.supervisor.connection();
    const level = (await api.context.supervisor.checkHealth())?.logLevel ?? 'INFO';
    const params = (i: number): ControlParams<'UPDATE_LOG_LEVEL'> => ({
      operation: 'UPDATE_LOG_LEVEL',
      value: level,
      parameters: {},
      timestamp: new Date().toISOString(),
      source: 'test',
      commandId: `m${i}`,
    });
    const percentiles = async (n: number, send: (i: number) => Promise<unknown>) => {
      for (let i = 0; i < 200; i++) await send(i); // warm up
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await send(i);
        xs.push((performance.now() - t0) * 1000);
      }
      xs.sort((a, b) => a - b);
      return { p50: xs[Math.floor(n / 2)], p99: xs[Math.floor(n * 0.99)] };
    };
    // By method name: the test bundle's RequestType objects are not the extension bundle's.
    const viaClient = await percentiles(3000, (i) => client.sendRequest(ControlRequest.method, params(i)));
    let failed = 0;
    const viaPath = await percentiles(1000, async () => {
      const result = await api.context.control({ operation: 'UPDATE_LOG_LEVEL', value: level, source: 'test' });
      if (!result.success) failed++;
    });
    const figures = [
      { bench: 'host.control-roundtrip.client.p50', value: Math.round(viaClient.p50), unit: 'us', target: 100 },
      { bench: 'host.control-roundtrip.client.p99', value: Math.round(viaClient.p99), unit: 'us', target: 500 },
      { bench: 'host.control.whole-path.p50', value: Math.round(viaPath.p50), unit: 'us' },
      { bench: 'host.control.whole-path.p99', value: Math.round(viaPath.p99), unit: 'us' },
    ];
    for (const f of figures) console.log(JSON.stringify(f));
    writeFileSync(join(process.env.AIOS_TEST_RESULTS ?? '.', 'host-control.json'), `${figures.map((f) => JSON.stringify(f)).join('\n')}\n`);
    assert.equal(failed, 0, 'every control call through the whole path succeeded');
  });
});
