// The control endpoint, as a loopback HTTP server: one more source of commands and control
// operations, reaching the middleware and the Python service only through the functions it is given (the same
// control plane and pipeline the palette uses). Plain Node (no `vscode`): the extension injects the handlers,
// the token (kept in SecretStorage) and the port.
//
// Routes (JSON in, JSON out; errors are always {"error": {"code", "message"}}):
//   GET  /healthz                         no token: {"status":"ok"} (says only that the server is up)
//   POST /admin/control                   the PowerShell-compatible control shape → handlers.control
//   POST /api/commands[?wait=false]       a command through the middleware → handlers.execute
//   GET  /api/commands/<commandId>        a command submitted with wait=false: running, or its result
//   GET  /api/telemetry?detail=LEVEL      handlers.telemetry(SUMMARY | DETAILED | REALTIME)
// Refusals: 400 without a Host, 403 for a Host or Origin that is not this server's loopback address (DNS
// rebinding), 401 without the bearer token, 404 / 405 for unknown routes and methods, 413 over maxBodyBytes,
// 400 for bad JSON or fields, 408 and a closed connection for requests that trickle in. A refusal made before
// the body was read closes the connection (the body is never read); Node's own refusals of malformed requests
// (400, 408, 431) answer the same JSON shape. Whatever a client sent is quoted back cut to 64 characters.
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { redactText, registerSecret } from '../core/telemetry';
import type { CommandRequest, CommandResult, DetailLevel } from '../core/types';
import type { Dashboard } from './dashboard';
import { badRequest, HttpError, parseCommandBody, parseControlBody, quote, statusForResult, type ControlServerCall } from './requests';

export type { ControlServerCall };

/**
 * What the server gives `execute`. `onCommandId` must be called as soon as the middleware has assigned the
 * command its id (before it is queued or run): `?wait=false` answers with that id at once. Calling it later
 * (from the executor, say) still works, but the answer then waits until the command starts; a command that
 * settles without calling it is answered with its result.
 */
export interface CommandHooks {
  /** Aborted when a waiting client goes away (the command is cancelled) or the server closes. */
  signal: AbortSignal;
  onCommandId(commandId: string): void;
}

export interface ControlServerHandlers {
  /** The palette's control plane: `(call, {signal}) => ctx.control(call, {signal})`. */
  control(call: ControlServerCall, options: { signal: AbortSignal }): Promise<CommandResult>;
  /** One command through the middleware: `(request, hooks) => ctx.run(request, hooks)` once ExecuteOptions has onCommandId. */
  execute(request: CommandRequest, hooks: CommandHooks): Promise<CommandResult>;
  /** `(level) => middleware.telemetry.query(level)`. */
  telemetry(level: DetailLevel): unknown;
}

export type ControlServerLogLevel = 'info' | 'warn' | 'error';

export interface ControlServerOptions {
  /** The bearer token clients must send (`Authorization: Bearer <token>`); at least 16 characters. */
  token: string;
  /** 0 (the default): a free port chosen by the system, reported as `server.port`. */
  port?: number;
  /**
   * Default 127.0.0.1. Anything else (0.0.0.0, a LAN address) exposes the control plane beyond this machine:
   * the extension must warn before passing it. Requests must then name this host or one of allowedHosts.
   */
  host?: string;
  /** More host names (no port) accepted in Host and Origin, e.g. the machine's name when host is 0.0.0.0. */
  allowedHosts?: readonly string[];
  handlers: ControlServerHandlers;
  /** Largest request body; more is refused with 413 without reading on. Default 1 MiB. */
  maxBodyBytes?: number;
  /** All request headers must arrive within this time, else 408 and the connection closes. Default 10 s. */
  headersTimeoutMs?: number;
  /** The whole request (headers and body) must arrive within this time. Default 30 s. Not the response: a
   *  command may run longer. */
  requestTimeoutMs?: number;
  /** Longest pause between two pieces of a body (checked every quarter of it). Default 5 s. */
  bodyIdleTimeoutMs?: number;
  /** Idle keep-alive connections close after this long. Default 5 s. */
  keepAliveTimeoutMs?: number;
  /** Connections at once; more are refused by the socket layer. Default 256. */
  maxConnections?: number;
  /** Results of `?wait=false` commands kept for GET /api/commands/<id>; the oldest go first. Default 1000. */
  maxDetachedResults?: number;
  /** The browser dashboard (src/control/dashboard.ts): answers GET /, /login, /events and /dashboard/*. */
  dashboard?: Pick<Dashboard, 'handles' | 'handle' | 'allowsHost' | 'allowsOrigin'>;
  /** Refused requests are logged at most once a second per kind. */
  log?: (level: ControlServerLogLevel, message: string) => void;
}

