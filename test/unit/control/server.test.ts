// The control server over real HTTP on 127.0.0.1: each route, each refusal (with raw sockets where a client
// library would not misbehave on purpose), and one path end to end through the middleware to the real Python
// service. No timing assertions: the slow-client tests wait for the server to close the socket, with a
// failsafe far above the configured limit.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { existsSync } from 'node:fs';
import { request as httpRequest, Agent, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ResponseError } from 'vscode-jsonrpc';
import { createMessageConnection, type MessageConnection } from 'vscode-jsonrpc/node';
import { parseCommandBody, parseControlBody, statusForResult } from '../../../src/control/requests';
import { startControlServer, type ControlServer, type ControlServerCall, type ControlServerOptions } from '../../../src/control/server';
import { functionExecutor } from '../../../src/core/execution/executors';
import { createMiddleware, type Middleware } from '../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../src/core/system/sampler';
import { CommandFailure, type CommandResult, type Executor, type TelemetryEvent } from '../../../src/core/types';
import { serviceEnvironment } from '../../../src/python/environment';
import { ControlRequest, ExecuteRequest, serviceErrorName } from '../../../src/python/protocol';
import { serviceTransports } from '../../../src/python/transport';

const TOKEN = 'test-token-0123456789abcdef';
const FAILSAFE_MS = 20_000;

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: any;
}

/** One HTTP request on its own connection (or the given keep-alive agent). */
function call(
  port: number,
  method: string,
  path: string,
  opts: { body?: string; headers?: Record<string, string>; token?: string | null; agent?: Agent; signal?: AbortSignal } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  const token = opts.token === undefined ? TOKEN : opts.token;
  if (token !== null) headers.authorization ??= `Bearer ${token}`;
  if (opts.body !== undefined) headers['content-type'] ??= 'application/json';
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: opts.agent ?? false, signal: opts.signal }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const post = (port: number, path: string, body: unknown, opts: Parameters<typeof call>[3] = {}) =>
  call(port, 'POST', path, { ...opts, body: typeof body === 'string' ? body : JSON.stringify(body) });

/**
 * A raw TCP client: writes `pieces` with `gapMs` between them (or until the server closes), and resolves with
 * what came back once the server closes the connection.
 */
