// The metrics dashboard in a browser, served by the control endpoint (src/control/server.ts delegates these
// routes here after its Host/Origin checks). It is the metrics panel itself: the same bundle
// (dist/webview/main.js) and the same typed messages (src/webview/protocol.ts), carried by Server-Sent Events
// host → page and fetch POST page → host (src/webview/transport.ts picks that transport in a browser).
// Plain Node: the extension injects the metrics, the asset files and the actions.
//
// Routes:
//   GET  /login?code=C        a one-time code (issueLoginCode) → an HttpOnly, SameSite=Strict session cookie, 303 to ./
//   GET  /                    the page (nonce CSP), needs the cookie
//   GET  /dashboard/<asset>   main.js, main.css, metrics.css, dashboard.css, needs the cookie
//   GET  /events              the SSE stream: its id (a `stream` event), `init`, then coalesced `snapshot`s (≤ 4/s,
//                             one a second when idle)
//   POST /dashboard/message   a WebviewMessage (JSON): `runCommand` only for the controls allowed right now
//   POST /dashboard/close     a stream's id (text, the page's beacon as it goes away): that stream ends now. A
//                             port-forwarding proxy (code-server's) keeps its upstream open after the tab closed,
//                             so the page says it is leaving; the stream's age limit is the backstop.
// The bearer token plays no part: the page never sees it. Refusals are the API's JSON errors.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from './requests';
import { Coalescer } from '../webview/coalesce';
import { parseWebviewMessage, type HostMessage, type InitMessage, type MetricsSnapshot, type PanelCommand } from '../webview/protocol';

/** What the dashboard shows: the metrics panel's source (src/views/metricsSource.ts), structurally. */
export interface DashboardSource {
  snapshot(): MetricsSnapshot;
  history?(): InitMessage['history'];
  onDidChange(listener: () => void): { dispose(): void };
}

export const DASHBOARD_ASSETS = ['main.js', 'main.css', 'metrics.css', 'dashboard.css'] as const;
export type DashboardAsset = (typeof DASHBOARD_ASSETS)[number];

export interface DashboardOptions {
  source: DashboardSource;
  /** The files of the panel's bundle and styles (read once each and kept). */
  asset(name: DashboardAsset): Promise<string | Uint8Array>;
  /** The control buttons the page may show and use now: [] (read-only) unless the user enabled them. */
  controls(): readonly PanelCommand[];
  /** Runs an allowed control, recorded as a control event with source 'dashboard' by the caller. */
  runCommand(command: PanelCommand): Promise<void>;
  /** Open SSE streams at once; more get 503. Default 32. */
  maxStreams?: number;
  /**
   * A stream is ended after this long and the page reconnects on its own (2 s later): a proxy that keeps its
   * upstream connection after the tab closed (code-server's port forward does) holds a slot no longer. Default 10 min.
   */
  maxStreamAgeMs?: number;
  /** Sessions kept; the oldest goes first. Default 64. */
  maxSessions?: number;
  /** A login code is valid this long, once. Default 2 minutes. */
  loginCodeTtlMs?: number;
  /** A session lasts this long after its login. Default 12 hours. */
  sessionTtlMs?: number;
  /** At most one snapshot per this many ms whatever the event rate. Default 250. */
  intervalMs?: number;
  /** While nothing changes, a snapshot this often so the charts' time axis moves. Default 1000. */
  idleMs?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

/** The path and query, split as the server does. */
export interface DashboardUrl {
  pathname: string;
  searchParams: URLSearchParams;
}

const MAX_MESSAGE_BYTES = 4096;
/** A stream whose client reads slower than this much unsent data is dropped (its tab reconnects). */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const CONTENT_TYPES: Record<DashboardAsset, string> = {
  'main.js': 'text/javascript; charset=utf-8',
  'main.css': 'text/css; charset=utf-8',
  'metrics.css': 'text/css; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
};
const REOPEN = 'open it again with "AIOS: Open Dashboard in Browser"';

const randomId = (): string => randomBytes(32).toString('base64url');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x as unknown as NodeJS.ArrayBufferView, y as unknown as NodeJS.ArrayBufferView);
}

/**
 * The headers every dashboard answer carries: no caching, no framing, no sniffing, no referrer. no-transform
 * keeps a compressing proxy (code-server's port forward is one) from holding the event stream back.
 */
