// The loopback control server under 16 concurrent keep-alive clients, measured with autocannon run as its own
// process (a real HTTP client that does not share the server's event loop). Rounds alternate floor and route,
// and each figure is the median over the rounds, so a noisy neighbour slows both alike. Routes: /healthz (the
// server's own cost: host check, routing, JSON), /api/telemetry SUMMARY (+ auth, the report) and POST
// /api/commands (+ body, the whole middleware pipeline with an in-process ECHO). Target: >= 3,000 requests/s
// with p99 <= 10 ms for each; for the commands route, >= 0.6x its floor.
// The floor is a bare node:http server doing the same exchange with no product logic, answering {}: for the
// GET routes it is sent autocannon's plain GET; for POST /api/commands it is sent the very request the route
// gets (method, headers, body: the same autocannon options) and reads the body to its end with data/end
// before answering, since Node's body read is part of any POST server and not something the route adds. The
// ratio to that floor is what the route adds (JSON validation, id, hooks, the middleware). The older
// comparison with the GET floor is printed too (`*-vs-get-floor`).
// On 2 cores the client competes with the server for CPU, and autocannon parses responses in JavaScript:
// the figures are a lower bound of what the server does with a faster client.
import { spawn } from 'node:child_process';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { startControlServer, type ControlServer } from '../src/control/server';
import { functionExecutor } from '../src/core/execution/executors';
import { createMiddleware } from '../src/core/pipeline/pipeline';
import { StaticSampler } from '../src/core/system/sampler';
import { higherIsBetter, log, lowerIsBetter, median, type Bench, type BenchResult } from './types';

const AUTOCANNON = resolve(__dirname, '..', '..', 'node_modules', 'autocannon', 'autocannon.js');
const CONNECTIONS = 16;
const TOKEN = 'bench-token-0123456789abcdef';

interface Load {
  rps: number;
  p50: number;
  p99: number;
  /** CPU of this process (the servers; the client is another process) per request answered. */
  cpuUs: number;
}