function raw(port: number, pieces: string[], gapMs = 0): Promise<{ data: string; closed: boolean; written: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let written = 0;
    let closed = false;
    const failsafe = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${FAILSAFE_MS} ms; got ${JSON.stringify(data.slice(0, 200))}`));
    }, FAILSAFE_MS);
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('error', () => undefined); // a reset after the server stops reading is expected
    socket.on('close', () => {
      closed = true;
      clearTimeout(failsafe);
      resolve({ data, closed, written });
    });
    socket.on('connect', () => {
      void (async () => {
        for (const p of pieces) {
          if (closed || socket.destroyed) return;
          socket.write(p, 'latin1');
          written += p.length;
          if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        }
      })();
    });
  });
}

/** A middleware with in-process commands, and handlers wired the way the extension wires its own. */
interface Harness {
  server: ControlServer;
  port: number;
  mw: Middleware;
  events: TelemetryEvent[];
  controls: ControlServerCall[];
  /** Release a GATE command by its `name` parameter. */
  gates: Map<string, () => void>;
  aborted: string[];
}

async function harness(over: Partial<ControlServerOptions> = {}): Promise<Harness> {
  const mw = createMiddleware({ sampler: new StaticSampler({ cpuPercent: 10 }), config: { baseDelayMs: 0 } });
  const events: TelemetryEvent[] = [];
  mw.telemetry.onEvent((e) => events.push(e));
  const controls: ControlServerCall[] = [];
  const gates = new Map<string, () => void>();
  const aborted: string[] = [];
  const commands = functionExecutor({
    ECHO: (p) => p,
    FAIL: () => {
      throw new CommandFailure('handler_failed', 'it broke');
    },
    GATE: (p, ctx) =>
      new Promise((resolve, reject) => {
        gates.set(String(p.name), () => resolve({ released: p.name }));
        ctx.signal.addEventListener('abort', () => {
          aborted.push(String(p.name));
          reject(new Error('stopped'));
        });
      }),
  });
  const server = await startControlServer({
    token: TOKEN,
    handlers: {
      // As AiosContext.control does: the control plane through the pipeline at HIGH priority.
      control: (c, { signal }) =>
        mw.execute(
          { commandType: `CONTROL:${c.operation}`, priority: 'HIGH', parameters: { ...c.parameters }, source: c.source },
          async () => {
            controls.push(c);
            return { ok: true, state: { logLevel: c.value ?? 'INFO' } };
          },
          { signal },
        ),
      // Today's pipeline tells the id only to the executor: the fallback the interface allows.
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
  return { server, port: server.port, mw, events, controls, gates, aborted };
}

async function until(check: () => boolean, what: string): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > FAILSAFE_MS) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('control server: listening and refusals', () => {
  it('listens on 127.0.0.1 on the free port the system chose, and answers /healthz without a token', async () => {
    const h = await harness();
    assert.ok(h.port > 0);
    assert.equal(h.server.host, '127.0.0.1');
    assert.equal(h.server.url, `http://127.0.0.1:${h.port}`);
    const r = await call(h.port, 'GET', '/healthz', { token: null });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'ok' });
    assert.match(String(r.headers['content-type']), /^application\/json/);
  });

  it('refuses a short token and a port in use with messages naming them', async () => {
    const handlers = { control: () => Promise.reject(new Error('unused')), execute: () => Promise.reject(new Error('unused')), telemetry: () => ({}) };
    await assert.rejects(() => startControlServer({ token: 'short', handlers }), /at least 16 characters/);
    await assert.rejects(() => startControlServer({ token: TOKEN, handlers, port: 70000 }), /port must be an integer/);
    const h = await harness();
    await assert.rejects(() => startControlServer({ token: TOKEN, handlers, port: h.port }), new RegExp(`port ${h.port} is in use`));
  });

  it('401 without the token, with a wrong one, or with another scheme; the right one passes', async () => {
    const h = await harness();
    const refused: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
      { authorization: `Bearer ${TOKEN.slice(0, -1)}X` },
      { authorization: `Basic ${TOKEN}` },
      { authorization: 'Bearer' },
    ];
    for (const headers of refused) {
      const r = await call(h.port, 'GET', '/api/telemetry', { token: null, headers });
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal(r.json.error.code, 'unauthorized');
      assert.match(r.json.error.message, /Authorization: Bearer/);
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="aios"');
    }
    assert.equal((await call(h.port, 'GET', '/api/telemetry', { token: null, headers: { authorization: `bearer  ${TOKEN}` } })).status, 200);
    assert.equal((await call(h.port, 'GET', '/api/telemetry')).status, 200);
  });

  it('403 for a Host or Origin that is not its own loopback address (DNS rebinding), even on /healthz', async () => {
    const h = await harness();
    const p = h.port;
    for (const host of ['evil.example:' + p, `127.0.0.1:${p + 1}`, '127.0.0.1', `localhost.:${p}`, `127.0.0.2:${p}`, `0.0.0.0:${p}`]) {
      for (const path of ['/healthz', '/api/telemetry']) {
        const r = await call(p, 'GET', path, { headers: { host } });
        assert.equal(r.status, 403, `${host} ${path}`);
        assert.equal(r.json.error.code, 'forbidden_host');
      }
    }
    for (const host of [`127.0.0.1:${p}`, `localhost:${p}`, `LOCALHOST:${p}`, `[::1]:${p}`]) {
      assert.equal((await call(p, 'GET', '/api/telemetry', { headers: { host } })).status, 200, host);
    }
    for (const origin of ['http://evil.example', `http://evil.example:${p}`, 'null', `https://127.0.0.1:${p}`, `http://127.0.0.1:${p + 1}`]) {
      const r = await call(p, 'GET', '/api/telemetry', { headers: { origin } });
      assert.equal(r.status, 403, origin);
      assert.equal(r.json.error.code, 'forbidden_origin');
    }
    for (const origin of [`http://127.0.0.1:${p}`, `http://localhost:${p}`, `http://[::1]:${p}`]) {
      assert.equal((await call(p, 'GET', '/api/telemetry', { headers: { origin } })).status, 200, origin);
    }
  });

  it('404 for an unknown route, 405 with Allow for a wrong method, 400 for an unknown query parameter', async () => {
    const h = await harness();
    for (const path of ['/', '/api', '/api/telemetry/x', '//api/telemetry', '/admin/control/', '/API/TELEMETRY']) {
      const r = await call(h.port, 'GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(r.json.error.code, 'not_found');
    }
    const cases: Array<[string, string, string]> = [
      ['GET', '/admin/control', 'POST'],
      ['PUT', '/api/commands', 'POST'],
      ['POST', '/api/telemetry', 'GET'],
      ['DELETE', '/healthz', 'GET'],
    ];
    for (const [method, path, allow] of cases) {
      const r = await call(h.port, method, path);
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.json.error.code, 'method_not_allowed');
      assert.equal(r.headers.allow, allow);
    }
    const q = await call(h.port, 'GET', '/api/telemetry?level=SUMMARY');
    assert.equal(q.status, 400);
    assert.match(q.json.error.message, /Unknown query parameter "level".*detail/);
  });

  it('400 with the parser message for a body that is not JSON, and for an empty body; a UTF-8 BOM is fine', async () => {
    const h = await harness();
    const bad = await post(h.port, '/api/commands', '{"commandType": "ECHO",');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'invalid_json');
    assert.match(bad.json.error.message, /^The body is not valid JSON: /);
    const empty = await post(h.port, '/admin/control', '');
    assert.equal(empty.status, 400);
    assert.match(empty.json.error.message, /empty/);
    const arr = await post(h.port, '/api/commands', '[1]');
    assert.equal(arr.status, 400);
    assert.match(arr.json.error.message, /must be a JSON object.*an array/);
    const bom = await post(h.port, '/api/commands', '\uFEFF{"CommandType":"ECHO"}'); // sent as UTF-8: EF BB BF first
    assert.equal(bom.status, 200, bom.text);
  });
});

