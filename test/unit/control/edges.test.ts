// The control endpoint at its edges, over raw sockets against the real server: refusals that close instead of
// reading a body, Node's own refusals in the documented JSON shape, a client leaving mid-body, quoting bounded,
// and many detached commands without a listener warning. No timing assertions: each socket waits for the
// server to close it, with a failsafe far above the configured limits.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, describe, it } from 'node:test';
import { startControlServer, type ControlServer, type ControlServerLogLevel, type ControlServerOptions } from '../../../src/control/server';
import { functionExecutor } from '../../../src/core/execution/executors';
import { createMiddleware } from '../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../src/core/system/sampler';
import type { TelemetryEvent } from '../../../src/core/types';

const TOKEN = 'edge-token-0123456789abcdef';
const FAILSAFE_MS = 20_000;

interface Edge {
  server: ControlServer;
  port: number;
  logs: Array<{ level: ControlServerLogLevel; message: string }>;
  events: TelemetryEvent[];
  gates: Map<string, () => void>;
}

async function edge(over: Partial<ControlServerOptions> = {}): Promise<Edge> {
  const mw = createMiddleware({ sampler: new StaticSampler({ cpuPercent: 10 }), config: { baseDelayMs: 0, maxConcurrency: 64 } });
  const events: TelemetryEvent[] = [];
  mw.telemetry.onEvent((e) => events.push(e));
  const gates = new Map<string, () => void>();
  const commands = functionExecutor({
    ECHO: (p) => p,
    GATE: (p, ctx) =>
      new Promise((resolve, reject) => {
        gates.set(String(p.name), () => resolve({ released: p.name }));
        ctx.signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true });
      }),
  });
  const logs: Edge['logs'] = [];
  const server = await startControlServer({
    token: TOKEN,
    log: (level, message) => logs.push({ level, message }),
    handlers: {
      control: () => Promise.reject(new Error('unused')),
      execute: (request, hooks) =>
        mw.execute(
          request,
          (req, ctx) => {
            hooks.onCommandId(ctx.commandId);
            return commands(req, ctx);
          },
          { signal: hooks.signal },
        ),
      telemetry: (level) => mw.telemetry.query(level),
    },
    ...over,
  });
  after(async () => {
    await server.close(0);
    await mw.close();
  });
  return { server, port: server.port, logs, events, gates };
}

interface RawResult {
  data: string;
  written: number;
}

/**
 * Writes `pieces` (`gapMs` apart) and resolves with everything read once the server closes the connection.
 * With `stopAfterAnswer`, writes nothing more once an answer starts arriving: it shows the server closing
 * the connection without waiting for a body it refused.
 */
