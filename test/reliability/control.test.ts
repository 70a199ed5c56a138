// Hostile input to the control endpoint over raw sockets, against the real server and the real pipeline:
// auth variants, Host and Origin, sizes with and without Content-Length, smuggling framings, slow headers and
// bodies, a connection flood, deep JSON, prototype keys, path tricks and methods. Every refusal is the
// documented JSON {"error": {code, message}}, nothing runs twice, and the server still serves afterwards.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { startControlServer } from '../../src/control/server';
import { createMiddleware } from '../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../src/core/system/sampler';
import { record } from './table';

const TOKEN = 'reliability-token-0123456789abcdef';

interface Answer {
  status: number;
  body: string;
}

/** Every HTTP answer in a byte stream (HEAD answers carry no body). */
function answers(data: Buffer, head = false): Answer[] {
  const out: Answer[] = [];
  let at = 0;
  while (at < data.length) {
    const start = data.indexOf('HTTP/1.1 ', at, 'latin1');
    if (start < 0) break;
    const end = data.indexOf('\r\n\r\n', start, 'latin1');
    if (end < 0) break;
    const headers = data.subarray(start, end).toString('latin1');
    const status = Number(headers.slice(9, 12));
    const length = status === 100 || head ? 0 : Number(/content-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
    out.push({ status, body: data.subarray(end + 4, end + 4 + length).toString('utf8') });
    at = end + 4 + length;
  }
  return out;
}

/** Sends `pieces` (gapMs apart) on one connection; resolves with what came back when the server closes it (or after waitMs). */
function send(port: number, pieces: Array<string | Buffer>, gapMs = 0, waitMs = 8000): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(chunks as unknown as readonly Uint8Array[]));
    };
    const timer = setTimeout(finish, waitMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => undefined);
    s.on('close', finish);
    s.on('connect', () => {
      void (async () => {
        for (const p of pieces) {
          if (s.destroyed) return;
          s.write(p as string | Uint8Array);
          if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
        }
      })();
    });
  });
}

