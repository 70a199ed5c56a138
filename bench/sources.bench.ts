// The new sources' costs, each against a peer measured in the same run:
// - shell.middleware-overhead: a shell command type through the middleware (router, policy, admission,
//   telemetry on disk) against execa alone, on the same short program; samples alternate.
// - batch.echo-10000: 10,000 ECHO requests as one batch through the pipeline (events on disk) to the real
//   Python service over stdio, against the same 10,000 requests sent straight over the connection with the
//   same number in flight (the service and transport alone).
// - api.run-noop: run(commandType, fn) with a no-op function, one caller, per call.
import { mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createMessageConnection, type CancellationToken, type MessageConnection } from 'vscode-jsonrpc/node';
import { batchWindow, runBatch, type BatchItem } from '../src/core/execution/batch';
import { createMiddleware, type Middleware } from '../src/core/pipeline/pipeline';
import { functionExecutor } from '../src/core/execution/executors';
import { CommandRouter, functionRoute } from '../src/core/execution/router';
import { StaticSampler } from '../src/core/system/sampler';
import { parseShellCommands } from '../src/core/execution/shellCommands';
import { CommandFailure, type Executor } from '../src/core/types';
import { serviceEnvironment } from '../src/python/environment';
import { resolveInterpreter } from '../src/python/interpreter';
import { ExecuteRequest } from '../src/python/protocol';
import { serviceTransports } from '../src/python/transport';
import { higherIsBetter, log, lowerIsBetter, median, round, type Bench, type BenchResult } from './types';

const PYTHON_DIR = resolve(__dirname, '..', '..', 'python');

function middleware(dir: string, config: Record<string, unknown> = {}): Middleware {
  return createMiddleware({
    storageDir: dir,
    sessionId: 'bench',
    sampler: new StaticSampler({ cpuPercent: 10, memoryPercent: 40, pythonProcesses: 0, sampledAt: Date.now() }),
    config: { baseDelayMs: 0, ...config },
  });
}

/** A short program present here: `true` on POSIX (a few hundred µs to spawn), else Node itself. */
function shortProgram(): { file: string; args: string[] } {
  return process.platform === 'win32' ? { file: process.execPath, args: ['-e', '0'] } : { file: 'true', args: [] };
}

async function shellOverhead(n: number): Promise<{ ours: number; peer: number }> {
  const { execa } = await import('execa');
  const program = shortProgram();
  const dir = mkdtempSync(join(tmpdir(), 'aios-bench-'));
  const mw = middleware(dir);
  const router = new CommandRouter(() => Promise.reject(new CommandFailure('unknown_command', 'none')));
  const { commands } = parseShellCommands({ SHORT: { file: program.file, args: program.args } }, 'bench', 'user', undefined);
  router.setShellCommands(new Map(commands.map((c) => [c.commandType, c])));
  const request = { commandType: 'SHORT' };
  const ours: number[] = [];
  const peer: number[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      await mw.execute(request, router.executor);
      await execa(program.file, program.args, { reject: false });
    }
    for (let i = 0; i < n; i++) {
      let t0 = performance.now();
      const r = await mw.execute(request, router.executor);
      ours.push(performance.now() - t0);
      if (!r.success) throw new Error(`shell bench failed: ${r.error?.message}`);
      t0 = performance.now();
      await execa(program.file, program.args, { reject: false });
      peer.push(performance.now() - t0);
    }
    await mw.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { ours: median(ours) * 1000, peer: median(peer) * 1000 };
}

interface Service {
  connection: MessageConnection;
  close(): Promise<void>;
}

async function startService(python: string): Promise<Service> {
  const child = spawn(python, ['-m', 'aios_service'], { cwd: PYTHON_DIR, env: serviceEnvironment(process.env, PYTHON_DIR), stdio: ['pipe', 'pipe', 'ignore'] });
  child.stdin.on('error', () => undefined);
  const t = serviceTransports(child.stdout, child.stdin);
  const connection = createMessageConnection(t.reader, t.writer);
  connection.onError(() => undefined);
  connection.listen();
  await connection.sendRequest('initialize', { processId: process.pid, capabilities: {}, initializationOptions: {} });
  return {
    connection,
    close: async () => {
      await connection.sendRequest('shutdown').catch(() => undefined);
      await connection.sendNotification('exit').catch(() => undefined);
      connection.dispose();
      child.kill();
    },
  };
}

/**
 * The service executor's hot path over a plain connection: the request, and cancellation forwarded through a
 * token made from ctx.onCancel (no AbortSignal, no CancellationTokenSource per command).
 */
function connectionExecutor(connection: MessageConnection): Executor {
  return (request, ctx) => {
    const token: CancellationToken = {
      get isCancellationRequested() {
        return ctx.cancelled;
      },
      onCancellationRequested: (listener: (e: unknown) => unknown) => ({ dispose: ctx.onCancel(() => void listener(undefined)) }),
    };
    return connection
      .sendRequest(
        ExecuteRequest,
        { commandId: ctx.commandId, commandType: request.commandType, priority: request.priority, parameters: request.parameters },
        token,
      )
      .then((reply) => reply.result);
  };
}

interface Rate {
  opsPerSecond: number;
  /** CPU of this process per command, µs. */
  nodeCpuUs: number;
}

async function measured(total: number, run: () => Promise<void>): Promise<Rate> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await run();
  const seconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  return { opsPerSecond: total / seconds, nodeCpuUs: (c.user + c.system) / total };
}

