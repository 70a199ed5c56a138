// The browser dashboard over real HTTP on 127.0.0.1, through the real control server: the one-time login,
// the cookie, the CSP, the SSE stream (coalesced, bounded, freed on close) and the page's messages.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { cookieName, Dashboard, type DashboardOptions } from '../../../src/control/dashboard';
import { startControlServer, type ControlServer } from '../../../src/control/server';
import { Commands } from '../../../src/shared/ids';
import { parseHostMessage, type HostMessage, type MetricsSnapshot, type PanelCommand } from '../../../src/webview/protocol';

const TOKEN = 'test-token-0123456789abcdef';
const FAILSAFE_MS = 10_000;

/** A metrics source whose total is the number of changes fired. */
class FakeSource {
  total = 0;
  readonly events = new EventEmitter();
  snapshot(): MetricsSnapshot {
    return {
      at: Date.now(),
      overall: {
        totalCommands: this.total,
        successfulCommands: this.total,
        failedCommands: 0,
        successRate: 1,
        averageDurationMs: 1,
        throttledCommands: 0,
        cancelledCommands: 0,
        blockedCommands: 0,
      },
      latency: { p50: 1, p95: 2, p99: 3 },
      admission: { active: 0, limit: 4, queued: { HIGH: 0, NORMAL: 0, LOW: 0 }, paused: false, lastDelayMs: 0 },
      system: null,
      service: { status: 'healthy' },
      perType: [],
    };
  }
  change(): void {
    this.total++;
    this.events.emit('change');
  }
  onDidChange(listener: () => void): { dispose(): void } {
    this.events.on('change', listener);
    return { dispose: () => this.events.off('change', listener) };
  }
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: any;
}

function call(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
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
    req.end(body);
  });
}

/** An open SSE stream: the host messages it has received so far, validated by the page's own parser. */
interface Stream {
  status: number;
  messages: HostMessage[];
  /** The id its `stream` event told (the page's beacon names it). */
  id?: string;
  res: IncomingMessage;
  req: ClientRequest;
  next(count: number): Promise<void>;
}

function openStream(port: number, cookie: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/events', headers: { cookie }, agent: false }, (res) => {
      const stream: Stream = {
        status: res.statusCode ?? 0,
        messages: [],
        res,
        req,
        next: (count) =>
          new Promise<void>((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`only ${stream.messages.length} messages, waited for ${count}`)), FAILSAFE_MS);
            const check = (): void => {
              if (stream.messages.length < count) return;
              clearTimeout(timer);
              res.off('data', check);
              done();
            };
            res.on('data', check);
            setImmediate(check);
          }),
      };
      let buffer = '';
      res.setEncoding('utf8');
      res.prependListener('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (block.startsWith('event: stream\n')) {
            stream.id = block.slice('event: stream\ndata: '.length);
            continue;
          }
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (!data) continue;
          const parsed = parseHostMessage(JSON.parse(data));
          assert.ok(parsed.ok, `a host message the page would reject: ${data.slice(0, 200)}`);
          stream.messages.push(parsed.value);
        }
      });
      resolve(stream);
    });
    req.on('error', reject);
    req.end();
  });
}