export interface ControlServer {
  /** The address bound and the port actually listened on (the system's choice when 0 was asked). */
  readonly host: string;
  readonly port: number;
  /** e.g. http://127.0.0.1:49152 */
  readonly url: string;
  /** Stops listening; requests under way get `graceMs` (default 2000) to finish, then their connections close
   *  (which cancels commands whose clients were waiting). */
  close(graceMs?: number): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Bounds of aios.controlServer.port (package.json says the same: test/unit/manifest.test.ts). */
export const CONTROL_SERVER_NUMBER_RULES = Object.freeze({ port: Object.freeze({ min: 0, max: 65_535, integer: true }) });
const MIN_TOKEN_LENGTH = 16;
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);
const DETAIL_LEVELS: readonly DetailLevel[] = ['SUMMARY', 'DETAILED', 'REALTIME'];
// ---- the server ------------------------------------------------------------------------------------------------

type Route = 'healthz' | 'control' | 'commands' | 'command' | 'telemetry';

const ROUTE_METHODS: Record<Route, string> = { healthz: 'GET', control: 'POST', commands: 'POST', command: 'GET', telemetry: 'GET' };
const ROUTE_QUERY: Record<Route, readonly string[]> = { healthz: [], control: [], commands: ['wait'], command: [], telemetry: ['detail'] };

/** How many Host headers a request carries, from the raw list (`headersDistinct` would build every header's array). */
function hostHeaders(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 4 && raw[i].toLowerCase() === 'host') n++;
  return n;
}

// The fixed routes' matches are shared: no object per request.
const FIXED_ROUTES: ReadonlyMap<string, { readonly route: Route; readonly id?: string }> = new Map(
  (
    [
      ['/healthz', 'healthz'],
      ['/admin/control', 'control'],
      ['/api/commands', 'commands'],
      ['/api/telemetry', 'telemetry'],
    ] as const
  ).map(([path, route]) => [path, Object.freeze({ route })]),
);

function matchRoute(path: string): { readonly route: Route; readonly id?: string } | undefined {
  const fixed = FIXED_ROUTES.get(path);
  if (fixed !== undefined) return fixed;
  if (path.startsWith('/api/commands/')) {
    const id = path.slice('/api/commands/'.length);
    if (/^[A-Za-z0-9_.:-]{1,128}$/.test(id)) return { route: 'command', id };
  }
  return undefined;
}

interface BodyWatch {
  /** The sweep count when its last piece came. */
  seen: number;
  onIdle: () => void;
  prev: BodyWatch | undefined;
  next: BodyWatch | undefined;
}

type Detached = { status: 'running'; commandId: string } | ({ status: 'done' } & CommandResult);

// Lean on purpose: every answer pays for each header, and no browser page may read these answers anyway
// (the Host/Origin checks and the bearer token keep pages out).
const JSON_TYPE = 'application/json; charset=utf-8';

/** An answer's error message redacted (it may quote what a client or an executor said: a token, a key). */
function redactAnswer(body: unknown): unknown {
  if (typeof body !== 'object' || body === null) return body;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return body;
  const message = (error as { message?: unknown }).message;
  if (typeof message !== 'string') return body;
  const redacted = redactText(message);
  return redacted === message ? body : { ...body, error: { ...error, message: redacted } };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Readonly<Record<string, string>>): void {
  if (res.headersSent || res.destroyed) return;
  let text: string;
  try {
    text = JSON.stringify(redactAnswer(body)) ?? 'null';
  } catch (e) {
    status = 500;
    text = JSON.stringify({ error: { code: 'internal_error', message: `The answer could not be written as JSON: ${(e as Error).message}` } });
  }
  // A fresh literal of one shape is what writeHead takes fastest (no setHeader store; a spread builds a
  // dictionary-mode object); header and body then leave in one write.
  const head = { 'Content-Type': JSON_TYPE, 'Content-Length': String(Buffer.byteLength(text)) };
  res.writeHead(status, headers === undefined ? head : { ...head, ...headers });
  res.end(text);
}