describe('control server: request size and slow clients', () => {
  it('413 for a declared Content-Length over 1 MiB, before any of the body is sent', async () => {
    const h = await harness();
    const r = await raw(h.port, [
      `POST /api/commands HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`,
    ]);
    assert.match(r.data, /^HTTP\/1\.1 413 /);
    assert.match(r.data, /"code":"payload_too_large"/);
    assert.match(r.data, /[Cc]onnection: close/);
  });

  it('413 without a 100 Continue for an Expect: 100-continue client with an oversized body', async () => {
    const h = await harness();
    const r = await raw(h.port, [
      `POST /api/commands HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${5 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`,
    ]);
    assert.doesNotMatch(r.data, /100 Continue/);
    assert.match(r.data, /^HTTP\/1\.1 413 /);
  });

  it('answers Expect: 100-continue with 100 Continue for an acceptable body (curl sends it for bodies over 1 KB)', async () => {
    const h = await harness();
    const body = JSON.stringify({ commandType: 'ECHO', parameters: { pad: 'x'.repeat(2000) } });
    const r = await raw(
      h.port,
      [
        `POST /api/commands HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
        body,
      ],
      300,
    );
    assert.match(r.data, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    assert.match(r.data, /"success":true/);
  });

  it('413 and a closed connection for a chunked body that grows past 1 MiB; it stops reading', async () => {
    const h = await harness();
    const chunk = 'a'.repeat(64 * 1024);
    const framed = `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    const pieces = [`POST /api/commands HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n`];
    for (let i = 0; i < 256; i++) pieces.push(framed); // 16 MiB offered
    const r = await raw(h.port, pieces, 2);
    assert.match(r.data, /^HTTP\/1\.1 413 /);
    assert.ok(r.written < 8 * 1024 * 1024, `the server closed the connection early (client wrote ${r.written} bytes of 16 MiB)`);
  });

  it('closes a connection whose headers trickle in (headersTimeoutMs)', async () => {
    const h = await harness({ headersTimeoutMs: 300, requestTimeoutMs: 10_000 });
    const head = `GET /api/telemetry HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\nX-Pad: ${'x'.repeat(400)}\r\n\r\n`;
    const r = await raw(h.port, head.split(''), 20); // ~10 s if it were let through
    assert.match(r.data, /^HTTP\/1\.1 408 /);
    assert.ok(r.written < head.length, `closed before the headers were complete (${r.written} of ${head.length} bytes)`);
  });

  it('408 and a closed connection when a body pauses longer than bodyIdleTimeoutMs', async () => {
    const h = await harness({ bodyIdleTimeoutMs: 200 });
    const body = '{"commandType":"ECHO"}';
    const head = `POST /api/commands HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${body.length}\r\n\r\n`;
    // A pause before any of the body, and a pause after part of it.
    for (const pieces of [
      [head, body],
      [head + body.slice(0, 5), body.slice(5)],
    ]) {
      const r = await raw(h.port, pieces, 2000);
      assert.match(r.data, /^HTTP\/1\.1 408 /);
      assert.match(r.data, /"code":"request_timeout"/);
      assert.equal(r.written, pieces[0].length, 'closed during the pause');
    }
    assert.equal(h.events.length, 0, 'nothing ran');
  });

  it('closes a connection whose body trickles steadily past requestTimeoutMs', async () => {
    const h = await harness({ headersTimeoutMs: 200, requestTimeoutMs: 400, bodyIdleTimeoutMs: 5000 });
    const body = `{"commandType":"ECHO","parameters":{"x":"${'y'.repeat(200)}"}}`;
    const r = await raw(
      h.port,
      [
        `POST /api/commands HTTP/1.1\r\nHost: 127.0.0.1:${h.port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${body.length}\r\n\r\n`,
        ...body.split(''),
      ],
      20,
    );
    assert.match(r.data, /^HTTP\/1\.1 408 /);
    assert.ok(r.written < body.length, 'closed before the body was complete');
    assert.equal(h.events.length, 0, 'nothing ran');
  });

  it('a command may run longer than requestTimeoutMs: that limit is for receiving the request', async () => {
    const h = await harness({ headersTimeoutMs: 100, requestTimeoutMs: 200 });
    const pending = post(h.port, '/api/commands', { commandType: 'GATE', parameters: { name: 'long' } });
    await until(() => h.gates.has('long'), 'the command to start');
    await new Promise((r) => setTimeout(r, 600));
    h.gates.get('long')!();
    const r = await pending;
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.result, { released: 'long' });
  });
});

describe('control server: /api/commands', () => {
  it('runs a command through the middleware, seed names or camelCase, priority in any case; source endpoint, the client its caller', async () => {
    const h = await harness();
    const seed = await post(h.port, '/api/commands', { CommandType: 'ECHO', Priority: 'High', Parameters: { x: 1 } });
    assert.equal(seed.status, 200, seed.text);
    assert.equal(seed.json.success, true);
    assert.deepEqual(seed.json.result, { x: 1 });
    assert.equal(typeof seed.json.commandId, 'string');
    const camel = await post(h.port, '/api/commands', { commandType: 'ECHO', priority: 'low', parameters: { y: 2 }, source: 'my-script' });
    assert.deepEqual(camel.json.result, { y: 2 });
    const starts = h.events.filter((e) => e.eventType === 'START');
    assert.deepEqual(
      starts.map((e) => [e.priority, e.metadata?.source, e.metadata?.caller]),
      [
        ['HIGH', 'endpoint', undefined],
        ['LOW', 'endpoint', 'my-script'],
      ],
    );
    const complete = h.events.find((e) => e.eventType === 'COMPLETE');
    assert.equal(complete?.commandId, seed.json.commandId);
    assert.equal(complete?.metadata?.source, 'endpoint', 'the end carries its source too');
  });

  it('maps outcomes to statuses: 400 invalid (the middleware says why), 403 blocked, 422 unknown command, 502 handler failure', async () => {
    const h = await harness();
    const invalid = await post(h.port, '/api/commands', { commandType: 'bad type!' });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json.success, false);
    assert.equal(invalid.json.error.code, 'invalid_request');
    assert.match(invalid.json.error.message, /commandType must be/);
    const prio = await post(h.port, '/api/commands', { commandType: 'ECHO', priority: 'URGENT' });
    assert.equal(prio.status, 400);
    assert.match(prio.json.error.message, /priority must be HIGH, NORMAL or LOW/);
    const blocked = await post(h.port, '/api/commands', { commandType: 'DROP_TABLE' });
    assert.equal(blocked.status, 403);
    assert.equal(blocked.json.error.code, 'blocked');
    const unknown = await post(h.port, '/api/commands', { commandType: 'NOPE' });
    assert.equal(unknown.status, 422);
    assert.equal(unknown.json.error.code, 'unknown_command_type');
    const failed = await post(h.port, '/api/commands', { commandType: 'FAIL' });
    assert.equal(failed.status, 502);
    assert.deepEqual(failed.json.error, { code: 'handler_failed', message: 'it broke' });
  });

  it('400 naming an unknown field, or one field given twice in two cases', async () => {
    const h = await harness();
    const typo = await post(h.port, '/api/commands', { commandType: 'ECHO', paramters: {} });
    assert.equal(typo.status, 400);
    assert.match(typo.json.error.message, /Unknown field "paramters"; the fields are commandType, priority, parameters, source/);
    const twice = await post(h.port, '/api/commands', { commandType: 'ECHO', CommandType: 'ECHO' });
    assert.equal(twice.status, 400);
    assert.match(twice.json.error.message, /"commandType" and "CommandType" are the same field/);
    assert.equal(h.events.length, 0, 'neither reached the middleware');
  });

  it('?wait=false answers 202 with the commandId while the command runs; GET /api/commands/<id> follows it', async () => {
    const h = await harness();
    const r = await post(h.port, '/api/commands?wait=false', { commandType: 'GATE', parameters: { name: 'd1' } });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.status, 'accepted');
    const id: string = r.json.commandId;
    assert.ok(h.gates.has('d1'), 'still running');
    assert.equal(r.headers.location, `/api/commands/${id}`);
    assert.equal(h.events.find((e) => e.eventType === 'START')?.commandId, id);
    const running = await call(h.port, 'GET', `/api/commands/${id}`);
    assert.deepEqual(running.json, { status: 'running', commandId: id });
    h.gates.get('d1')!();
    await until(() => h.events.some((e) => e.eventType === 'COMPLETE'), 'the command to finish');
    await new Promise((res) => setImmediate(res));
    const done = await call(h.port, 'GET', `/api/commands/${id}`);
    assert.equal(done.json.status, 'done');
    assert.equal(done.json.success, true);
    assert.deepEqual(done.json.result, { released: 'd1' });
    const missing = await call(h.port, 'GET', '/api/commands/nope-1');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, 'unknown_command_id');
  });

  it('?wait=false still answers a refused command with its refusal, not a 202; a bad wait value is a 400', async () => {
    const h = await harness();
    const blocked = await post(h.port, '/api/commands?wait=false', { commandType: 'DELETE_ALL' });
    assert.equal(blocked.status, 403);
    assert.equal(blocked.json.error.code, 'blocked');
    const bad = await post(h.port, '/api/commands?wait=maybe', { commandType: 'ECHO' });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /wait must be true or false/);
  });

  it('?wait=false: a command refused right after its id was assigned is answered with its refusal', async () => {
    // As the pipeline will do once ExecuteOptions has onCommandId: the id first, then validation refuses.
    const server = await startControlServer({
      token: TOKEN,
      handlers: {
        control: () => Promise.reject(new Error('unused')),
        execute: async (request, hooks) => {
          hooks.onCommandId('early-1');
          for (let i = 0; i < 5; i++) await Promise.resolve(); // refused a few microtasks later, in the same turn
          return {
            commandId: 'early-1',
            commandType: String(request.commandType),
            success: false,
            error: { code: 'blocked', message: 'no' },
            durationMs: 0,
            throttled: false,
            delayMs: 0,
          };
        },
        telemetry: () => ({}),
      },
    });
    after(() => server.close(0));
    const r = await post(server.port, '/api/commands?wait=false', { commandType: 'DROP_IT' });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.json.commandId, 'early-1');
  });

  it('a waiting client that goes away cancels its command (CANCEL event, executor told); a detached one is not', async () => {
    const h = await harness();
    const ac = new AbortController();
    const pending = post(h.port, '/api/commands', { commandType: 'GATE', parameters: { name: 'gone' } }, { signal: ac.signal }).catch((e: Error) => e);
    await until(() => h.gates.has('gone'), 'the command to start');
    const detached = await post(h.port, '/api/commands?wait=false', { commandType: 'GATE', parameters: { name: 'stays' } });
    assert.equal(detached.status, 202);
    ac.abort();
    assert.ok((await pending) instanceof Error);
    await until(() => h.events.some((e) => e.eventType === 'CANCEL'), 'a CANCEL event');
    assert.deepEqual(h.aborted, ['gone']);
    h.gates.get('stays')!();
    await until(() => h.events.some((e) => e.eventType === 'COMPLETE'), 'the detached command to complete');
  });

  it('on one keep-alive connection, request after request leaves no abort listener behind', async () => {
    const counts: number[] = [];
    const mw = createMiddleware({ sampler: new StaticSampler({ cpuPercent: 10 }), config: { baseDelayMs: 0 } });
    const echo = functionExecutor({ ECHO: (p) => p });
    const server = await startControlServer({
      token: TOKEN,
      handlers: {
        control: () => Promise.reject(new Error('unused')),
        execute: async (request, hooks) => {
          counts.push(getEventListeners(hooks.signal, 'abort').length);
          return mw.execute(request, echo, { signal: hooks.signal });
        },
        telemetry: () => ({}),
      },
    });
    after(async () => {
      await server.close(0);
      await mw.close();
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 50; i++) assert.equal((await post(server.port, '/api/commands', { commandType: 'ECHO' }, { agent })).status, 200);
    } finally {
      agent.destroy();
    }
    assert.equal(counts.length, 50);
    // The first request finds none; from then on the pipeline's one listener for this signal, never more.
    assert.deepEqual(new Set(counts.slice(1)), new Set([counts[0] + 1]), `listeners per request: ${counts.join(',')}`);
  });

  it('serves 16 keep-alive clients at once, each answer its own', async () => {
    const h = await harness();
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    try {
      const replies = await Promise.all(
        Array.from({ length: 16 * 20 }, (_, i) => post(h.port, '/api/commands', { commandType: 'ECHO', parameters: { i } }, { agent })),
      );
      replies.forEach((r, i) => assert.deepEqual(r.json.result, { i }));
      assert.equal(new Set(replies.map((r) => String(r.json.commandId))).size, replies.length);
    } finally {
      agent.destroy();
    }
  });
});