const BASE_HEADERS = {
  'Cache-Control': 'no-store, no-transform',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

/** Exactly what the page needs: its nonce'd script, its own styles, its own streams. Nothing remote. */
export function dashboardCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

export class Dashboard {
  private readonly codes = new Map<string, number>();
  private readonly sessions = new Map<string, number>();
  private readonly streams = new Set<ServerResponse>();
  /** The open streams by the id each was told (for /dashboard/close). */
  private readonly streamIds = new Map<string, ServerResponse>();
  private readonly assets = new Map<DashboardAsset, Promise<Buffer>>();
  /** Authorities (host:port) and origins VS Code forwarded the port to: a remote window's, code-server's proxy. */
  private readonly forwardedHosts = new Set<string>();
  private readonly forwardedOrigins = new Set<string>();
  private readonly coalescer: Coalescer;
  private subscription: { dispose(): void } | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly maxStreams: number;
  private readonly maxSessions: number;
  private readonly codeTtl: number;
  private readonly sessionTtl: number;
  private readonly idleMs: number;
  private readonly maxStreamAgeMs: number;
  private readonly log: NonNullable<DashboardOptions['log']>;
  private closed = false;
  /** Snapshots written to streams (one per flush, whatever the number of streams); benches and tests read it. */
  flushes = 0;

  constructor(private readonly options: DashboardOptions) {
    this.maxStreams = options.maxStreams ?? 32;
    this.maxSessions = options.maxSessions ?? 64;
    this.codeTtl = options.loginCodeTtlMs ?? 120_000;
    this.sessionTtl = options.sessionTtlMs ?? 12 * 3600_000;
    this.idleMs = options.idleMs ?? 1000;
    this.maxStreamAgeMs = options.maxStreamAgeMs ?? 600_000;
    this.log = options.log ?? (() => undefined);
    this.coalescer = new Coalescer(() => this.broadcast(), options.intervalMs ?? 250);
  }

  /** SSE streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** True for the paths this module answers (the server calls handle() for them). */
  handles(pathname: string): boolean {
    return pathname === '/' || pathname === '/login' || pathname === '/events' || pathname.startsWith('/dashboard/');
  }

  /**
   * Accepts the address `vscode.env.asExternalUri` gave for this server (e.g. code-server's
   * http://host:8080/proxy/<port>/, whose proxy keeps its own Host header) in Host and Origin, on these routes
   * only. It is VS Code's answer, never a name a web page chose.
   */
  allowForwarded(externalUrl: string): void {
    const u = new URL(externalUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return;
    this.forwardedHosts.add(u.host.toLowerCase());
    this.forwardedOrigins.add(u.origin.toLowerCase());
  }

  allowsHost(host: string): boolean {
    return this.forwardedHosts.has(host);
  }

  allowsOrigin(origin: string): boolean {
    return this.forwardedOrigins.has(origin);
  }

  /** A random code for a login link, valid once for loginCodeTtlMs. */
  issueLoginCode(): string {
    const now = Date.now();
    for (const [code, expires] of this.codes) if (expires <= now) this.codes.delete(code);
    const code = randomId();
    this.codes.set(code, now + this.codeTtl);
    return code;
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: DashboardUrl): Promise<void> {
    if (this.closed) throw new HttpError(503, 'closing', 'The AIOS dashboard is closing');
    const { pathname } = url;
    const post = pathname === '/dashboard/message' || pathname === '/dashboard/close';
    const method = post ? 'POST' : 'GET';
    // HEAD for the page and its files; a stream is GET only.
    if (req.method !== method && !(method === 'GET' && req.method === 'HEAD' && pathname !== '/events')) {
      throw new HttpError(405, 'method_not_allowed', `${pathname} takes ${method}, not ${req.method}`, { Allow: method });
    }
    if (pathname === '/login') return this.login(res, url.searchParams);
    this.requireSession(req);
    if (pathname === '/') return this.page(res);
    if (pathname === '/events') return this.openStream(req, res);
    if (pathname === '/dashboard/close') return this.closeStream(req, res);
    if (post) return this.message(req, res);
    const name = pathname.slice('/dashboard/'.length) as DashboardAsset;
    if (!DASHBOARD_ASSETS.includes(name)) throw new HttpError(404, 'not_found', `No dashboard file ${pathname}`);
    const body = await this.readAsset(name);
    res.writeHead(200, { ...BASE_HEADERS, 'Content-Type': CONTENT_TYPES[name], 'Content-Length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  // ---- login and sessions ------------------------------------------------------------------------------------

  private login(res: ServerResponse, query: URLSearchParams): void {
    const given = query.get('code') ?? '';
    const now = Date.now();
    let found: string | undefined;
    for (const [code, expires] of this.codes) if (sameSecret(code, given) && expires > now) found = code;
    if (found === undefined) {
      throw new HttpError(401, 'invalid_login_code', `This login link was already used or has expired; ${REOPEN}`);
    }
    this.codes.delete(found); // single use, before anything else can happen
    const session = randomId();
    this.sessions.set(session, now + this.sessionTtl);
    while (this.sessions.size > this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    const port = res.socket?.localPort ?? 0;
    // Relative, so the code leaves the address bar under a path prefix (a port-forwarding proxy) as well.
    res.writeHead(303, {
      ...BASE_HEADERS,
      Location: './',
      'Set-Cookie': `${cookieName(port)}=${session}; HttpOnly; SameSite=Strict; Path=/`,
      'Content-Length': '0',
    });
    res.end();
  }

  private requireSession(req: IncomingMessage): void {
    const session = readCookie(req.headers.cookie, cookieName(req.socket.localPort ?? 0));
    const expires = session === undefined ? undefined : this.sessions.get(session);
    if (expires === undefined || expires <= Date.now()) {
      if (session !== undefined) this.sessions.delete(session);
      throw new HttpError(401, 'unauthorized', `No valid dashboard session (the cookie is missing or stale); ${REOPEN}`);
    }
  }

  // ---- the page and its files --------------------------------------------------------------------------------

  private page(res: ServerResponse): void {
    const nonce = randomBytes(18)
      .toString('base64url')
      .replace(/[^A-Za-z0-9]/g, '');
    // The panel's own markup (src/views/metricsPanel.ts), with relative URLs (a proxy may add a path prefix).
    const html = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="dashboard/main.css">
<link rel="stylesheet" href="dashboard/dashboard.css">
<link rel="stylesheet" href="dashboard/metrics.css">
<title>AIOS Metrics</title>
<script nonce="${nonce}" src="dashboard/main.js"></script>
</head>
<body>
<noscript>The AIOS metrics dashboard needs scripts enabled.</noscript>
</body>
</html>`;
    res.writeHead(200, {
      ...BASE_HEADERS,
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': dashboardCsp(nonce),
      'Content-Length': String(Buffer.byteLength(html)),
    });
    res.end(html);
  }

  private readAsset(name: DashboardAsset): Promise<Buffer> {
    let p = this.assets.get(name);
    if (!p) {
      p = this.options.asset(name).then((b) => (typeof b === 'string' ? Buffer.from(b) : Buffer.from(b)));
      this.assets.set(name, p);
      p.catch(() => this.assets.delete(name)); // a failed read is tried again next time
    }
    return p.catch((e: unknown) => {
      throw new HttpError(500, 'asset_unavailable', `The dashboard file ${name} could not be read: ${(e as Error).message}`);
    });
  }

  // ---- the stream --------------------------------------------------------------------------------------------

  private openStream(req: IncomingMessage, res: ServerResponse): void {
    if (this.streams.size >= this.maxStreams) {
      throw new HttpError(503, 'too_many_streams', `${this.maxStreams} dashboards are open already; close one and reload`, { 'Retry-After': '5' });
    }
    const init: InitMessage = { type: 'init', commands: [...this.options.controls()] };
    const history = this.options.source.history?.();
    if (history) init.history = history;
    res.writeHead(200, { ...BASE_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', 'X-Accel-Buffering': 'no' });
    res.socket?.setNoDelay(true);
    this.streams.add(res);
    const id = randomId();
    this.streamIds.set(id, res);
    const age = setTimeout(() => res.end(), this.maxStreamAgeMs);
    age.unref();
    const drop = (): void => {
      clearTimeout(age);
      this.streamIds.delete(id);
      if (!this.streams.delete(res)) return;
      if (this.streams.size === 0) this.idle();
    };
    req.on('close', drop);
    res.on('close', drop);
    res.on('finish', drop);
    res.on('error', drop);
    // A named event: the page's transport keeps the id; the panel's message parser never sees it.
    res.write(`retry: 2000\n\nevent: stream\ndata: ${id}\n\n${event(init)}`);
    const first = this.snapshotEvent();
    if (first) res.write(first);
    this.subscribe();
  }

  private subscribe(): void {
    if (this.subscription) return;
    this.subscription = this.options.source.onDidChange(() => this.coalescer.request());
    this.heartbeat = setInterval(() => {
      if (this.coalescer.sinceLastFlush() >= this.idleMs) this.coalescer.request();
    }, this.idleMs);
    this.heartbeat.unref();
  }

  /** No stream left: no work at all per event. */
  private idle(): void {
    this.subscription?.dispose();
    this.subscription = undefined;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.coalescer.cancel();
  }

  private snapshotEvent(): string | undefined {
    try {
      return event({ type: 'snapshot', snapshot: this.options.source.snapshot() });
    } catch (e) {
      this.log('warn', `AIOS dashboard: the metrics source failed: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** One snapshot, serialised once, written to every stream. */
  private broadcast(): void {
    if (this.streams.size === 0) return;
    const text = this.snapshotEvent();
    if (text === undefined) return;
    const bytes = Buffer.from(text); // encoded once for every stream
    this.flushes++;
    for (const res of this.streams) {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        this.log('warn', 'AIOS dashboard: a browser tab stopped reading its updates; its stream is closed (it reconnects)');
        res.destroy();
        continue;
      }
      res.write(bytes);
    }
  }

  // ---- page → host -------------------------------------------------------------------------------------------

  private async message(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A cross-site form cannot send JSON, and a page of another origin was refused by the server's Origin check.
    if (req.headers.origin === undefined) throw new HttpError(403, 'forbidden_origin', 'A dashboard message must carry an Origin header');
    if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
      throw new HttpError(415, 'unsupported_media_type', 'A dashboard message is JSON: send Content-Type: application/json');
    }
    const parsed = parseWebviewMessage(await readBody(req));
    if (!parsed.ok) throw new HttpError(400, 'invalid_request', parsed.error);
    const msg = parsed.value;
    if (msg.type === 'ready') {
      res.writeHead(204, BASE_HEADERS).end();
      return;
    }
    if (!this.options.controls().includes(msg.command)) {
      throw new HttpError(403, 'controls_disabled', `${msg.command} is not available in the dashboard (aios.controlServer.dashboardControls is off)`);
    }
    try {
      await this.options.runCommand(msg.command);
    } catch (e) {
      throw new HttpError(502, 'command_failed', `${msg.command} failed: ${(e as Error).message}`);
    }
    const body = JSON.stringify({ ok: true, command: msg.command });
    res.writeHead(200, { ...BASE_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) });
    res.end(body);
    this.coalescer.request(); // show the effect (paused, restarting) without waiting for the next change
  }

  /** The page's beacon as it goes away (pagehide): ends the stream it names. Unknown ids are no error. */
  private async closeStream(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.origin === undefined) throw new HttpError(403, 'forbidden_origin', 'A dashboard message must carry an Origin header');
    const id = (await readBody(req, 'text')).trim();
    this.streamIds.get(id)?.end();
    res.writeHead(204, BASE_HEADERS).end();
  }

  /** Tells every open page which control buttons to show now (the setting changed); `init` without history. */
  refreshControls(): void {
    const text = event({ type: 'init', commands: [...this.options.controls()] });
    for (const res of this.streams) res.write(text);
  }

  /** Ends every stream and forgets every session (the server is stopping or restarting). */
  close(): void {
    this.closed = true;
    this.idle();
    for (const res of this.streams) res.end();
    this.streams.clear();
    this.sessions.clear();
    this.codes.clear();
  }
}

/** Per port: cookies are shared by every port of a host, and each window's endpoint has its own sessions. */
export const cookieName = (port: number): string => `aios_dashboard_${port}`;

function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const event = (m: HostMessage): string => `data: ${JSON.stringify(m)}\n\n`;

function readBody(req: IncomingMessage): Promise<unknown>;
function readBody(req: IncomingMessage, as: 'text'): Promise<string>;
function readBody(req: IncomingMessage, as: 'json' | 'text' = 'json'): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_MESSAGE_BYTES) {
        req.destroy();
        reject(new HttpError(413, 'payload_too_large', `A dashboard message is at most ${MAX_MESSAGE_BYTES} bytes`));
      } else chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks as unknown as readonly Uint8Array[]).toString('utf8');
      if (as === 'text') return resolve(text);
      try {
        resolve(JSON.parse(text) as unknown);
      } catch (e) {
        reject(new HttpError(400, 'invalid_json', `The message is not valid JSON: ${(e as Error).message}`));
      }
    });
    req.on('error', reject);
  });
}