async function until(what: string, test: () => boolean): Promise<void> {
  const deadline = Date.now() + FAILSAFE_MS;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('the browser dashboard', () => {
  let server: ControlServer;
  let dashboard: Dashboard;
  const source = new FakeSource();
  let controls: PanelCommand[] = [];
  const ran: PanelCommand[] = [];
  const assets: Record<string, string> = {
    'main.js': 'console.log("bundle")',
    'main.css': '.u{}',
    'metrics.css': 'body{}',
    'dashboard.css': ':root{}',
  };

  const options = (): DashboardOptions => ({
    source,
    asset: (name) => Promise.resolve(assets[name]),
    controls: () => controls,
    runCommand: (c) => {
      ran.push(c);
      return Promise.resolve();
    },
    maxStreams: 3,
    intervalMs: 40,
    // No heartbeat during the tests: every snapshot counted comes from a change.
    idleMs: 3_600_000,
  });

  before(async () => {
    dashboard = new Dashboard(options());
    server = await startControlServer({
      token: TOKEN,
      dashboard,
      handlers: {
        control: () => Promise.reject(new Error('not used')),
        execute: () => Promise.reject(new Error('not used')),
        telemetry: () => ({}),
      },
    });
  });
  after(async () => {
    dashboard.close();
    await server.close(100);
  });

  /** Logs in with a fresh code; returns the cookie header to send. */
  async function login(): Promise<string> {
    const r = await call(server.port, 'GET', `/login?code=${dashboard.issueLoginCode()}`);
    assert.equal(r.status, 303);
    const set = r.headers['set-cookie']?.[0] ?? '';
    return set.split(';')[0];
  }

  it('swaps a login code, once, for an HttpOnly SameSite=Strict cookie and sends the browser to ./', async () => {
    const code = dashboard.issueLoginCode();
    const first = await call(server.port, 'GET', `/login?code=${code}`);
    assert.equal(first.status, 303);
    assert.equal(first.headers.location, './');
    const cookie = first.headers['set-cookie'];
    assert.equal(cookie?.length, 1);
    const attributes = cookie[0].split(';').map((p) => p.trim());
    assert.match(attributes[0], new RegExp(`^${cookieName(server.port)}=[A-Za-z0-9_-]{43}$`));
    assert.ok(attributes.includes('HttpOnly'), cookie[0]);
    assert.ok(attributes.includes('SameSite=Strict'), cookie[0]);
    assert.ok(attributes.includes('Path=/'), cookie[0]);
    assert.ok(!cookie[0].includes(code) && !cookie[0].includes(TOKEN), 'the cookie is a session id of its own');

    const again = await call(server.port, 'GET', `/login?code=${code}`);
    assert.equal(again.status, 401);
    assert.equal(again.json.error.code, 'invalid_login_code');
    assert.equal(again.headers['set-cookie'], undefined);
    const made = await call(server.port, 'GET', '/login?code=made-up-code');
    assert.equal(made.status, 401);
    assert.equal((await call(server.port, 'GET', '/login')).status, 401);

    // The cookie opens the page.
    assert.equal((await call(server.port, 'GET', '/', { cookie: attributes[0] })).status, 200);
  });

  it('refuses a missing, a made-up or a stale session with the API’s 401 JSON, on every route', async () => {
    const stale = await login();
    const restarted = new Dashboard(options()); // what a restart of the endpoint does: sessions are forgotten
    const other = await startControlServer({ token: TOKEN, dashboard: restarted, handlers: { control: null!, execute: null!, telemetry: () => ({}) } });
    try {
      const staleHere = stale.replace(cookieName(server.port), cookieName(other.port));
      for (const path of ['/', '/events', '/dashboard/main.js']) {
        for (const headers of [{} as Record<string, string>, { cookie: `${cookieName(other.port)}=not-a-session` }, { cookie: staleHere }]) {
          const r = await call(other.port, 'GET', path, headers);
          assert.equal(r.status, 401, `${path} ${JSON.stringify(headers)}`);
          assert.equal(r.json.error.code, 'unauthorized');
          assert.match(r.json.error.message, /Open Dashboard in Browser/);
          assert.match(String(r.headers['content-type']), /^application\/json/);
        }
      }
      const post = await call(
        other.port,
        'POST',
        '/dashboard/message',
        { cookie: staleHere, 'content-type': 'application/json', origin: other.url },
        '{"type":"ready"}',
      );
      assert.equal(post.status, 401);
      // A cookie of another window's endpoint (another port) is not this one's.
      assert.equal((await call(server.port, 'GET', '/', { cookie: stale.replace(cookieName(server.port), 'aios_dashboard_1') })).status, 401);
    } finally {
      restarted.close();
      await other.close(100);
    }
  });

  it('serves the page under a nonce CSP whose nonce is the script tag’s, and nothing from elsewhere', async () => {
    const cookie = await login();
    const a = await call(server.port, 'GET', '/', { cookie });
    const b = await call(server.port, 'GET', '/', { cookie });
    const csp = String(a.headers['content-security-policy']);
    const nonce = /script-src 'nonce-([A-Za-z0-9]+)'/.exec(csp)?.[1];
    assert.ok(nonce && nonce.length >= 16, csp);
    assert.ok(csp.split(';').map((d) => d.trim())[0] === "default-src 'none'", csp);
    for (const d of ["connect-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) assert.ok(csp.includes(d), `${d} in ${csp}`);
    assert.ok(!/unsafe|\*|https?:/.test(csp), csp);
    const scripts = [...a.text.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    assert.deepEqual(scripts, [`<script nonce="${nonce}" src="dashboard/main.js">`]);
    assert.ok(!/(src|href)="(https?:)?\/\//.test(a.text), 'no remote or protocol-relative URL in the page');
    assert.ok(!a.text.includes(TOKEN));
    assert.notEqual(/nonce-([A-Za-z0-9]+)/.exec(String(b.headers['content-security-policy']))?.[1], nonce, 'a new nonce per page');
    assert.equal(a.headers['x-frame-options'], 'DENY');
    assert.equal(a.headers['cache-control'], 'no-store, no-transform');

    const js = await call(server.port, 'GET', '/dashboard/main.js', { cookie });
    assert.equal(js.status, 200);
    assert.equal(js.text, assets['main.js']);
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.equal((await call(server.port, 'GET', '/dashboard/../package.json', { cookie })).status, 404);
    assert.equal((await call(server.port, 'GET', '/dashboard/other.js', { cookie })).status, 404);
  });

  it('refuses a foreign Host or Origin on the dashboard’s routes as on the API’s', async () => {
    const cookie = await login();
    const code = dashboard.issueLoginCode();
    for (const [path, headers] of [
      ['/', { cookie, host: 'evil.example:80' }],
      [`/login?code=${code}`, { host: `attacker.test:${server.port}` }],
      ['/events', { cookie, origin: 'http://evil.example' }],
      ['/', { cookie, origin: `http://localhost.evil.example:${server.port}` }],
    ] as const) {
      const r = await call(server.port, 'GET', path, headers);
      assert.equal(r.status, 403, `${path} ${JSON.stringify(headers)}`);
      assert.match(r.json.error.code, /^forbidden_(host|origin)$/);
    }
    // The refused login did not spend the code.
    assert.equal((await call(server.port, 'GET', `/login?code=${code}`)).status, 303);
    // localhost works as well as 127.0.0.1.
    assert.equal((await call(server.port, 'GET', '/', { cookie, host: `localhost:${server.port}` })).status, 200);
  });

  it('streams init then coalesced snapshots: a burst of 500 changes is one snapshot with the last value', async () => {
    controls = [];
    const cookie = await login();
    const stream = await openStream(server.port, cookie);
    try {
      assert.equal(stream.status, 200);
      assert.match(String(stream.res.headers['content-type']), /^text\/event-stream/);
      await stream.next(2);
      assert.equal(stream.messages[0].type, 'init');
      assert.deepEqual((stream.messages[0] as { commands: unknown }).commands, []);
      assert.equal(stream.messages[1].type, 'snapshot');

      const flushesBefore = dashboard.flushes;
      for (let i = 0; i < 500; i++) source.change();
      await stream.next(3);
      const last = stream.messages[2];
      assert.equal(last.type, 'snapshot');
      assert.equal(last.type === 'snapshot' && last.snapshot.overall.totalCommands, source.total);
      // Another burst after the first flush: again one.
      for (let i = 0; i < 500; i++) source.change();
      await stream.next(4);
      assert.equal(dashboard.flushes - flushesBefore, 2, 'one snapshot per burst, not one per change');
      assert.equal(stream.messages.length, 4);
    } finally {
      stream.req.destroy();
    }
    await until('the stream to close', () => dashboard.openStreams === 0);
  });

  it('bounds the open streams and frees a slot when a tab closes', async () => {
    const cookie = await login();
    const streams = await Promise.all([0, 1, 2].map(() => openStream(server.port, cookie)));
    await Promise.all(streams.map((s) => s.next(2)));
    assert.equal(dashboard.openStreams, 3);
    const refused = await call(server.port, 'GET', '/events', { cookie });
    assert.equal(refused.status, 503);
    assert.equal(refused.json.error.code, 'too_many_streams');
    assert.equal(dashboard.openStreams, 3);

    streams[0].req.destroy(); // the tab closes
    await until('the closed stream to free its slot', () => dashboard.openStreams === 2);
    const fourth = await openStream(server.port, cookie);
    await fourth.next(2);
    assert.equal(dashboard.openStreams, 3);
    // Changes reach every open stream; the closed one got nothing more.
    const closedCount = streams[0].messages.length;
    source.change();
    await Promise.all([streams[1].next(3), streams[2].next(3), fourth.next(3)]);
    assert.equal(streams[0].messages.length, closedCount);

    for (const s of [streams[1], streams[2], fourth]) s.req.destroy();
    await until('every stream to close', () => dashboard.openStreams === 0);
    // With no stream left the dashboard no longer listens to the source at all.
    assert.equal(source.events.listenerCount('change'), 0);
  });

  it("ends the stream a page's beacon names as it goes away (a proxy may keep the connection open)", async () => {
    const cookie = await login();
    const stream = await openStream(server.port, cookie);
    await stream.next(2);
    assert.match(stream.id ?? '', /^[\w-]{16,}$/, 'the stream was told its id before init');
    const close = (body: string, headers: Record<string, string> = { cookie, origin: server.url }) =>
      call(server.port, 'POST', '/dashboard/close', { 'content-type': 'text/plain;charset=UTF-8', ...headers }, body);
    assert.equal((await close(stream.id!, { origin: server.url })).status, 401, 'no session, no close');
    assert.equal((await close(stream.id!, { cookie })).status, 403, 'no Origin, no close');
    assert.equal(dashboard.openStreams, 1);
    assert.equal((await close('not-a-stream')).status, 204);
    assert.equal(dashboard.openStreams, 1, 'an unknown id ends nothing');
    const ended = new Promise<void>((r) => stream.res.on('end', r));
    assert.equal((await close(stream.id!)).status, 204);
    await ended;
    assert.equal(dashboard.openStreams, 0);
    assert.equal((await close(stream.id!)).status, 204, 'twice is harmless');
  });

  it('is read-only until controls are allowed, and then runs only those', async () => {
    const cookie = await login();
    const post = (body: string, headers: Record<string, string> = {}) =>
      call(server.port, 'POST', '/dashboard/message', { cookie, 'content-type': 'application/json', origin: server.url, ...headers }, body);
    controls = [];
    const refused = await post(JSON.stringify({ type: 'runCommand', command: Commands.pauseAdmission }));
    assert.equal(refused.status, 403);
    assert.equal(refused.json.error.code, 'controls_disabled');
    assert.deepEqual(ran, []);

    controls = [Commands.pauseAdmission, Commands.resumeAdmission, Commands.restartPythonService];
    const stream = await openStream(server.port, cookie);
    await stream.next(1);
    assert.deepEqual((stream.messages[0] as { commands: unknown }).commands, controls, 'init offers the allowed buttons');
    stream.req.destroy();

    // Turning them off again reaches the open page at once: a new init without the buttons.
    const open = await openStream(server.port, cookie);
    await open.next(2);
    controls = [];
    dashboard.refreshControls();
    await open.next(3);
    assert.deepEqual(open.messages[2], { type: 'init', commands: [] });
    open.req.destroy();
    controls = [Commands.pauseAdmission, Commands.resumeAdmission, Commands.restartPythonService];

    const ok = await post(JSON.stringify({ type: 'runCommand', command: Commands.pauseAdmission }));
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ran, [Commands.pauseAdmission]);
    // A command the panel may run in VS Code but the dashboard does not offer.
    assert.equal((await post(JSON.stringify({ type: 'runCommand', command: Commands.showOutput }))).status, 403);
    assert.equal((await post(JSON.stringify({ type: 'runCommand', command: 'workbench.action.quit' }))).status, 400);
    assert.equal((await post('{not json')).status, 400);
    assert.equal((await post(JSON.stringify({ type: 'ready' }))).status, 204);
    // Not JSON (a cross-site form could send this) and no Origin: refused before anything runs.
    assert.equal((await post(JSON.stringify({ type: 'runCommand', command: Commands.pauseAdmission }), { 'content-type': 'text/plain' })).status, 415);
    const noOrigin = await call(
      server.port,
      'POST',
      '/dashboard/message',
      { cookie, 'content-type': 'application/json' },
      JSON.stringify({ type: 'runCommand', command: Commands.pauseAdmission }),
    );
    assert.equal(noOrigin.status, 403);
    assert.equal((await call(server.port, 'GET', '/dashboard/message', { cookie })).status, 405);
    assert.deepEqual(ran, [Commands.pauseAdmission]);
    controls = [];
    await until('the stream to close', () => dashboard.openStreams === 0);
  });
});

describe('the browser dashboard behind a port forward', () => {
  it('accepts the Host and Origin asExternalUri gave, on its own routes only, and never logs a login code', async () => {
    const logged: string[] = [];
    const dashboard = new Dashboard({
      source: new FakeSource(),
      asset: () => Promise.resolve(''),
      controls: () => [],
      runCommand: () => Promise.resolve(),
    });
    const server = await startControlServer({
      token: TOKEN,
      dashboard,
      handlers: { control: null!, execute: null!, telemetry: () => ({}) },
      log: (_level, message) => logged.push(message),
    });
    try {
      const forwarded = { host: '127.0.0.1:8080' };
      const code = dashboard.issueLoginCode();
      const refused = await call(server.port, 'GET', `/login?code=${code}`, forwarded);
      assert.equal(refused.status, 403);
      assert.ok(logged.length > 0 && logged.every((l) => !l.includes(code)), logged.join('\n'));

      dashboard.allowForwarded('http://127.0.0.1:8080/proxy/1234/');
      const ok = await call(server.port, 'GET', `/login?code=${code}`, forwarded);
      assert.equal(ok.status, 303, ok.text);
      const cookie = String(ok.headers['set-cookie']?.[0]).split(';')[0];
      assert.equal((await call(server.port, 'GET', '/', { ...forwarded, cookie, origin: 'http://127.0.0.1:8080' })).status, 200);
      // The API is not reachable through the forwarded name, and other names stay refused.
      assert.equal((await call(server.port, 'GET', '/api/telemetry', { ...forwarded, authorization: `Bearer ${TOKEN}` })).status, 403);
      assert.equal((await call(server.port, 'GET', '/', { host: '127.0.0.1:8081', cookie })).status, 403);
      assert.equal((await call(server.port, 'GET', '/', { ...forwarded, cookie, origin: 'http://127.0.0.1:8081' })).status, 403);
    } finally {
      dashboard.close();
      await server.close(100);
    }
  });
});