/** Rounds alternate between the batch and the straight peer (noise hits both); medians of each. */
async function echoBatch(service: Service, total: number, maxConcurrency: number, rounds: number): Promise<{ ours: Rate; peer: Rate; window: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'aios-bench-'));
  const mw = middleware(dir, { maxConcurrency, maxQueueSize: 1000 });
  const executor = connectionExecutor(service.connection);
  const items: BatchItem[] = Array.from({ length: total }, (_, i) => ({ line: i + 1, request: { commandType: 'ECHO', parameters: { i }, source: 'batch' } }));
  const follow = batchWindow(mw);
  const window = follow.window;
  const ours: Rate[] = [];
  const peer: Rate[] = [];
  try {
    await runBatch((r, o) => mw.execute(r, executor, o), items.slice(0, 2000), { window }); // warm up
    await straight(service, 2000, maxConcurrency);
    for (let k = 0; k < rounds; k++) {
      ours.push(
        await measured(total, async () => {
          const outcome = await runBatch((r, o) => mw.execute(r, executor, o), items, { window });
          await mw.flush(); // every event on disk
          if (outcome.succeeded !== total)
            throw new Error(`batch bench: ${outcome.succeeded} of ${total} succeeded (${outcome.results.find((r) => !r.success)?.error?.message})`);
        }),
      );
      peer.push(await measured(total, () => straight(service, total, maxConcurrency).then(() => undefined)));
    }
    await mw.close();
  } finally {
    follow.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  const med = (xs: Rate[]): Rate => ({ opsPerSecond: median(xs.map((x) => x.opsPerSecond)), nodeCpuUs: median(xs.map((x) => x.nodeCpuUs)) });
  return { ours: med(ours), peer: med(peer), window: window() };
}

/** The same requests straight over the connection, `inFlight` outstanding: requests per second. */
async function straight(service: Service, total: number, inFlight: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < total) {
      const i = next++;
      await service.connection.sendRequest(ExecuteRequest, { commandId: `s${i}`, commandType: 'ECHO', priority: 'NORMAL', parameters: { i } });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return total / ((performance.now() - t0) / 1000);
}

async function runNoop(n: number): Promise<{ ours: number; peer: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'aios-bench-'));
  const mw = middleware(dir);
  const noop = () => undefined;
  const request = { commandType: 'MY_FN', source: 'api' };
  // Peer: the same pipeline running a no-op through the core's function table (the pipeline's own cost),
  // so the ratio is what run(fn) adds to it. Rounds alternate (noise hits both); medians of five.
  const table = functionExecutor({ MY_FN: noop });
  const round = async (executor: () => Executor, count: number): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < count; i++) await mw.execute(request, executor());
    await mw.flush();
    return ((performance.now() - t0) * 1000) / count;
  };
  const ours: number[] = [];
  const peer: number[] = [];
  try {
    await round(() => functionRoute(noop), 20_000);
    await round(() => table, 20_000);
    for (let r = 0; r < 5; r++) {
      ours.push(await round(() => functionRoute(noop), n / 5));
      peer.push(await round(() => table, n / 5));
    }
    await mw.close();
    return { ours: median(ours), peer: median(peer) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const sourcesBench: Bench = {
  name: 'sources',
  async run({ quick }): Promise<BenchResult[]> {
    const results: BenchResult[] = [];
    const shell = await shellOverhead(quick ? 200 : 1000);
    const overheadUs = shell.ours - shell.peer;
    log(
      `shell: ours ${shell.ours.toFixed(0)} µs, execa alone ${shell.peer.toFixed(0)} µs, overhead ${overheadUs.toFixed(0)} µs (${((overheadUs / shell.peer) * 100).toFixed(1)} %)`,
    );
    results.push(lowerIsBetter('shell.per-command', shell.ours, 'us', 'execa alone', shell.peer));
    results.push({
      bench: 'shell.middleware-overhead',
      value: round(overheadUs),
      unit: 'us',
      peer: 'max(5 % of execa alone, 100 us)',
      peerValue: round(Math.max(0.05 * shell.peer, 100)),
      ratio: round(Math.max(0.05 * shell.peer, 100) / Math.max(overheadUs, 1e-3)),
    });

    const { executable } = await resolveInterpreter();
    const service = await startService(executable);
    try {
      for (const c of [4, 64]) {
        const b = await echoBatch(service, 10_000, c, quick ? 1 : 3);
        log(`batch (maxConcurrency ${c}, window ${b.window}): ${JSON.stringify(b.ours)}, straight ${JSON.stringify(b.peer)}`);
        const peerName = `the same ECHOs straight over the connection, ${c} in flight`;
        results.push(higherIsBetter(`batch.echo-10000.concurrency-${c}`, b.ours.opsPerSecond, 'ops/s', peerName, b.peer.opsPerSecond));
        results.push(lowerIsBetter(`batch.echo-10000.concurrency-${c}.node-cpu-per-command`, b.ours.nodeCpuUs, 'us', peerName, b.peer.nodeCpuUs));
        results.push({
          bench: `batch.echo-10000.concurrency-${c}.target`,
          value: round(b.ours.opsPerSecond),
          unit: 'ops/s',
          peer: 'target',
          peerValue: 15000,
          ratio: round(b.ours.opsPerSecond / 15000),
        });
      }
    } finally {
      await service.close();
    }

    const run = await runNoop(quick ? 100_000 : 500_000);
    results.push(lowerIsBetter('api.run-noop', run.ours, 'us', 'the pipeline with the core function table', run.peer));
    results.push({ bench: 'api.run-noop.target', value: round(run.ours), unit: 'us', peer: 'target 5 us', peerValue: 5, ratio: round(5 / run.ours) });
    return results;
  },
};