describe('reliability: hostile input to the control endpoint', () => {
  it('every refusal is JSON, nothing runs twice, and it still serves', { timeout: 120_000 }, async () => {
    const mw = createMiddleware({ sampler: new StaticSampler({ cpuPercent: 5 }), config: { baseDelayMs: 0, maxConcurrency: 16 } });
    const runs = new Map<string, number>();
    const server = await startControlServer({
      token: TOKEN,
      headersTimeoutMs: 400,
      requestTimeoutMs: 1500,
      bodyIdleTimeoutMs: 300,
      maxConnections: 32,
      handlers: {
        control: () => Promise.reject(new Error('unused')),
        execute: (req) =>
          mw.execute(req, (r) => {
            const id = typeof r.parameters.id === 'string' ? r.parameters.id : '';
            runs.set(id, (runs.get(id) ?? 0) + 1);
            return { id };
          }),
        telemetry: (level) => mw.telemetry.query(level),
      },
    });
    const p = server.port;
    const host = `Host: 127.0.0.1:${p}\r\n`;
    const auth = `Authorization: Bearer ${TOKEN}\r\n`;
    const cmd = (id: string) => JSON.stringify({ commandType: 'ECHO', parameters: { id } });
    const postCmd = (id: string, extra = '') =>
      `POST /api/commands HTTP/1.1\r\n${host}${auth}${extra}Content-Length: ${Buffer.byteLength(cmd(id))}\r\n\r\n${cmd(id)}`;
    const deep = `{"commandType":"ECHO","parameters":{"x":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`;
    const cases: Array<{ name: string; pieces: Array<string | Buffer>; gapMs?: number; head?: boolean; mayRun?: string[] }> = [
      // auth variants
      { name: 'no token', pieces: [`GET /api/telemetry HTTP/1.1\r\n${host}Connection: close\r\n\r\n`] },
      { name: 'empty Bearer', pieces: [`GET /api/telemetry HTTP/1.1\r\n${host}Authorization: Bearer\r\nConnection: close\r\n\r\n`] },
      { name: 'Basic with the token', pieces: [`GET /api/telemetry HTTP/1.1\r\n${host}Authorization: Basic ${TOKEN}\r\nConnection: close\r\n\r\n`] },
      { name: 'token + junk', pieces: [`GET /api/telemetry HTTP/1.1\r\n${host}Authorization: Bearer ${TOKEN}x\r\nConnection: close\r\n\r\n`] },
      { name: 'token in the query', pieces: [`GET /api/telemetry?token=${TOKEN} HTTP/1.1\r\n${host}Connection: close\r\n\r\n`] },
      // Host and Origin
      { name: 'no Host', pieces: [`GET /healthz HTTP/1.1\r\n\r\n`] },
      { name: 'foreign Host', pieces: [`GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n`] },
      { name: 'Host with userinfo', pieces: [`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${p}@evil.example\r\n\r\n`] },
      { name: 'two Hosts', pieces: [`GET /healthz HTTP/1.1\r\n${host}Host: evil.example\r\n\r\n`] },
      { name: 'Origin null', pieces: [`${postCmd('o1', 'Origin: null\r\n')}`] },
      { name: 'foreign Origin', pieces: [`${postCmd('o2', 'Origin: http://evil.example\r\n')}`] },
      // sizes
      { name: 'Content-Length 2 MiB', pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: ${2 << 20}\r\n\r\n`] },
      {
        name: 'chunked 2 MiB',
        pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Transfer-Encoding: chunked\r\n\r\n`, ...Array(40).fill(`10000\r\n${'a'.repeat(0x10000)}\r\n`)],
        gapMs: 1,
      },
      { name: 'Content-Length too small', pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: 5\r\nConnection: close\r\n\r\n${cmd('s1')}`] },
      { name: 'Content-Length negative', pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: -1\r\n\r\n{}`] },
      { name: 'Content-Length twice', pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}`] },
      // smuggling framings
      { name: 'CL + TE', pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`] },
      {
        name: 'TE chunked twice',
        pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`],
      },
      { name: 'TE xchunked', pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`] },
      { name: 'TE with a space before the colon', pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`] },
      { name: 'bare LF line ends', pieces: [`GET /healthz HTTP/1.1\nHost: 127.0.0.1:${p}\n\n`] },
      {
        name: 'a request hidden in a body',
        pieces: [
          `POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: ${cmd('h1').length + postCmd('h2').length}\r\nConnection: close\r\n\r\n${cmd('h1')}${postCmd('h2')}`,
        ],
      },
      { name: 'two pipelined commands', pieces: [postCmd('p1') + postCmd('p2').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')], mayRun: ['p1', 'p2'] },
      // slow headers and bodies
      { name: 'slow headers', pieces: [`GET /api/telemetry HTTP/1.1\r\n`, host, 'X-Slow: 1\r\n', 'X-Slower: 2\r\n'], gapMs: 300 },
      { name: 'slow body', pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: 30\r\n\r\n{"comm`, 'andType"'], gapMs: 1000 },
      // JSON
      { name: 'deep JSON', pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: ${deep.length}\r\nConnection: close\r\n\r\n${deep}`] },
      {
        name: '__proto__ field',
        pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: 45\r\nConnection: close\r\n\r\n{"__proto__":{"x":1},"commandType":"ECHO"}  `],
      },
      {
        name: 'constructor field',
        pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: 40\r\nConnection: close\r\n\r\n{"constructor":{},"commandType":"ECHO"} `],
      },
      {
        name: '__proto__ in parameters',
        pieces: [
          `POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: 74\r\nConnection: close\r\n\r\n{"commandType":"ECHO","parameters":{"id":"pp","__proto__":{"polluted":1}}}`,
        ],
        mayRun: ['pp'],
      },
      { name: 'not JSON', pieces: [`POST /api/commands HTTP/1.1\r\n${host}${auth}Content-Length: 5\r\nConnection: close\r\n\r\n{{{{{`] },
      // path tricks
      { name: 'dot segments', pieces: [`GET /api/commands/../telemetry HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`] },
      { name: 'double slash', pieces: [`GET //api/telemetry HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`] },
      { name: 'encoded slash', pieces: [`GET /api%2Ftelemetry HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`] },
      { name: 'absolute form', pieces: [`GET http://evil.example/api/telemetry HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`] },
      { name: 'asterisk form', pieces: [`OPTIONS * HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`] },
      { name: 'NUL in the path', pieces: [Buffer.from(`GET /api/tele\0metry HTTP/1.1\r\n${host}${auth}\r\n`, 'latin1')] },
      { name: 'id path traversal', pieces: [`GET /api/commands/..%2F..%2Fetc HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`] },
      // methods
      ...['TRACE', 'OPTIONS', 'DELETE', 'PATCH', 'PROPFIND'].map((m) => ({
        name: m,
        pieces: [`${m} /api/commands HTTP/1.1\r\n${host}${auth}Connection: close\r\n\r\n`],
      })),
      { name: 'CONNECT', pieces: [`CONNECT 127.0.0.1:22 HTTP/1.1\r\n${host}${auth}\r\n`] },
      { name: 'HEAD /healthz', pieces: [`HEAD /healthz HTTP/1.1\r\n${host}Connection: close\r\n\r\n`], head: true },
    ];
    const tally = { requests: 0, answers: 0, refusals: 0, json: 0 };
    const problems: string[] = [];
    const unanswered: string[] = [];
    const accepted: string[] = [];
    for (const c of cases) {
      const data = await send(p, c.pieces, c.gapMs ?? 0);
      const got = answers(data, c.head);
      tally.requests++;
      tally.answers += got.length;
      if (got.length === 0) unanswered.push(c.name);
      else if (got.every((a) => a.status < 400)) accepted.push(`${c.name} (${got.map((a) => a.status).join(',')})`);
      for (const a of got) {
        if (a.status < 400 || c.head) continue;
        tally.refusals++;
        try {
          const j = JSON.parse(a.body) as { error?: { code?: unknown; message?: unknown } };
          if (typeof j.error?.code === 'string' && typeof j.error.message === 'string') tally.json++;
          else problems.push(`${c.name}: ${a.status} without {error:{code,message}}: ${a.body.slice(0, 80)}`);
        } catch {
          problems.push(`${c.name}: ${a.status} not JSON: ${JSON.stringify(a.body.slice(0, 80))}`);
        }
      }
      for (const [id, n] of runs) if (n > 1) problems.push(`${c.name}: ${id} ran ${n} times`);
      for (const id of runs.keys()) if (!['p1', 'p2', 'pp', ...cases.flatMap((x) => x.mayRun ?? [])].includes(id)) problems.push(`${c.name}: ${id} ran`);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype is untouched');

    // A connection flood past maxConnections: bounded, and the server serves once it is over.
    const flood = await Promise.all(
      Array.from(
        { length: 200 },
        () =>
          new Promise<boolean>((resolve) => {
            const s = connect(p, '127.0.0.1');
            let open = false;
            s.on('connect', () => (open = true));
            s.on('error', () => resolve(false));
            setTimeout(() => {
              resolve(open && !s.destroyed);
              s.destroy();
            }, 300);
          }),
      ),
    );
    const held = flood.filter(Boolean).length;
    assert.ok(held <= 32 + 1, `at most maxConnections held at once (${held})`);
    await new Promise((r) => setTimeout(r, 100));
    const after = answers(await send(p, [postCmd('after', 'Connection: close\r\n')]));
    assert.equal(after[0]?.status, 200, 'it still serves');
    await server.close(0);
    await mw.close();

    assert.deepEqual(problems, []);
    assert.deepEqual(unanswered, [], 'every request answered');
    assert.ok(tally.refusals >= cases.length - 6, `refusals answered (${tally.refusals})`);
    assert.equal(runs.get('after'), 1);
    record({
      property: 'control endpoint under hostile input',
      tried: `${tally.requests} hostile requests (auth, Host/Origin, sizes, smuggling, slow, deep JSON, prototype keys, paths, methods), 200 connections at once`,
      held: `${tally.refusals} refusals, all JSON; accepted only: ${accepted.join(', ')}; nothing ran twice; ${held} of 200 connections held (max 32); served after`,
    });
  });
});
