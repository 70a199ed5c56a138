// The Python service over stdio, measured through vscode-jsonrpc (the connection vscode-languageclient
// uses under the hood; the client itself needs a VS Code host), started with the supervisor's environment.
// Peers in the same run:
// - cold start: `python -c pass` (the bare interpreter's own start), so ratio = bare / service;
// - round trips and throughput: a floor server, a minimal stdlib loop that frames `{"result": null}` for
//   every request and blocks on its pipe between requests, so the ratio shows what the service costs over
//   the plainest loop. Round-trip samples alternate between the peers, so a noisy neighbour slows all alike.
// The service polls its pipe briefly while requests come back to back (python/aios_service/pipe.py); the
// CPU that costs per call and the round trip of a call after an idle pause (no polling) are reported too.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { serviceEnvironment } from '../src/python/environment';
import { resolveInterpreter } from '../src/python/interpreter';
import { ControlRequest, ExecuteRequest, HealthRequest } from '../src/python/protocol';
import { serviceTransports } from '../src/python/transport';
import { higherIsBetter, log, lowerIsBetter, median, procCpuMs, round, type Bench, type BenchResult } from './types';

// AIOS_BENCH_PYTHON_DIR: another copy of python/ (e.g. an earlier commit's) for an A/B run.
const PYTHON_DIR = resolve(process.env.AIOS_BENCH_PYTHON_DIR ?? resolve(__dirname, '..', '..', 'python'));
const PROCESS_HANDLERS = resolve(PYTHON_DIR, 'tests', 'fixtures', 'process_handlers.py');

const FLOOR_SERVER = String.raw`
import json, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
STATE = sys.argv[1].encode() if len(sys.argv) > 1 else b"null"
while True:
    length = None
    while True:
        line = inp.readline()
        if not line:
            sys.exit(0)
        if line in (b"\r\n", b"\n"):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    msg = json.loads(inp.read(length))
    if "id" in msg:
        if msg.get("method") == "floor/state":  # the text in argv, as is (not encoded per call)
            body = b'{"jsonrpc":"2.0","id":%d,"result":%s}' % (msg["id"], STATE)
        else:
            body = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": None}).encode()
        out.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        out.flush()
`;

interface Peer {
  child: ChildProcess;
  connection: MessageConnection;
}

/** `writer`: 'framed' is the extension's (src/python/transport.ts), 'stream' vscode-jsonrpc's own. */
function connect(python: string, args: string[], writer: 'framed' | 'stream' = 'framed'): Peer {
  const child = spawn(python, args, {
    cwd: PYTHON_DIR,
    env: serviceEnvironment(process.env, PYTHON_DIR),
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  // The process may be gone before the last write at teardown: a closed pipe then is expected, not a failure.
  child.stdin.on('error', () => undefined);
  const transports =
    writer === 'framed'
      ? serviceTransports(child.stdout, child.stdin)
      : { reader: new StreamMessageReader(child.stdout), writer: new StreamMessageWriter(child.stdin) };
  const connection = createMessageConnection(transports.reader, transports.writer);
  connection.onError(() => undefined);
  connection.listen();
  return { child, connection };
}

async function close(peer: Peer): Promise<void> {
  await peer.connection.sendRequest('shutdown').catch(() => undefined);
  await peer.connection.sendNotification('exit').catch(() => undefined);
  peer.connection.dispose();
  peer.child.kill();
}

const initialize = (c: MessageConnection) => c.sendRequest('initialize', { processId: process.pid, capabilities: {}, initializationOptions: {} });

async function coldStartMs(python: string): Promise<number> {
  const t0 = performance.now();
  const peer = connect(python, ['-m', 'aios_service']);
  await initialize(peer.connection);
  const ms = performance.now() - t0;
  await close(peer);
  return ms;
}

function bareStartMs(python: string): Promise<number> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(python, ['-c', 'pass'], { stdio: 'ignore' });
    child.on('error', rej);
    child.on('exit', () => res(performance.now() - t0));
  });
}

interface Percentiles {
  p50: number;
  p99: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sequential round trips of each sender, `block` calls of one in a row and then the next (one of each in
 *  turn by default; after `pauseMs` of idling when set): p50 and p99 in µs per sender. Compare senders of
 *  one run only: how the calls interleave moves every figure (see the callers). */
async function roundTrips(senders: Array<() => Promise<unknown>>, n: number, pauseMs = 0, block = 1): Promise<Percentiles[]> {
  for (let i = 0; i < Math.min(200, n); i++) for (const send of senders) await send(); // warm up
  const samples = senders.map(() => [] as number[]);
  for (let i = 0; i < n; i += block) {
    for (const [k, send] of senders.entries()) {
      for (let j = 0; j < block; j++) {
        if (pauseMs) await pause(pauseMs);
        const t0 = performance.now();
        await send();
        samples[k].push((performance.now() - t0) * 1000);
      }
    }
  }
  return samples.map((xs) => {
    xs.sort((a, b) => a - b);
    return { p50: xs[Math.floor(xs.length * 0.5)], p99: xs[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))] };
  });
}

