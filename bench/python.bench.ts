// The Python service over stdio, measured through vscode-jsonrpc (the connection vscode-languageclient
// uses under the hood; the client itself needs a VS Code host), started with the supervisor's environment.
// Peers in the same run:
// - cold start: `python -c pass` (the bare interpreter's own start), so ratio = bare / service;
// - round trips and throughput: a floor server, a minimal stdlib loop that frames `{"result": null}` for
//   every request, so the ratio shows what the service's own work costs. Round-trip samples alternate
//   between the two, so a noisy neighbour slows both alike.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from 'vscode-jsonrpc/node';
import { serviceEnvironment } from '../src/python/environment';
import { resolveInterpreter } from '../src/python/interpreter';
import { ControlRequest, ExecuteRequest, HealthRequest } from '../src/python/protocol';
import { higherIsBetter, log, lowerIsBetter, median, round, type Bench, type BenchResult } from './types';

const PYTHON_DIR = resolve(__dirname, '..', '..', 'python');

const FLOOR_SERVER = String.raw`
import json, sys
inp, out = sys.stdin.buffer, sys.stdout.buffer
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
        body = json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": None}).encode()
        out.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        out.flush()
`;

interface Peer {
  child: ChildProcess;
  connection: MessageConnection;
}

function connect(python: string, args: string[]): Peer {
  const child = spawn(python, args, {
    cwd: PYTHON_DIR,
    env: serviceEnvironment(process.env, PYTHON_DIR),
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  // The process may be gone before the last write at teardown: a closed pipe then is expected, not a failure.
  child.stdin!.on('error', () => undefined);
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
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

/** Sequential round trips of each sender, one of each in turn: p50 and p99 in µs per sender. */
async function roundTrips(senders: Array<() => Promise<unknown>>, n: number): Promise<Percentiles[]> {
  for (let i = 0; i < Math.min(200, n); i++) for (const send of senders) await send(); // warm up
  const samples = senders.map(() => [] as number[]);
  for (let i = 0; i < n; i++) {
    for (const [k, send] of senders.entries()) {
      const t0 = performance.now();
      await send();
      samples[k].push((performance.now() - t0) * 1000);
    }
  }
  return samples.map((xs) => {
    xs.sort((a, b) => a - b);
    return { p50: xs[Math.floor(n * 0.5)], p99: xs[Math.min(n - 1, Math.floor(n * 0.99))] };
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
    const floor = connect(executable, ['-c', FLOOR_SERVER]);
    try {
      await initialize(svc.connection);
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
      const [ours, ping, peer] = await roundTrips([control, health, floorCall], n);
      results.push(lowerIsBetter('python.control-roundtrip.p50', ours.p50, 'us', 'stdlib floor server', peer.p50));
      results.push(lowerIsBetter('python.control-roundtrip.p99', ours.p99, 'us', 'stdlib floor server', peer.p99));
      results.push(lowerIsBetter('python.health-roundtrip.p50', ping.p50, 'us', 'stdlib floor server', peer.p50));

      const echo = () => svc.connection.sendRequest(ExecuteRequest, { commandId: `e${id++}`, commandType: 'ECHO', priority: 'NORMAL', parameters: { n: id } });
      const total = quick ? 5000 : 30000;
      const oursRate = await throughput(echo, total, 64);
      const floorRate = await throughput(floorCall, total, 64);
      results.push(higherIsBetter('python.execute-echo.64-in-flight', oursRate, 'ops/s', 'stdlib floor server', floorRate));
    } finally {
      await close(svc);
      await close(floor);
    }
    return results.map((r) => ({ ...r, value: round(r.value) }));
  },
};