function raw(port: number, pieces: string[], opts: { gapMs?: number; stopAfterAnswer?: boolean } = {}): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let written = 0;
    let closed = false;
    const failsafe = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${FAILSAFE_MS} ms; got ${JSON.stringify(data.slice(0, 300))}`));
    }, FAILSAFE_MS);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      clearTimeout(failsafe);
      resolve({ data, written });
    });
    socket.on('connect', () => {
      void (async () => {
        for (const p of pieces) {
          if (closed || socket.destroyed || (opts.stopAfterAnswer && data.length > 0)) return;
          socket.write(p, 'latin1');
          written += p.length;
          await new Promise((r) => setTimeout(r, opts.gapMs ?? 0));
        }
      })();
    });
  });
}

/** The status and parsed JSON body of the first answer in `data`. */
function answer(data: string): { status: number; headers: string; body: { error: { code: string; message: string } } } {
  const m = /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n([\s\S]*?)\r\n\r\n/.exec(data);
  assert.ok(m, `an HTTP answer: ${JSON.stringify(data.slice(0, 200))}`);
  const rest = Buffer.from(data.slice(m[0].length), 'latin1');
  const length = Number(/content-length: (\d+)/i.exec(m[2])?.[1] ?? rest.length);
  return { status: Number(m[1]), headers: m[2], body: JSON.parse(rest.subarray(0, length).toString('utf8')) as { error: { code: string; message: string } } };
}

const BIG = 32 * 1024 * 1024;

describe('control endpoint edges: refusals before the body', () => {
  it('401, 403 (Origin), 404 and 405 with Content-Length 32 MiB: JSON, Connection: close, and the body is never waited for', async () => {
    const h = await edge();
    const host = `Host: 127.0.0.1:${h.port}\r\n`;
    const auth = `Authorization: Bearer ${TOKEN}\r\n`;
    const cases: Array<[string, number, string]> = [
      [`POST /api/commands HTTP/1.1\r\n${host}Content-Length: ${BIG}\r\n\r\n`, 401, 'unauthorized'],
      [`POST /api/commands HTTP/1.1\r\n${host}${auth}Origin: http://evil.example\r\nContent-Length: ${BIG}\r\n\r\n`, 403, 'forbidden_origin'],
      [`POST /api/commands HTTP/1.1\r\nHost: evil.example\r\nContent-Length: ${BIG}\r\n\r\n`, 403, 'forbidden_host'],
      [`POST /nowhere HTTP/1.1\r\n${host}${auth}Content-Length: ${BIG}\r\n\r\n`, 404, 'not_found'],
      [`PUT /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: ${BIG}\r\n\r\n`, 405, 'method_not_allowed'],
      [`POST /api/telemetry HTTP/1.1\r\n${host}${auth}Transfer-Encoding: chunked\r\n\r\n`, 405, 'method_not_allowed'],
    ];
    for (const [head, status, code] of cases) {
      // Only the headers are sent: a server that waited for the body would hold the connection open.
      const r = await raw(h.port, [head]);
      const a = answer(r.data);
      assert.equal(a.status, status, head);
      assert.equal(a.body.error.code, code);
      assert.match(a.headers, /^connection: close$/im, `${status} closes: ${a.headers}`);
    }
    assert.equal(h.events.length, 0, 'nothing ran');
  });

  it('a refused client that keeps sending its 32 MiB body is cut off early', async () => {
    const h = await edge();
    const chunk = 'x'.repeat(64 * 1024);
    const pieces = [`POST /api/commands HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nContent-Length: ${BIG}\r\n\r\n`];
    for (let i = 0; i < BIG / chunk.length; i++) pieces.push(chunk);
    const r = await raw(h.port, pieces, { gapMs: 1 });
    assert.ok(r.written < BIG / 4, `closed after ${r.written} of ${BIG} bytes`);
  });

  it('a refusal of a bodyless GET keeps the connection alive', async () => {
    const h = await edge();
    const head = `GET /api/telemetry HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\n\r\n`;
    const r = await raw(h.port, [head, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nConnection: close\r\n\r\n`], { gapMs: 50 });
    assert.equal((r.data.match(/HTTP\/1\.1 \d{3} /g) ?? []).length, 2, `both answered on one connection: ${r.data}`);
    assert.match(r.data, /401[\s\S]*200 OK/);
  });
});

describe("control endpoint edges: Node's own refusals answer JSON", () => {
  it('400 for Content-Length with Transfer-Encoding, 431 for huge headers, 400 for garbage and a missing Host, 408 for slow headers', async () => {
    const h = await edge({ headersTimeoutMs: 300, requestTimeoutMs: 5000 });
    const host = `Host: 127.0.0.1:${h.port}\r\n`;
    const auth = `Authorization: Bearer ${TOKEN}\r\n`;
    const cases: Array<[string[], number, string]> = [
      [[`POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`], 400, 'invalid_http'],
      [[`GET /healthz HTTP/1.1\r\n${host}X-Pad: ${'p'.repeat(20_000)}\r\n\r\n`], 431, 'headers_too_large'],
      [['NOT HTTP AT ALL\r\n\r\n'], 400, 'invalid_http'],
      [['GET /healthz HTTP/1.1\r\n\r\n'], 400, 'invalid_request'],
      [['GET /healthz HTTP/1.0\r\n\r\n'], 400, 'invalid_request'],
      [[`GET /healthz HTTP/1.1\r\n${host}`, 'X-Slow: 1\r\n'], 408, 'request_timeout'],
    ];
    for (const [pieces, status, code] of cases) {
      const r = await raw(h.port, pieces, { gapMs: 1000 });
      const a = answer(r.data);
      assert.equal(a.status, status, pieces[0].slice(0, 60));
      assert.equal(a.body.error.code, code);
      assert.equal(typeof a.body.error.message, 'string');
    }
  });
});

describe('control endpoint edges: what is logged and quoted', () => {
  it('a client leaving mid-body is one warning without a stack, however many do it at once', async () => {
    const h = await edge();
    const leave = () =>
      new Promise<void>((resolve) => {
        const s = connect(h.port, '127.0.0.1', () => {
          s.write(`POST /api/commands HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: 100\r\n\r\n{"comm`);
          setTimeout(() => s.destroy(), 50);
        });
        s.on('error', () => undefined);
        s.on('close', () => resolve());
      });
    await Promise.all(Array.from({ length: 20 }, leave));
    const t0 = Date.now();
    while (!h.logs.some((l) => /before its body was complete/.test(l.message)) && Date.now() - t0 < FAILSAFE_MS) await new Promise((r) => setTimeout(r, 10));
    const mid = h.logs.filter((l) => /before its body was complete/.test(l.message));
    assert.ok(mid.length >= 1 && mid.length < 20, `rate-limited: ${mid.length} lines for 20 clients`);
    for (const l of h.logs) {
      assert.equal(l.level, 'warn', l.message);
      assert.doesNotMatch(l.message, /\n\s+at /, 'no stack trace');
    }
    assert.equal(h.events.length, 0, 'nothing ran');
  });

  it('unknown field names, query keys, ?detail= and ?wait= values, paths and Host are quoted cut to 64 characters', async () => {
    const h = await edge();
    const long = 'k'.repeat(8000);
    const host = `Host: 127.0.0.1:${h.port}\r\n`;
    const auth = `Authorization: Bearer ${TOKEN}\r\n`;
    const body = JSON.stringify({ [long]: 1 });
    const heads = [
      `POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      `GET /api/telemetry?detail=${long} HTTP/1.1\r\n${host}${auth}\r\n`,
      `GET /api/telemetry?${long}=1 HTTP/1.1\r\n${host}${auth}\r\n`,
      `POST /api/commands?wait=${long} HTTP/1.1\r\n${host}${auth}Content-Length: 2\r\n\r\n{}`,
      `GET /${long} HTTP/1.1\r\n${host}${auth}\r\n`,
      `GET /healthz HTTP/1.1\r\nHost: ${long}\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\n${host}Origin: ${long}\r\n\r\n`,
    ];
    for (const head of heads) {
      const r = await raw(h.port, [head.replace(/\r\n\r\n/, '\r\nConnection: close\r\n\r\n')]);
      const a = answer(r.data);
      assert.ok(a.status >= 400, head.slice(0, 40));
      assert.ok(a.body.error.message.length < 400, `${a.body.error.message.length} characters: ${a.body.error.message.slice(0, 120)}`);
      assert.match(a.body.error.message, /k{60,64}…"/);
    }
  });

  it('more than 10 detached commands at once: no MaxListenersExceededWarning, and close() still cancels them all', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const h = await edge();
      const n = 40;
      for (let i = 0; i < n; i++) {
        const body = JSON.stringify({ commandType: 'GATE', parameters: { name: `d${i}` } });
        const r = await raw(h.port, [
          `POST /api/commands?wait=false HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        ]);
        assert.equal(answer(r.data).status, 202);
      }
      assert.equal(h.gates.size, n);
      await new Promise((r) => setImmediate(r));
      await h.server.close(0);
      const t0 = Date.now();
      while (h.events.filter((e) => e.eventType === 'CANCEL').length < n && Date.now() - t0 < FAILSAFE_MS) await new Promise((r) => setTimeout(r, 10));
      assert.equal(h.events.filter((e) => e.eventType === 'CANCEL').length, n, 'every detached command cancelled at close');
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(
      warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message),
      [],
    );
  });
});