/** A body's text as JSON; a UTF-8 BOM is allowed. */
function parseJson(text: string): unknown {
  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(json) as unknown;
  } catch (e) {
    // Checked only here: a body that parses is not empty.
    if (json.trim() === '') throw new HttpError(400, 'invalid_json', 'The body is empty; send a JSON object');
    throw new HttpError(400, 'invalid_json', `The body is not valid JSON: ${(e as Error).message}`);
  }
}

/** A waiting client learns the id from the result. */
const ignoreCommandId = (): void => undefined;

const errorBody = (code: string, message: string): { error: { code: string; message: string } } => ({ error: { code, message } });

function validatePort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`port must be an integer from 0 to 65535 (0: any free port), got ${port}`);
  return port;
}

function positive(name: string, v: number | undefined, fallback: number): number {
  const n = v ?? fallback;
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${name} must be a positive number, got ${v}`);
  return n;
}

/** Starts the server; resolves once it listens (server.port is then the real port). */
export async function startControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const server = new ControlHttpServer(options);
  await server.listen();
  return server;
}

class ControlHttpServer implements ControlServer {
  host: string;
  port = 0;
  private readonly server: Server;
  private readonly token: Buffer;
  private readonly handlers: ControlServerHandlers;
  private readonly dashboard: ControlServerOptions['dashboard'];
  private readonly maxBodyBytes: number;
  private readonly bodyIdleTimeoutMs: number;
  private readonly maxDetached: number;
  private readonly requestedPort: number;
  private readonly extraHosts: string[];
  private allowedHosts = new Set<string>();
  private allowedOrigins = new Set<string>();
  private readonly detached = new Map<string, Detached>();
  /** Aborted at close (after the grace period): what detached commands run under. */
  private readonly lifetime = new AbortController();
  private readonly lastLogged = new Map<string, number>();
  private readonly connectionSignals = new WeakMap<Socket, AbortController>();
  /** The latest response on each socket, for clientError (which must not write over one under way). Node
   *  detaches a response from its socket when it finishes, so `res.socket === socket` says "under way". */
  private readonly responses = new WeakMap<Socket, ServerResponse>();
  /** One per detached command (not listeners on one shared signal: no MaxListenersExceededWarning). */
  private readonly detachedControllers = new Set<AbortController>();
  /** Bodies being read, with when their last piece came; one sweeper instead of a timer per request. A list
   *  linked through the watches themselves: a Map keyed by request hashed each one and rehashed as it churned. */
  private bodies: BodyWatch | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeps = 0;
  private readonly log: (level: ControlServerLogLevel, message: string) => void;
  private closing: Promise<void> | undefined;
  private readonly forgetToken: () => void;

  constructor(options: ControlServerOptions) {
    if (typeof options.token !== 'string' || options.token.length < MIN_TOKEN_LENGTH) {
      throw new RangeError(`The control server's token must be a string of at least ${MIN_TOKEN_LENGTH} characters`);
    }
    this.token = Buffer.from(options.token, 'utf8');
    // Whatever quotes the token (a client echoing it in a field, an error) shows [REDACTED] instead.
    this.forgetToken = registerSecret(options.token);
    this.handlers = options.handlers;
    this.dashboard = options.dashboard;
    this.host = options.host ?? '127.0.0.1';
    this.requestedPort = validatePort(options.port ?? 0);
    this.extraHosts = (options.allowedHosts ?? []).map((h) => h.toLowerCase());
    this.maxBodyBytes = positive('maxBodyBytes', options.maxBodyBytes, DEFAULT_MAX_BODY_BYTES);
    this.bodyIdleTimeoutMs = positive('bodyIdleTimeoutMs', options.bodyIdleTimeoutMs, 5000);
    this.maxDetached = positive('maxDetachedResults', options.maxDetachedResults, 1000);
    this.log = options.log ?? (() => undefined);
    const headersTimeout = positive('headersTimeoutMs', options.headersTimeoutMs, 10_000);
    const requestTimeout = positive('requestTimeoutMs', options.requestTimeoutMs, 30_000);
    if (headersTimeout > requestTimeout) throw new RangeError(`headersTimeoutMs (${headersTimeout}) must not exceed requestTimeoutMs (${requestTimeout})`);
    // requireHostHeader (Node 20) is not in @types/node 20's ServerOptions yet.
    const serverOptions: ServerOptions & { requireHostHeader?: boolean } = {
      requestTimeout,
      keepAliveTimeout: positive('keepAliveTimeoutMs', options.keepAliveTimeoutMs, 5000),
      // Node checks those two timeouts on this interval (default 30 s, far too coarse for a 10 s limit).
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersTimeout / 4))),
      // A missing Host is refused by route() with the documented JSON body, not Node's bare 400.
      requireHostHeader: false,
    };
    this.server = createServer(serverOptions, (req, res) => this.handle(req, res, false));
    // An `Expect: 100-continue` client waits for our go-ahead before sending its body: refuse first when we will.
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res, true));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.clientError(err, socket));
    // CONNECT (a proxy tunnel) is no route here: the documented refusal, then the connection closes.
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      const text = JSON.stringify(errorBody('method_not_allowed', 'CONNECT is not a method of the AIOS control server'));
      socket.on('error', () => undefined);
      socket.end(
        `HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
      );
    });
    // Not in @types/node 20's ServerOptions, so set as the documented property.
    this.server.headersTimeout = headersTimeout;
    this.server.maxConnections = positive('maxConnections', options.maxConnections, 256);
  }

  get url(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        const where = `${this.host}:${this.requestedPort}`;
        const why =
          e.code === 'EADDRINUSE'
            ? `port ${this.requestedPort} is in use`
            : e.code === 'EADDRNOTAVAIL'
              ? `${this.host} is not an address of this machine`
              : e.message;
        reject(new Error(`The AIOS control server could not listen on ${where}: ${why}; choose another port (0 picks a free one)`));
      };
      this.server.once('error', onError);
      this.server.listen({ port: this.requestedPort, host: this.host, exclusive: true }, () => {
        this.server.off('error', onError);
        this.server.on('error', (e) => this.log('error', `AIOS control server: ${e.message}`));
        this.port = (this.server.address() as AddressInfo).port;
        this.computeAllowed();
        resolve();
      });
    });
  }

  /** Host and Origin values a request may carry: this server's own authority, never a DNS name chosen by a page. */
  private computeAllowed(): void {
    const names = new Set(LOOPBACK_NAMES);
    const own = this.host.toLowerCase();
    if (!WILDCARD_HOSTS.has(own)) names.add(own.includes(':') && !own.startsWith('[') ? `[${own}]` : own);
    for (const h of this.extraHosts) names.add(h.includes(':') && !h.startsWith('[') ? `[${h}]` : h);
    for (const name of names) {
      this.allowedHosts.add(`${name}:${this.port}`);
      this.allowedOrigins.add(`http://${name}:${this.port}`);
      if (this.port === 80) {
        this.allowedHosts.add(name);
        this.allowedOrigins.add(`http://${name}`);
      }
    }
  }

  /**
   * Node refused what a client sent before any request existed (malformed or oversized headers, both
   * Content-Length and Transfer-Encoding, headers or a body too slow): answer in the documented JSON shape
   * where nothing has been written on the socket yet, then close it.
   */
  private clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const latest = this.responses.get(socket);
    const responding = latest !== undefined && latest.socket === socket ? latest : undefined;
    if (err.code === 'ECONNRESET' || !socket.writable || (responding !== undefined && responding.headersSent)) {
      socket.destroy();
      return;
    }
    if (responding !== undefined) {
      const req = responding.req;
      if (err.code === 'HPE_INVALID_EOF_STATE' || responding.destroyed) {
        // The client's end of the stream mid-body: nobody to answer; the request sees the close.
        socket.destroy();
      } else if (req.complete) {
        // Garbage after a whole request: that request is answered, then the connection closes.
        if (!responding.headersSent) responding.setHeader('Connection', 'close');
      } else {
        // Its body too slow or badly framed: answer through it, then close.
        const [status, , code, message] = clientErrorAnswer(err);
        this.refuse(code, `${message} (${err.code ?? err.message})`);
        responding.setHeader('Connection', 'close');
        sendJson(responding, status, errorBody(code, message));
        socket.destroySoon();
      }
      return;
    }
    const [status, reason, code, message] = clientErrorAnswer(err);
    this.refuse(code, `${message} (${err.code ?? err.message})`);
    const text = JSON.stringify(errorBody(code, message));
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
    socket.destroySoon();
  }

  private refuse(kind: string, message: string): void {
    const now = Date.now();
    if (now - (this.lastLogged.get(kind) ?? 0) < 1000) return;
    this.lastLogged.set(kind, now);
    this.log('warn', redactText(`AIOS control server refused a request: ${message}`));
  }

  /** Constant-time in the token's content; only its length (not a secret: 43 characters as generated) can show. */
  private authorized(header: string | undefined): boolean {
    const m = header === undefined ? null : /^Bearer +(\S+) *$/i.exec(header);
    if (m === null) return false;
    const given = Buffer.from(m[1], 'utf8');
    return given.length === this.token.length && timingSafeEqual(given as unknown as NodeJS.ArrayBufferView, this.token as unknown as NodeJS.ArrayBufferView);
  }

  private handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    // No 'close' listener per request to forget it: a finished response is detached from its socket.
    this.responses.set(req.socket, res);
    try {
      this.route(req, res, expectsContinue)?.then(undefined, (e: unknown) => this.fail(req, res, e));
    } catch (e) {
      this.fail(req, res, e);
    }
  }

  /** The answer to a request that failed: its refusal, or a 500 (logged) for anything else. */
  private fail(req: IncomingMessage, res: ServerResponse, e: unknown): void {
    if (e instanceof HttpError) {
      // Never a dashboard login code in the log: a refused Host leaves it unspent.
      if (e.status === 401 || e.status === 403)
        this.refuse(e.code, `${req.method} ${quote((req.url ?? '').replace(/([?&]code=)[^&]*/g, '$1…'))}: ${e.message}`);
      // Gone mid-body: one warning (rate-limited), no stack; there is nobody left to answer.
      if (e.code === 'incomplete_body') this.refuse(e.code, e.message);
      // Refused before its body was read: close rather than read (up to the request timeout) what we refused.
      const unread = !req.complete && (req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0);
      sendJson(res, e.status, errorBody(e.code, e.message), unread ? { ...e.headers, Connection: 'close' } : e.headers);
    } else {
      this.log('error', `AIOS control server: ${req.method} ${req.url} failed: ${(e as Error).stack ?? String(e)}`);
      sendJson(res, 500, errorBody('internal_error', `The control server failed on this request: ${(e as Error).message}`));
    }
  }

  /**
   * Answers at once, or returns the promise of an answer; throws (or rejects) a refusal. Not an async function:
   * a command is answered from its body's 'end' and its result's promise, with no promise job or async frame
   * in between (each was paid on every request).
   */
  private route(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> | undefined {
    // Split by hand: `new URL('//x/y', base)` would read "x" as a host name.
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const pathname = q < 0 ? target : target.slice(0, q);
    // Most API requests carry no query: no URLSearchParams for them.
    const query = q < 0 ? undefined : new URLSearchParams(target.slice(q + 1));
    // The dashboard also answers to the address VS Code forwarded its port to (asExternalUri), and to nothing else.
    const dashboard = this.dashboard?.handles(pathname) ? this.dashboard : undefined;
    const host = req.headers.host?.toLowerCase();
    // Node keeps the first of several Host headers; a request with more than one is refused (RFC 9112 3.2).
    if (host !== undefined && hostHeaders(req.rawHeaders) > 1) {
      throw new HttpError(400, 'invalid_request', 'A request must carry one Host header', { Connection: 'close' });
    }
    if (host === undefined) {
      throw new HttpError(400, 'invalid_request', `A Host header is required; send Host: ${this.url.slice('http://'.length)}`, { Connection: 'close' });
    }
    if (!(this.allowedHosts.has(host) || dashboard?.allowsHost(host))) {
      throw new HttpError(403, 'forbidden_host', `Host ${quote(req.headers.host ?? '')} is not this server's address; use ${this.url}`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !(this.allowedOrigins.has(origin.toLowerCase()) || dashboard?.allowsOrigin(origin.toLowerCase()))) {
      throw new HttpError(403, 'forbidden_origin', `Origin ${quote(origin)} may not call the AIOS control server`);
    }
    // The dashboard's routes, after the same Host/Origin checks; it authenticates by its own session cookie.
    if (dashboard) return dashboard.handle(req, res, { pathname, searchParams: query ?? new URLSearchParams() });
    const match = matchRoute(pathname);
    if (!match) throw new HttpError(404, 'not_found', `No route ${quote(pathname)}; the routes are /healthz, /admin/control, /api/commands, /api/telemetry`);
    if (match.route !== 'healthz' && !this.authorized(req.headers.authorization)) {
      throw new HttpError(401, 'unauthorized', 'A valid token is required: send the header "Authorization: Bearer <token>"', {
        'WWW-Authenticate': 'Bearer realm="aios"',
      });
    }
    const method = ROUTE_METHODS[match.route];
    if (req.method !== method) throw new HttpError(405, 'method_not_allowed', `${pathname} takes ${method}, not ${quote(req.method ?? '')}`, { Allow: method });
    const allowedQuery = ROUTE_QUERY[match.route];
    if (query !== undefined) {
      for (const key of query.keys()) {
        if (!allowedQuery.includes(key)) {
          throw badRequest(`Unknown query parameter ${quote(key)} on ${pathname}${allowedQuery.length ? `; it takes ${allowedQuery.join(', ')}` : ''}`);
        }
      }
    }

    switch (match.route) {
      case 'healthz':
        sendJson(res, 200, { status: 'ok' });
        return undefined;
      case 'telemetry': {
        const given = query?.get('detail') ?? 'SUMMARY';
        const level = given.toUpperCase() as DetailLevel;
        if (!DETAIL_LEVELS.includes(level)) throw badRequest(`detail must be one of ${DETAIL_LEVELS.join(', ')} (got ${quote(given)})`);
        return this.runTelemetry(level, res);
      }
      case 'command': {
        const entry = this.detached.get(match.id!);
        if (!entry) {
          throw new HttpError(
            404,
            'unknown_command_id',
            `No command ${match.id} submitted with ?wait=false is known here (the newest ${this.maxDetached} are kept)`,
          );
        }
        sendJson(res, 200, entry);
        return undefined;
      }
      case 'control':
        return this.runControl(req, res, expectsContinue);
      case 'commands': {
        const wait = parseWait(query?.get('wait') ?? null);
        this.readJson(
          req,
          res,
          expectsContinue,
          (body) => this.runCommand(parseCommandBody(body), wait, req, res),
          (e) => this.fail(req, res, e),
        );
        return undefined;
      }
    }
  }

  private async runTelemetry(level: DetailLevel, res: ServerResponse): Promise<void> {
    sendJson(res, 200, await this.handlers.telemetry(level));
  }

  private async runControl(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    const body = await new Promise<unknown>((resolve, reject) => this.readJson(req, res, expectsContinue, resolve, reject));
    const parsed = parseControlBody(body);
    const signal = this.waitingSignal(res);
    const result = await this.handlers.control(parsed.call, { signal });
    const extra = {
      ...(parsed.clientCommandId ? { clientCommandId: parsed.clientCommandId } : {}),
      ...(parsed.requestedAt ? { requestedAt: parsed.requestedAt } : {}),
    };
    sendJson(res, statusForResult(result), { ...result, ...extra });
  }

  /**
   * Aborted when the client stops waiting, i.e. its connection closes before the answer (close() ends them
   * all). One per connection, not per request: keep-alive requests on a connection come one after another,
   * and an AbortController is among the dearest objects a request would otherwise make.
   */
  private waitingSignal(res: ServerResponse): AbortSignal {
    const socket = res.socket;
    if (socket === null) return AbortSignal.abort(new Error('the HTTP client went away'));
    let ac = this.connectionSignals.get(socket);
    if (ac === undefined) {
      const created = new AbortController();
      ac = created;
      this.connectionSignals.set(socket, created);
      socket.once('close', () => created.abort(new Error('the HTTP client went away')));
    }
    return ac.signal;
  }

  /** A command whose body has been read: its answer, or its failure, leaves from here. */
  private runCommand(request: CommandRequest, wait: boolean, req: IncomingMessage, res: ServerResponse): void {
    const fail = (e: unknown): void => this.fail(req, res, e);
    if (!wait) {
      this.runDetached(request, res).then(undefined, fail);
      return;
    }
    this.handlers
      .execute(request, { signal: this.waitingSignal(res), onCommandId: ignoreCommandId })
      .then((result) => sendJson(res, statusForResult(result), result), fail);
  }

  private async runDetached(request: CommandRequest, res: ServerResponse): Promise<void> {
    let onId!: (id: string) => void;
    const idKnown = new Promise<string>((resolve) => (onId = resolve));
    let settled: CommandResult | undefined;
    let failure: unknown;
    // Not tied to this connection: the client is not waiting. Only the server's close cancels it.
    const controller = new AbortController();
    if (this.lifetime.signal.aborted) controller.abort(this.lifetime.signal.reason);
    this.detachedControllers.add(controller);
    const running = this.handlers.execute(request, { signal: controller.signal, onCommandId: (id) => onId(id) }).then(
      (r) => (settled = r),
      (e: unknown) => {
        failure = e;
        throw e;
      },
    );
    running.then(
      () => this.detachedControllers.delete(controller),
      () => this.detachedControllers.delete(controller),
    );
    const first = await Promise.race([idKnown, running.then(() => undefined)]);
    // Validation and the security policy run right after the id is assigned: give them a turn, so a refused
    // command is answered with its refusal rather than a 202 for something that will never run.
    if (first !== undefined) await new Promise<void>((resolve) => setImmediate(resolve));
    if (settled !== undefined) return sendJson(res, statusForResult(settled), settled);
    const commandId = first!;
    this.remember(commandId, { status: 'running', commandId });
    running.then(
      (r) => this.remember(commandId, { status: 'done', ...r }),
      () => this.remember(commandId, { status: 'done', ...lostResult(commandId, failure) }),
    );
    sendJson(
      res,
      202,
      { commandId, status: 'accepted', location: `/api/commands/${encodeURIComponent(commandId)}` },
      { Location: `/api/commands/${encodeURIComponent(commandId)}` },
    );
  }

  private remember(commandId: string, entry: Detached): void {
    this.detached.delete(commandId);
    this.detached.set(commandId, entry);
    while (this.detached.size > this.maxDetached) this.detached.delete(this.detached.keys().next().value!);
  }

  /**
   * Reads the body (at most maxBodyBytes, no long pauses), parses it as JSON (a UTF-8 BOM is allowed) and gives
   * it to `done` from the body's 'end'; a refusal, or what `done` throws, goes to `fail`. Throws a refusal
   * that needs no reading (a declared length over the limit). Callbacks rather than a promise: a command's
   * answer then waits for no promise job.
   */
  private readJson(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean, done: (body: unknown) => void, fail: (e: unknown) => void): void {
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > this.maxBodyBytes) {
      throw this.tooLarge(res, `The body is ${declared} bytes, more than the ${this.maxBodyBytes} allowed`);
    }
    if (expectsContinue) res.writeContinue();
    let first: Buffer | undefined; // most bodies arrive in one piece: no array, no concat
    let more: Buffer[] | undefined;
    let size = 0;
    let settled = false;
    const refuse = (e: HttpError): void => {
      settled = true;
      this.unwatch(watch);
      req.off('data', onData);
      fail(e);
    };
    const watch: BodyWatch = {
      seen: this.sweeps,
      prev: undefined,
      next: undefined,
      onIdle: (): void => {
        if (!res.headersSent) res.setHeader('Connection', 'close'); // Node closes the socket once the refusal is written
        refuse(new HttpError(408, 'request_timeout', `The body stopped arriving for ${this.bodyIdleTimeoutMs} ms; the connection is closed`));
      },
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > this.maxBodyBytes) {
        refuse(this.tooLarge(res, `The body is more than the ${this.maxBodyBytes} bytes allowed`));
        return;
      }
      if (first === undefined) first = chunk;
      else (more ??= [first]).push(chunk);
      watch.seen = this.sweeps;
    };
    // Nothing is removed once the body is whole: 'end' and 'close' come once (so `on`, not `once` and its
    // wrapper), and after the first of them the flag mutes the others.
    req.on('data', onData);
    req.on('end', () => {
      if (settled) return;
      settled = true;
      this.unwatch(watch);
      const whole = more === undefined ? first : Buffer.concat(more as unknown as readonly Uint8Array[]);
      let body: unknown;
      try {
        body = parseJson(whole === undefined ? '' : whole.toString('utf8'));
      } catch (e) {
        fail(e);
        return;
      }
      try {
        done(body);
      } catch (e) {
        fail(e);
      }
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      // The client left mid-body ('aborted', ECONNRESET): a refusal, not a server failure.
      if (!settled) refuse(new HttpError(400, 'incomplete_body', `The client closed the connection before its body was complete (${e.code ?? e.message})`));
    });
    req.on('close', () => {
      // Nobody is left to answer (sendJson skips a destroyed response).
      if (!settled) refuse(new HttpError(400, 'incomplete_body', 'The client closed the connection before its body was complete'));
    });
    this.watchBody(watch);
  }

  private watchBody(watch: BodyWatch): void {
    watch.next = this.bodies;
    if (this.bodies !== undefined) this.bodies.prev = watch;
    this.bodies = watch;
    if (this.sweeper !== undefined) return;
    // A body is refused between bodyIdleTimeoutMs and 1.25 times that after its last piece: more than
    // `idleSweeps` whole intervals later. Sweeps are counted, so a body's pieces read no clock.
    const every = Math.max(10, this.bodyIdleTimeoutMs / 4);
    const idleSweeps = Math.ceil(this.bodyIdleTimeoutMs / every);
    this.sweeper = setInterval(() => {
      const sweep = ++this.sweeps;
      for (let w = this.bodies; w !== undefined;) {
        const next = w.next; // onIdle unlinks w
        if (sweep - w.seen > idleSweeps) w.onIdle();
        w = next;
      }
      if (this.bodies === undefined) {
        clearInterval(this.sweeper);
        this.sweeper = undefined;
      }
    }, every);
    this.sweeper.unref();
  }

  /** Idempotent: a watch already unlinked has neither neighbour and is not the head. */
  private unwatch(watch: BodyWatch): void {
    if (watch.prev !== undefined) watch.prev.next = watch.next;
    else if (this.bodies === watch) this.bodies = watch.next;
    if (watch.next !== undefined) watch.next.prev = watch.prev;
    watch.prev = watch.next = undefined;
  }

  private tooLarge(res: ServerResponse, message: string): HttpError {
    if (!res.headersSent) res.setHeader('Connection', 'close'); // stop reading: Node closes the socket once the refusal is written
    return new HttpError(413, 'payload_too_large', `${message}; send a reference (a file path, an id) instead of the data`);
  }

  close(graceMs = 2000): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.server.close(() => {
        this.forgetToken();
        clearInterval(this.sweeper);
        this.sweeper = undefined;
        resolve();
      });
      this.server.closeIdleConnections();
      const timer = setTimeout(() => {
        const reason = new Error('the AIOS control server closed');
        this.lifetime.abort(reason);
        for (const c of this.detachedControllers) c.abort(reason);
        this.detachedControllers.clear();
        this.server.closeAllConnections();
      }, graceMs);
      // Not cleared when the server closes early: detached commands hold no connection, and still get theirs.
      timer.unref();
    });
    return this.closing;
  }
}