describe('control server: /admin/control and /api/telemetry', () => {
  it('takes the PowerShell-compatible control shape to the control plane and echoes CommandId and Timestamp', async () => {
    const h = await harness();
    const r = await post(h.port, '/admin/control', {
      Operation: 'update_log_level',
      Value: 'debug',
      Parameters: { persistent: false },
      Timestamp: '2026-03-01T10:00:00+01:00',
      Source: 'PowerShell',
      CommandId: '3f2b8c1e-0d4a-4b7e-9a51-6c2d9e0f1a2b',
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.success, true);
    assert.deepEqual(r.json.result, { ok: true, state: { logLevel: 'DEBUG' } });
    assert.equal(r.json.clientCommandId, '3f2b8c1e-0d4a-4b7e-9a51-6c2d9e0f1a2b');
    assert.equal(r.json.requestedAt, '2026-03-01T09:00:00.000Z');
    assert.equal(r.json.commandType, 'CONTROL:UPDATE_LOG_LEVEL');
    assert.deepEqual(h.controls, [{ operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG', parameters: { persistent: false }, source: 'endpoint:PowerShell' }]);
    const start = h.events.find((e) => e.eventType === 'START');
    assert.equal(start?.priority, 'HIGH');
    assert.equal(start?.metadata?.source, 'control', 'a control operation, whoever asked');
    assert.equal(start?.metadata?.caller, 'endpoint:PowerShell');
  });

  it('400 with a message naming the field for each bad control field, over HTTP; nothing reaches the control plane', async () => {
    const h = await harness();
    const cases: Array<[unknown, RegExp]> = [
      [{}, /Operation is required: one of UPDATE_LOG_LEVEL, FLUSH_CACHE/],
      [{ Operation: 'REBOOT' }, /Operation must be one of .* \(got "REBOOT"\)/],
      [{ Operation: 7 }, /Operation must be one of .* \(got number\)/],
      [{ Operation: 'UPDATE_LOG_LEVEL' }, /UPDATE_LOG_LEVEL needs Value, one of DEBUG, INFO, WARNING, ERROR, CRITICAL \(got undefined\)/],
      [{ Operation: 'UPDATE_LOG_LEVEL', Value: 'LOUD' }, /UPDATE_LOG_LEVEL needs Value.*\(got "LOUD"\)/],
      [{ Operation: 'HEALTH_OVERRIDE' }, /HEALTH_OVERRIDE needs Value, one of healthy, unhealthy, clear/],
      [{ Operation: 'FLUSH_CACHE', Value: 3 }, /Value must be a string/],
      [{ Operation: 'FLUSH_CACHE', Parameters: ['all'] }, /Parameters must be a JSON object.*an array/],
      [{ Operation: 'CUSTOM_COMMAND', Parameters: {} }, /CUSTOM_COMMAND needs Parameters.command/],
      [{ Operation: 'CUSTOM_COMMAND', Parameters: { command: 'x', arguments: 'y' } }, /Parameters.arguments must be a JSON object/],
      [{ Operation: 'BCM_RESET', Timestamp: 'yesterday' }, /Timestamp must be an ISO 8601 time.*\(got "yesterday"\)/],
      [{ Operation: 'BCM_RESET', Timestamp: '2026-13-45T00:00:00Z' }, /Timestamp must be/],
      [{ Operation: 'BCM_RESET', Source: '' }, /Source must be 1-64 printable characters/],
      [{ Operation: 'BCM_RESET', Source: 'a\nb' }, /Source must be/],
      [{ Operation: 'BCM_RESET', Source: 'x'.repeat(65) }, /Source must be/],
      [{ Operation: 'BCM_RESET', CommandId: 'has space' }, /CommandId must be 1-128/],
      [{ Operation: 'BCM_RESET', Extra: 1 }, /Unknown field "Extra"; the fields are Operation, Value, Parameters, Timestamp, Source, CommandId/],
    ];
    for (const [body, message] of cases) {
      const r = await post(h.port, '/admin/control', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.json.error.code, 'invalid_request');
      assert.match(r.json.error.message, message, JSON.stringify(body));
    }
    assert.deepEqual(h.controls, []);
    assert.equal(h.events.length, 0);
  });

  it('GET /api/telemetry answers each detail level (SUMMARY by default, any case) with the middleware report', async () => {
    const h = await harness();
    await post(h.port, '/api/commands', { commandType: 'ECHO' });
    await post(h.port, '/api/commands', { commandType: 'FAIL' });
    const summary = await call(h.port, 'GET', '/api/telemetry');
    assert.equal(summary.status, 200);
    assert.equal(summary.json.level, 'SUMMARY');
    assert.equal(summary.json.overall.totalCommands, 2);
    assert.equal(summary.json.overall.failedCommands, 1);
    assert.equal(summary.json.recentEvents, undefined);
    const detailed = await call(h.port, 'GET', '/api/telemetry?detail=detailed');
    assert.equal(detailed.json.level, 'DETAILED');
    assert.deepEqual(Object.keys(detailed.json.byType).sort(), ['ECHO', 'FAIL']);
    assert.equal(detailed.json.recentEvents.length, 4);
    const realtime = await call(h.port, 'GET', '/api/telemetry?detail=REALTIME');
    assert.equal(realtime.json.system.cpuPercent, 10);
    assert.equal(typeof realtime.json.admission.active, 'number');
    const bad = await call(h.port, 'GET', '/api/telemetry?detail=FULL');
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /detail must be one of SUMMARY, DETAILED, REALTIME \(got "FULL"\)/);
  });
});

describe('control server: parsing and status mapping (pure functions)', () => {
  it('parseCommandBody keeps values for the middleware to judge and marks the source', () => {
    assert.deepEqual(parseCommandBody({ COMMANDTYPE: 'X', priority: ' normal ' }), { commandType: 'X', priority: 'NORMAL', source: 'endpoint' });
    assert.deepEqual(parseCommandBody({ commandType: 'X', priority: 3, parameters: null }), {
      commandType: 'X',
      priority: 3,
      parameters: null,
      source: 'endpoint',
    });
    assert.throws(() => parseCommandBody(null), /must be a JSON object/);
  });

  it('parseControlBody accepts epoch ms timestamps and omits what was not given', () => {
    assert.deepEqual(parseControlBody({ operation: 'RELOAD_CONFIG', timestamp: 0 }), {
      call: { operation: 'RELOAD_CONFIG', source: 'endpoint' },
      requestedAt: '1970-01-01T00:00:00.000Z',
    });
    assert.deepEqual(parseControlBody({ Operation: 'HEALTH_OVERRIDE', Value: ' Unhealthy ', Parameters: { duration: 5 } }).call, {
      operation: 'HEALTH_OVERRIDE',
      value: 'unhealthy',
      parameters: { duration: 5 },
      source: 'endpoint',
    });
    assert.equal(parseControlBody({ Operation: 'UPDATE_LOG_LEVEL', Value: 'warn' }).call.value, 'WARNING');
  });

  it('statusForResult: success 200; each failure code to its status; unknown codes 502', () => {
    const r = (code?: string): CommandResult => ({
      commandId: 'c',
      commandType: 'T',
      success: code === undefined,
      error: code ? { code, message: '' } : undefined,
      durationMs: 0,
      throttled: false,
      delayMs: 0,
    });
    const table: Array<[string | undefined, number]> = [
      [undefined, 200],
      ['invalid_request', 400],
      ['blocked', 403],
      ['queue_full', 429],
      ['unknown_command_type', 422],
      ['invalid_params', 422],
      ['cancelled', 503],
      ['service_unavailable', 503],
      ['timeout', 504],
      ['handler_failed', 502],
      ['something_new', 502],
    ];
    for (const [code, status] of table) assert.equal(statusForResult(r(code)), status, String(code));
  });
});

describe('control server: other bindings and closing', () => {
  it('with host set, binds that address and accepts it (and allowedHosts) in Host, still refusing others', async () => {
    const h = await harness({ host: '127.0.0.2', allowedHosts: ['aios.test'] });
    assert.equal(h.server.url, `http://127.0.0.2:${h.port}`);
    const get = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.2', port: h.port, path: '/healthz', headers: { host }, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    assert.equal(await get(`127.0.0.2:${h.port}`), 200);
    assert.equal(await get(`aios.test:${h.port}`), 200);
    assert.equal(await get(`other.test:${h.port}`), 403);
    // Nothing listens on 127.0.0.1 at that port.
    await assert.rejects(() => call(h.port, 'GET', '/healthz'), /ECONNREFUSED/);
  });

  it('close() stops listening, cancels commands still waiting after the grace period, and frees the port', async () => {
    const h = await harness();
    const pending = post(h.port, '/api/commands', { commandType: 'GATE', parameters: { name: 'at-close' } }).catch((e: Error) => e);
    await until(() => h.gates.has('at-close'), 'the command to start');
    await h.server.close(50);
    assert.ok((await pending) instanceof Error, 'the waiting connection was closed');
    await until(() => h.events.some((e) => e.eventType === 'CANCEL'), 'a CANCEL event');
    await assert.rejects(() => call(h.port, 'GET', '/healthz'), /ECONNREFUSED/);
    // The port is free again.
    const probe = createNetServer();
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(h.port, '127.0.0.1', () => resolve()));
    assert.equal((probe.address() as AddressInfo).port, h.port);
    await new Promise((r) => probe.close(r));
  });
});

// ---- end to end: HTTP → server → middleware → the real Python service --------------------------------------

function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'python', 'aios_service'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`No repository root above ${__dirname}`);
    dir = parent;
  }
}