/** `total` requests with `inFlight` outstanding at all times: requests per second. */
async function throughput(send: () => Promise<unknown>, total: number, inFlight: number): Promise<number> {
  let started = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (started < total) {
      started++;
      await send();
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return total / ((performance.now() - t0) / 1000);
}

/** The same handlers on the execute pool's threads and in worker processes (python/README.md, "Threads or
 *  processes"), from python/tests/fixtures/process_handlers.py: `CPU_WORK` (process=True) and `CPU_WORK_THREAD`
 *  (process=False) run the same pure-Python spin; `NOOP_PROCESS` / `NOOP_THREAD` return their parameters.
 *  Four CPU-bound calls at once (as many as 2 cores' worth of workers by default: min(cores, pool)), timed
 *  from the first send to the last reply, threads and processes alternating; and the sequential round trip of
 *  a no-op, the per-call price of crossing to a worker. Workers are started (warm) before anything is timed. */
async function processWorkers(python: string, quick: boolean): Promise<BenchResult[]> {
  const svc = connect(python, ['-m', 'aios_service']);
  try {
    await svc.connection.sendRequest('initialize', {
      processId: process.pid,
      capabilities: {},
      initializationOptions: { handlersModule: PROCESS_HANDLERS, maxConcurrency: 4 },
    });
    let id = 0;
    const exec = (commandType: string, parameters: Record<string, unknown> = {}) =>
      svc.connection.sendRequest(ExecuteRequest, { commandId: `p${id++}`, commandType, priority: 'NORMAL', parameters });
    const iterations = quick ? 1_000_000 : 3_000_000;
    const four = async (commandType: string) => {
      const t0 = performance.now();
      await Promise.all([0, 1, 2, 3].map(() => exec(commandType, { iterations })));
      return performance.now() - t0;
    };
    await four('CPU_WORK'); // starts the workers and imports the module in each
    await four('CPU_WORK_THREAD');
    const rounds = quick ? 3 : 5;
    const threads: number[] = [];
    const procs: number[] = [];
    for (let i = 0; i < rounds; i++) {
      threads.push(await four('CPU_WORK_THREAD'));
      procs.push(await four('CPU_WORK'));
    }
    const health = await svc.connection.sendRequest(HealthRequest, undefined);
    log(`process workers: ${JSON.stringify((health as unknown as { processWorkers: unknown }).processWorkers)}`);
    const out: BenchResult[] = [lowerIsBetter('python.process-workers.4-cpu-bound', median(procs), 'ms', 'the same on threads', median(threads))];
    const n = quick ? 300 : 2000;
    const [viaProcess, viaThread] = await roundTrips([() => exec('NOOP_PROCESS', { n: 1 }), () => exec('NOOP_THREAD', { n: 1 })], n);
    out.push(lowerIsBetter('python.process-workers.noop-roundtrip.p50', viaProcess.p50, 'us', 'a thread handler', viaThread.p50));
    out.push(lowerIsBetter('python.process-workers.noop-roundtrip.p99', viaProcess.p99, 'us', 'a thread handler', viaThread.p99));
    return out;
  } finally {
    await close(svc);
  }
}

export const pythonBench: Bench = {
  name: 'python',
  async run({ quick }): Promise<BenchResult[]> {
    const { executable } = await resolveInterpreter();
    log(`python: ${executable}`);
    const results: BenchResult[] = [];

    const starts = quick ? 5 : 15;
    const service: number[] = [];
    const bare: number[] = [];
    // Not measured: the first start after an install or an edit, which compiles the service's modules once.
    await coldStartMs(executable);
    for (let i = 0; i < starts; i++) {
      bare.push(await bareStartMs(executable));
      service.push(await coldStartMs(executable));
    }
    results.push(lowerIsBetter('python.cold-start', median(service), 'ms', 'python -c pass', median(bare)));

    const svc = connect(executable, ['-m', 'aios_service']);
    let started: Peer | undefined;
    try {
      await initialize(svc.connection);
      // The floor holds the service's health text, so one process answers with it (floor/state) and without.
      const stateText = JSON.stringify(await svc.connection.sendRequest(HealthRequest, undefined));
      const floor = (started = connect(executable, ['-c', FLOOR_SERVER, stateText]));
      await initialize(floor.connection);
      let id = 0;
      const control = () =>
        svc.connection.sendRequest(ControlRequest, {
          operation: 'UPDATE_LOG_LEVEL',
          value: 'INFO',
          parameters: {},
          timestamp: new Date().toISOString(),
          source: 'bench',
          commandId: `bench-${id++}`,
        });
      const health = () => svc.connection.sendRequest(HealthRequest, undefined);
      const floorCall = () => floor.connection.sendRequest('floor/echo', {});
      const n = quick ? 1000 : 5000;
      const cpu0 = [procCpuMs(svc.child.pid!, 'own'), procCpuMs(floor.child.pid!, 'own')];
      // Each of ours alternates one for one with the floor, so both processes see the same pattern of calls.
      // (A run of three, control, health and floor, gave the service two calls in a row and the floor one
      // after a rest, and measured the floor 35-40 % faster than when it alternates: bench/README.md.)
      const [ours, peer] = await roundTrips([control, floorCall], n);
      const [ping, pingPeer] = await roundTrips([health, floorCall], n);
      const cpu1 = [procCpuMs(svc.child.pid!, 'own'), procCpuMs(floor.child.pid!, 'own')];
      results.push(lowerIsBetter('python.control-roundtrip.p50', ours.p50, 'us', 'stdlib floor server', peer.p50));
      results.push(lowerIsBetter('python.control-roundtrip.p99', ours.p99, 'us', 'stdlib floor server', peer.p99));
      results.push(lowerIsBetter('python.health-roundtrip.p50', ping.p50, 'us', 'stdlib floor server', pingPeer.p50));
      if (cpu0.every((x) => x !== undefined) && cpu1.every((x) => x !== undefined)) {
        // Per request, warm-up included (it is small): each process answered the same number.
        const per = (k: number) => ((cpu1[k] - cpu0[k]) * 1000) / (2 * (n + Math.min(200, n)));
        results.push(lowerIsBetter('python.roundtrip.cpu-per-request', per(0), 'us', 'stdlib floor server', per(1)));
      }
      // Back to back: blocks of calls to one process, as a client syncing state sends them. No other process
      // runs between two calls, so each stays awake and what remains is the work and the bytes of a call.
      const [oursHot, peerHot] = await roundTrips([control, floorCall], n, 0, 50);
      results.push(lowerIsBetter('python.control-roundtrip.back-to-back.p50', oursHot.p50, 'us', 'stdlib floor server', peerHot.p50));
      // What the state on every control reply costs the floor itself: the service's health text, sent as is.
      const [withState, bare] = await roundTrips([() => floor.connection.sendRequest('floor/state', {}), floorCall], n, 0, 50);
      results.push(lowerIsBetter('python.floor.state-reply.back-to-back.p50', withState.p50, 'us', 'stdlib floor server', bare.p50));
      // One request at a time with the client idle in between, as a click in the UI sends it: no polling.
      const idle = quick ? 200 : 500;
      const [oursIdle, peerIdle] = await roundTrips([control, floorCall], idle, 2);
      results.push(lowerIsBetter('python.control-roundtrip.after-idle.p50', oursIdle.p50, 'us', 'stdlib floor server', peerIdle.p50));

      // The extension's one-write framing against vscode-jsonrpc's own writer, on two floor servers.
      const streamFloor = connect(executable, ['-c', FLOOR_SERVER], 'stream');
      try {
        await initialize(streamFloor.connection);
        const [framed, stream] = await roundTrips([floorCall, () => streamFloor.connection.sendRequest('floor/echo', {})], n);
        results.push(lowerIsBetter('python.framed-writer.floor-roundtrip.p50', framed.p50, 'us', 'vscode-jsonrpc StreamMessageWriter', stream.p50));
      } finally {
        await close(streamFloor);
      }

      const echo = () => svc.connection.sendRequest(ExecuteRequest, { commandId: `e${id++}`, commandType: 'ECHO', priority: 'NORMAL', parameters: { n: id } });
      // In slices that alternate between the peers (medians), so a noisy neighbour slows both alike.
      const total = quick ? 6000 : 30000;
      const slices = quick ? 3 : 6;
      const oursRates: number[] = [];
      const floorRates: number[] = [];
      for (let i = 0; i < slices; i++) {
        oursRates.push(await throughput(echo, total / slices, 64));
        floorRates.push(await throughput(floorCall, total / slices, 64));
      }
      results.push(higherIsBetter('python.execute-echo.64-in-flight', median(oursRates), 'ops/s', 'stdlib floor server', median(floorRates)));
    } finally {
      await close(svc);
      if (started) await close(started);
    }
    if (existsSync(PROCESS_HANDLERS)) results.push(...(await processWorkers(executable, quick)));
    return results.map((r) => ({ ...r, value: round(r.value) }));
  },
};
