// Exporters (OTLP metrics + logs, Prometheus, the JSON endpoint) against the pipeline with all of them off:
// the cost per command with every exporter on and pointed at local sinks (a child process that reads and
// discards), with the collector and endpoint down, the telemetry listener alone, and the heap after 600k
// events with the receivers down (10 minutes at 1,000 events/s).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { functionExecutor } from '../src/core/execution/executors';
import { createMiddleware, type Middleware } from '../src/core/pipeline/pipeline';
import { StaticSampler } from '../src/core/system/sampler';
import type { TelemetryEvent } from '../src/core/types';
import { createExporters, type ExportHealthReport, type Exporters } from '../src/export';
import * as otel from '../src/export/otel';
import { freePort } from '../test/support/net';
import { benchMiddleware, callersPerCommand } from './pipeline.bench';
import { benchTelemetry } from './telemetry.bench';
import { heapMB, log, lowerIsBetter, median, round, type Bench, type BenchResult } from './types';

const executor = functionExecutor({ NOOP: () => undefined });
const request = { commandType: 'NOOP', priority: 'NORMAL' as const };

/** A receiver in its own process (so its CPU is not ours): answers 200 to every POST after reading it. */
async function startSink(): Promise<{ port: number; child: ChildProcess }> {
  const script = `const s=require('http').createServer((q,r)=>{q.resume();q.on('end',()=>r.end('{}'))});s.listen(0,'127.0.0.1',()=>process.stdout.write(s.address().port+'\\n'))`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`sink exited ${code}`)));
  });
  return { port, child };
}

type Mode = { name: 'off' } | { name: 'on' | 'down'; port: number };

function exportConfig(mode: Mode): unknown {
  if (mode.name === 'off') return {};
  const base = `http://127.0.0.1:${mode.port}`;
  return {
    otlp: { endpoint: base, metricsIntervalMs: 1000, timeoutMs: 2000 },
    // Prometheus is pulled: nothing scrapes it here, it only has to exist (1 = on; the loader picks a free port).
    prometheus: { port: 1 },
    http: { endpoint: `${base}/telemetry`, timeoutMs: 2000 },
  };
}

function withExporters(mw: Middleware, mode: Mode): Exporters {
  return createExporters(exportConfig(mode), {
    telemetry: mw.telemetry,
    state: () => ({ admission: mw.admission, serviceStatus: 'healthy' }),
    sessionId: mw.sessionId,
    serviceVersion: 'bench',
    // Prometheus on a free port (the setting's 0 means off).
    loadOtel: () => ({ startOtel: (o) => otel.startOtel({ ...o, prometheusPort: 0 }) }),
  });
}