function findPython(): string {
  const candidates = process.env.AIOS_PYTHON
    ? [[process.env.AIOS_PYTHON]]
    : process.platform === 'win32'
      ? [['py', '-3'], ['python']]
      : [['python3'], ['python']];
  for (const [cmd, ...args] of candidates) {
    const r = spawnSync(cmd, [...args, '-c', 'import sys; assert sys.version_info >= (3, 9); print(sys.executable)'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  throw new Error('No Python 3.9+ found: install Python 3 or set AIOS_PYTHON.');
}

describe('control server end to end with the Python service', () => {
  let proc: ChildProcessWithoutNullStreams;
  let conn: MessageConnection;
  let server: ControlServer;
  let mw: Middleware;

  before(async () => {
    const pythonDir = join(repoRoot(), 'python');
    proc = spawn(findPython(), ['-m', 'aios_service', '--stdio'], {
      cwd: pythonDir,
      env: serviceEnvironment(process.env, pythonDir),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    proc.stderr.resume();
    const { reader, writer } = serviceTransports(proc.stdout, proc.stdin);
    conn = createMessageConnection(reader, writer);
    conn.listen();
    await conn.sendRequest('initialize', { processId: process.pid, capabilities: {}, initializationOptions: { handlersModule: null } });
    await conn.sendNotification('initialized', {});
    mw = createMiddleware({ sampler: new StaticSampler({ cpuPercent: 10 }) });
    // What src/python/executor.ts and AiosContext.control send, minus the supervisor.
    const toFailure = (e: unknown): never => {
      throw e instanceof ResponseError ? new CommandFailure(serviceErrorName(e.code), e.message) : e;
    };
    const python: Executor = async (req, ctx) =>
      (
        await conn
          .sendRequest(ExecuteRequest, { commandId: ctx.commandId, commandType: req.commandType, priority: req.priority, parameters: req.parameters })
          .catch(toFailure)
      ).result;
    server = await startControlServer({
      token: TOKEN,
      handlers: {
        control: (c, { signal }) =>
          mw.execute(
            { commandType: `CONTROL:${c.operation}`, priority: 'HIGH', parameters: { ...c.parameters }, source: c.source },
            (_r, ctx) =>
              conn
                .sendRequest(ControlRequest, {
                  operation: c.operation,
                  ...(c.value !== undefined ? { value: c.value } : {}),
                  parameters: c.parameters ?? {},
                  timestamp: new Date().toISOString(),
                  source: c.source,
                  commandId: ctx.commandId,
                })
                .catch(toFailure),
            { signal },
          ),
        execute: (request, hooks) => mw.execute(request, (r, ctx) => (hooks.onCommandId(ctx.commandId), python(r, ctx)), { signal: hooks.signal }),
        telemetry: (level) => mw.telemetry.query(level),
      },
    });
  });

  after(async () => {
    await server?.close(0);
    await mw?.close();
    conn?.dispose();
    if (proc && proc.exitCode === null) proc.kill();
  });

  it("Sync-PythonState's UPDATE_LOG_LEVEL and Invoke-AIOSCommandWithMiddleware's ECHO reach the service", async () => {
    const level = await post(server.port, '/admin/control', { Operation: 'UPDATE_LOG_LEVEL', Value: 'WARNING', Source: 'PowerShell', CommandId: 'ps-1' });
    assert.equal(level.status, 200, level.text);
    assert.equal(level.json.result.state.logLevel, 'WARNING');
    assert.equal(level.json.result.detail.logLevel, 'WARNING');
    const echo = await post(server.port, '/api/commands', { CommandType: 'ECHO', Priority: 'HIGH', Parameters: { hello: 'wörld' } });
    assert.equal(echo.status, 200, echo.text);
    assert.deepEqual(echo.json.result, { hello: 'wörld' });
    const unknownCommand = await post(server.port, '/admin/control', { Operation: 'CUSTOM_COMMAND', Parameters: { command: 'no_such_thing' } });
    assert.equal(unknownCommand.status, 422, unknownCommand.text);
    assert.equal(unknownCommand.json.error.code, 'unknown_control_command');
    const t = await call(server.port, 'GET', '/api/telemetry?detail=DETAILED');
    // Control operations are counted apart from commands.
    assert.equal(t.json.overall.totalCommands, 1);
    assert.equal(t.json.overall.controlOperations.count, 2);
    assert.deepEqual(Object.keys(t.json.byType).sort(), ['CONTROL:CUSTOM_COMMAND', 'CONTROL:UPDATE_LOG_LEVEL', 'ECHO']);
  });
});