interface AutocannonJson {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

/** autocannon -c 16 for `seconds`; fails on any error or non-2xx answer. (Its own --warmup prints no JSON.) */
function autocannon(url: string, seconds: number, opts: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Load> {
  const args = [AUTOCANNON, '-c', String(CONNECTIONS), '-d', String(seconds), '-j'];
  if (opts.method) args.push('-m', opts.method);
  if (opts.body) args.push('-b', opts.body);
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}=${v}`);
  args.push(url);
  return new Promise((resolvePromise, reject) => {
    // From spawn to exit: the server is idle while autocannon starts, so this is the CPU of the answers.
    const cpu0 = process.cpuUsage();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const cpu = process.cpuUsage(cpu0);
      if (code !== 0) return reject(new Error(`autocannon exited with ${code}: ${err.slice(-500)}`));
      const r = JSON.parse(out) as AutocannonJson;
      if (r.errors || r.timeouts || r.non2xx) return reject(new Error(`autocannon on ${url}: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx`));
      resolvePromise({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, cpuUs: (cpu.user + cpu.system) / Math.max(1, r.requests.total) });
    });
  });
}

/** The floor: {} at once for a GET; for a POST, {} once the body has been read to its end, the plainest way. */
async function bareServer(): Promise<{ server: Server; url: string }> {
  const answer = (res: ServerResponse): void => {
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': '2' });
    res.end('{}');
  };
  const server = createServer((req, res) => {
    if (req.method === 'GET') return answer(res);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => answer(res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function* run(quick: boolean): AsyncIterable<BenchResult> {
  // --quick keeps the whole suite under a minute: one short round per route.
  const seconds = quick ? 1 : 4;
  const rounds = quick ? 1 : 3;
  const bare = await bareServer();
  const mw = createMiddleware({ sampler: new StaticSampler({ cpuPercent: 10 }), config: { maxConcurrency: 64, baseDelayMs: 0 } });
  const echo = functionExecutor({ ECHO: (p) => p });
  let control: ControlServer | undefined;
  try {
    control = await startControlServer({
      token: TOKEN,
      handlers: {
        control: () => Promise.reject(new Error('not benched')),
        execute: (request, hooks) =>
          mw.execute(
            request,
            (r, ctx) => {
              hooks.onCommandId(ctx.commandId);
              return echo(r, ctx);
            },
            { signal: hooks.signal },
          ),
        telemetry: (level) => mw.telemetry.query(level),
      },
    });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const getFloor = (d: number): Promise<Load> => autocannon(`${bare.url}/`, d);
    const command = {
      method: 'POST',
      body: JSON.stringify({ commandType: 'ECHO', priority: 'NORMAL', parameters: { n: 1 } }),
      headers: { ...auth, 'content-type': 'application/json' },
    };
    // Each route's floor is sent what the route is sent; the commands route also keeps the GET floor's figures.
    const routes: { name: string; floor: string; run(d: number): Promise<Load>; floorRun(d: number): Promise<Load>; alsoGetFloor?: boolean }[] = [
      { name: 'healthz', floor: 'GET', run: (d) => autocannon(`${control!.url}/healthz`, d), floorRun: getFloor },
      {
        name: 'telemetry-summary',
        floor: 'GET',
        run: (d) => autocannon(`${control!.url}/api/telemetry?detail=SUMMARY`, d, { headers: auth }),
        floorRun: getFloor,
      },
      {
        name: 'commands-echo',
        floor: 'the same POST, body read',
        run: (d) => autocannon(`${control!.url}/api/commands`, d, command),
        floorRun: (d) => autocannon(`${bare.url}/api/commands`, d, command),
        alsoGetFloor: true,
      },
    ];
    if (!quick) {
      log('warm-up (not counted)');
      await getFloor(1);
      for (const r of routes) {
        if (r.floorRun !== getFloor) await r.floorRun(1);
        await r.run(1);
      }
    }
    const peerName = (floor: string): string => `bare node:http {} (${floor}; ${CONNECTIONS} conn)`;
    for (const route of routes) {
      const ours: Load[] = [];
      const floor: Load[] = [];
      const get: Load[] = [];
      for (let i = 0; i < rounds; i++) {
        log(`${route.name}: round ${i + 1}/${rounds} (floor${route.alsoGetFloor ? ', GET floor' : ''}, then ours; ${seconds} s each)`);
        floor.push(await route.floorRun(seconds));
        if (route.alsoGetFloor) get.push(await getFloor(seconds));
        ours.push(await route.run(seconds));
      }
      const m = (xs: Load[], k: 'rps' | 'p99' | 'cpuUs') => median(xs.map((x) => x[k]));
      const peer = peerName(route.floor);
      yield higherIsBetter(`control.${route.name}.throughput`, m(ours, 'rps'), 'ops/s', peer, m(floor, 'rps'));
      yield lowerIsBetter(`control.${route.name}.p99`, Math.max(m(ours, 'p99'), 0.001), 'ms', peer, Math.max(m(floor, 'p99'), 0.001));
      // Robust to a busy machine where the two above are not: what one answer costs the server in CPU.
      yield lowerIsBetter(`control.${route.name}.server-cpu-per-request`, m(ours, 'cpuUs'), 'us', peer, m(floor, 'cpuUs'));
      if (route.alsoGetFloor) {
        yield higherIsBetter(`control.${route.name}.throughput-vs-get-floor`, m(ours, 'rps'), 'ops/s', peerName('GET'), m(get, 'rps'));
        yield lowerIsBetter(`control.${route.name}.server-cpu-per-request-vs-get-floor`, m(ours, 'cpuUs'), 'us', peerName('GET'), m(get, 'cpuUs'));
      }
    }
  } finally {
    await control?.close(0);
    await mw.close();
    await new Promise((r) => bare.server.close(r));
  }
}

export const controlBench: Bench = {
  name: 'control',
  run: ({ quick }) => run(quick),
};