/** pipeline.per-command as bench/pipeline.bench.ts takes it (64 callers, events on disk), with `mode` exporters. */
async function perCommand(total: number, mode: Mode): Promise<{ us: number; health: ExportHealthReport }> {
  const dir = mkdtempSync(join(tmpdir(), 'aios-bench-export-'));
  const mw = benchMiddleware(dir);
  const exporters = withExporters(mw, mode);
  await exporters.ready();
  try {
    const { us } = await callersPerCommand(mw, total);
    return { us, health: exporters.health() };
  } finally {
    await exporters.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The telemetry listener alone (every exporter on, nothing sent during the loop): ns per event. */
async function listenerCost(n: number, port: number): Promise<{ on: number; floor: number }> {
  let listener: ((e: TelemetryEvent) => void) | undefined;
  const telemetry = {
    onEvent: (l: (e: TelemetryEvent) => void) => {
      listener = l;
      return { dispose: () => (listener = undefined) };
    },
  };
  const exporters = createExporters(
    { ...(exportConfig({ name: 'on', port }) as object), queue: { flushIntervalMs: 600_000, maxBatchSize: 10_000, maxQueueSize: 10_000 } },
    {
      telemetry,
      state: () => ({ admission: { active: 0, delayed: 0, queued: { HIGH: 0, NORMAL: 0, LOW: 0 } } }),
      sessionId: 'bench',
      serviceVersion: 'bench',
      loadOtel: () => ({ startOtel: (o) => otel.startOtel({ ...o, prometheusPort: 0 }) }),
    },
  );
  await exporters.ready();
  // Events made by Telemetry.emit itself: what a listener costs depends on the objects' shape. Built by
  // spreading a base object, the same events cost the metrics ~10x more to read (570 against 50-70 ns).
  const made = benchTelemetry();
  const events: TelemetryEvent[] = [];
  for (let i = 0; i < 1024; i++) {
    events.push(
      made.emit('START', `c-${i}`, `T${i % 8}`, 'NORMAL', undefined, undefined),
      made.emit('COMPLETE', `c-${i}`, `T${i % 8}`, 'NORMAL', i % 100, undefined, true),
    );
  }
  const l = listener!;
  let sink = 0;
  const floor = (e: TelemetryEvent) => {
    sink += e.commandId.length;
  };
  const time = (fn: (e: TelemetryEvent) => void): number => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn(events[i & 2047]);
    return ((performance.now() - t0) * 1e6) / n;
  };
  time(l); // warm up
  time(floor);
  const on = time(l);
  const fl = time(floor);
  await exporters.shutdown();
  if (sink === 0) log('unreachable');
  return { on, floor: fl };
}

/**
 * What a delivered event costs in the background (CPU of this process per event, the sink in another
 * process): OTLP log records (record + protobuf + HTTP) and the JSON endpoint (JSON + HTTP), each alone.
 */
async function exportCpuPerEvent(port: number, which: 'otlpLogs' | 'http', n: number): Promise<number> {
  let listener: ((e: TelemetryEvent) => void) | undefined;
  const telemetry = {
    onEvent: (l: (e: TelemetryEvent) => void) => {
      listener = l;
      return { dispose: () => (listener = undefined) };
    },
  };
  const base = `http://127.0.0.1:${port}`;
  const exporters = createExporters(
    {
      ...(which === 'otlpLogs' ? { otlp: { endpoint: base, metricsIntervalMs: 3_600_000 } } : { http: { endpoint: `${base}/t` } }),
      queue: { maxQueueSize: n, maxBatchSize: 512, flushIntervalMs: 600_000 },
    },
    {
      telemetry,
      state: () => ({ admission: { active: 0, delayed: 0, queued: { HIGH: 0, NORMAL: 0, LOW: 0 } } }),
      sessionId: 'bench',
      serviceVersion: 'bench',
      loadOtel: () => otel,
      shutdownDeadlineMs: 120_000, // flush() sends all n, however slow the machine
    },
  );
  await exporters.ready();
  const system = { platform: 'linux', arch: 'x64', nodeVersion: 'v20', cpuCount: 2, cpuPercent: 1, memoryPercent: 1, pythonProcesses: 0 };
  const user = { sessionId: 'bench' };
  const service = { status: 'healthy', pid: 1234, logLevel: 'INFO', restarts: 0 };
  for (let i = 0; i < n; i++) {
    listener!({
      timestamp: new Date().toISOString(),
      eventType: 'COMPLETE',
      commandId: `c-${i}`,
      commandType: 'ECHO',
      priority: 'NORMAL',
      durationMs: 1.25,
      user,
      system,
      service,
      metadata: { waitMs: 0.5 },
    });
  }
  const cpu0 = process.cpuUsage();
  await exporters.flush();
  const cpu = process.cpuUsage(cpu0);
  const delivered = exporters.health()[which]?.delivered ?? 0;
  await exporters.shutdown();
  if (delivered !== n) throw new Error(`${which}: ${delivered} of ${n} events delivered`);
  return ((cpu.user + cpu.system) * 1000) / n; // ns
}

/** 600k events (300k commands) with the collector and endpoint down: heap growth after GC, and the queues. */
async function heapWithReceiversDown(commands: number, port: number): Promise<{ growthMB: number; queued: number; dropped: number }> {
  const mw = createMiddleware({
    sessionId: 'bench',
    sampler: new StaticSampler({ cpuPercent: 10, memoryPercent: 40, pythonProcesses: 0, sampledAt: Date.now() }),
    config: { maxConcurrency: 8, baseDelayMs: 0, telemetry: { maxRecentEvents: 0 } },
  });
  const exporters = withExporters(mw, { name: 'down', port });
  await exporters.ready();
  for (let i = 0; i < 20_000; i++) await mw.execute(request, executor); // warm up; fills the queues to their cap
  const before = heapMB();
  for (let i = 0; i < commands; i++) await mw.execute(request, executor);
  const growthMB = heapMB() - before;
  const h = exporters.health();
  const queued = (h.otlpLogs?.queued ?? 0) + (h.http?.queued ?? 0);
  const dropped = (h.otlpLogs?.dropped ?? 0) + (h.http?.dropped ?? 0);
  await exporters.shutdown();
  await mw.close();
  return { growthMB, queued, dropped };
}

export const exportBench: Bench = {
  name: 'export',
  async *run({ quick }): AsyncIterable<BenchResult> {
    const sink = await startSink();
    const dead = await freePort();
    try {
      const total = quick ? 100_000 : 300_000;
      const runs: Record<'off' | 'on' | 'down', number[]> = { off: [], on: [], down: [] };
      const modes: Mode[] = [{ name: 'off' }, { name: 'on', port: sink.port }, { name: 'down', port: dead }];
      let delivered = 0;
      let dropped = 0;
      let failures = 0;
      // One unmeasured round of each first: the first "on" round otherwise also measures compiling the
      // OpenTelemetry SDK's and the exporters' code (14.7 against 7.7-9.8 us/command after it, one run).
      for (const mode of modes) await perCommand(total / 4, mode);
      // Interleaved rounds, so the VM's noise hits all three alike.
      for (let r = 0; r < (quick ? 3 : 5); r++) {
        for (const mode of modes) {
          const { us, health: h } = await perCommand(total, mode);
          runs[mode.name].push(us);
          if (mode.name === 'on') {
            delivered += (h.otlpLogs?.delivered ?? 0) + (h.http?.delivered ?? 0);
            dropped += (h.otlpLogs?.dropped ?? 0) + (h.http?.dropped ?? 0);
          }
          if (mode.name === 'down') failures += (h.otlpLogs?.failures ?? 0) + (h.http?.failures ?? 0);
        }
        log(`export round ${r}: off ${round(runs.off[r])} µs, on ${round(runs.on[r])} µs, receivers down ${round(runs.down[r])} µs/command`);
      }
      log(`exporters on: ${delivered} events delivered to the sink, ${dropped} dropped (queue caps) over all rounds`);
      if (delivered === 0) throw new Error('the exporters delivered nothing to the local sink: the "on" figure would measure nothing');
      if (failures === 0) throw new Error('no failed export with the receivers down: the "down" figure would measure nothing');
      const off = median(runs.off);
      const on = median(runs.on);
      const down = median(runs.down);
      yield lowerIsBetter('pipeline.per-command.exporters-on', on, 'us', 'exporters off', off);
      yield { bench: 'pipeline.per-command.exporters-added', value: round(on - off), unit: 'us' };
      yield lowerIsBetter('pipeline.per-command.receivers-down', down, 'us', 'exporters off', off);

      const listener = await listenerCost(quick ? 1_000_000 : 5_000_000, sink.port);
      yield lowerIsBetter('export.listener-per-event', listener.on, 'ns', 'an empty listener', listener.floor);

      const nCpu = quick ? 20_000 : 100_000;
      const logsNs = await exportCpuPerEvent(sink.port, 'otlpLogs', nCpu);
      yield { bench: 'export.otlp-logs.cpu-per-event', value: round(logsNs / 1000), unit: 'us' };
      const endpointNs = await exportCpuPerEvent(sink.port, 'http', nCpu);
      yield { bench: 'export.endpoint.cpu-per-event', value: round(endpointNs / 1000), unit: 'us' };

      const heap = await heapWithReceiversDown(300_000, dead);
      log(`receivers down, 600k events: ${heap.queued} queued (caps 2 x 10000 + batches), ${heap.dropped} dropped and counted`);
      yield { bench: 'export.receivers-down-600000-events.heap-growth', value: round(heap.growthMB), unit: 'MB' };
    } finally {
      sink.child.kill();
    }
  },
};