/** Node's refusal of what a client sent, as status, reason phrase, code and a message a person can act on. */
function clientErrorAnswer(err: NodeJS.ErrnoException): [number, string, string, string] {
  switch (err.code) {
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request Timeout', 'request_timeout', 'The request did not arrive in time; the connection is closed'];
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'Request Header Fields Too Large', 'headers_too_large', 'The request headers are too large'];
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return [400, 'Bad Request', 'invalid_http', 'A request may not carry both Content-Length and Transfer-Encoding'];
    default:
      return [400, 'Bad Request', 'invalid_http', `The request is not valid HTTP/1.1 (${err.code ?? 'parse error'})`];
  }
}

/** `?wait=` is true unless false/0/no. */
function parseWait(v: string | null): boolean {
  if (v === null) return true;
  switch (v.toLowerCase()) {
    case '':
    case 'true':
    case '1':
    case 'yes':
      return true;
    case 'false':
    case '0':
    case 'no':
      return false;
  }
  throw badRequest(`wait must be true or false (got ${quote(v)})`);
}

/** What GET /api/commands/<id> says when execute() broke its promise never to reject. */
function lostResult(commandId: string, e: unknown): CommandResult {
  return {
    commandId,
    commandType: '',
    success: false,
    error: { code: 'internal_error', message: e instanceof Error ? e.message : String(e) },
    durationMs: 0,
    throttled: false,
    delayMs: 0,
  };
}
