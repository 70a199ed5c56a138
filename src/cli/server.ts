// The window's side of `aios`: a local IPC server (a Unix domain socket in a private directory, a named
// pipe on Windows) that admits the CLI's commands through the middleware. The program runs in the terminal,
// not here: the executor this server gives the pipeline tells the waiting CLI "go", waits for the exit code
// it reports and tells it to stop on a cancel or a timeout. Plain Node (no `vscode`): the window is reached
// only through the narrow CliHost below; src/cli/register.ts adapts the extension's context to it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  CommandFailure,
  PRIORITIES,
  compileGlob,
  programOf,
  terminalCommandType,
  type AdmissionState,
  type CommandRequest,
  type CommandResult,
  type DetailLevel,
  type Disposable,
  type ExecuteOptions,
  type Executor,
  type ProgressUpdate,
  type SystemSample,
  type TelemetryEvent,
} from '../core';
import { CONTROL_OPERATIONS, type ControlOperation } from '../python/protocol';
import { indicatorModel } from '../views/indicatorModel';
import {
  CLI_SOURCE,
  EXIT,
  PROTOCOL_VERSION,
  encode,
  exitCodeOf,
  lineReader,
  SIGNAL_NUMBERS,
  type CliFollowUp,
  type CliRequest,
  type ControlRequestMessage,
  type EventsRequest,
  type RunRequest,
  type ServerMessage,
  type StatusFacts,
  type StatusRequest,
} from './protocol';

/** A control-plane call, as the window's control plane takes it. */
export interface CliControlCall {
  operation: ControlOperation;
  value?: string;
  parameters?: Record<string, unknown>;
  source: string;
}

/** What the server needs of the window: the pipeline, the control plane, the status bar's facts, telemetry. */
export interface CliHost {
  /** One command through the middleware (policy, admission, telemetry) with `executor` as what runs it. */
  execute(request: CommandRequest, executor: Executor, options: ExecuteOptions): Promise<CommandResult>;
  /** A control operation through the window's control plane (the palette's "Sync Python State"). */
  control(call: CliControlCall, options: { signal: AbortSignal }): Promise<CommandResult>;
  /** The status bar's figures. */
  status(): { admission: AdmissionState; service: { status: string; noInterpreter?: true }; system: SystemSample };
  /** A telemetry report (the palette's "Show Telemetry"). */
  query(level: DetailLevel): unknown;
  /** Recent events, oldest first, and each new one as it is recorded. */
  recentEvents(): readonly TelemetryEvent[];
  onEvent(listener: (event: TelemetryEvent) => void): Disposable;
}

export type CliLogLevel = 'debug' | 'info' | 'warn';

export interface CliServerOptions {
  host: CliHost;
  /** The socket (POSIX) or pipe (Windows) path: see socketLocation(). */
  path: string;
  /** The per-window secret every connection's first line must carry. */
  secret: string;
  log?: (level: CliLogLevel, message: string) => void;
}

/** A fresh per-window secret (32 random bytes, URL-safe). */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Where a window's socket goes. POSIX: `<runtime dir or tmp>/aios-cli-<uid>/<id>.sock`, the directory made
 * 0700 and refused when another user owns it or others may enter it (a shared /tmp). Windows: a named pipe
 * (`\\.\pipe\aios-cli-<id>`), which the system keeps apart from files. `id` defaults to a random one.
 */
export function socketLocation(options: { platform?: NodeJS.Platform; baseDir: string; uid?: number; id?: string } = { baseDir: '' }): {
  dir?: string;
  path: string;
} {
  const id = options.id ?? randomBytes(8).toString('hex');
  if ((options.platform ?? process.platform) === 'win32') return { path: `\\\\.\\pipe\\aios-cli-${id}` };
  const uid = options.uid ?? process.getuid?.() ?? 0;
  const dir = join(options.baseDir, `aios-cli-${uid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.isSymbolicLink()) throw new Error(`${dir} is not a directory`);
  if (st.uid !== uid) throw new Error(`${dir} belongs to another user (uid ${st.uid})`);
  if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  return { dir, path: join(dir, `${id}.sock`) };
}

/** True when something answers on `path` (a live window): its socket must not be taken over. */
export function isListening(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** How often a queued CLI hears of its place (a bound on messages, not a delay: the first comes at once). */
const QUEUE_UPDATE_MS = 250;

export class CliServer {
  private readonly sockets = new Set<Socket>();
  private closed = false;

  private constructor(
    private readonly server: Server,
    private readonly options: CliServerOptions,
  ) {
    server.on('connection', (socket) => this.accept(socket));
  }

  /**
   * Listens on `options.path`. A socket file left by a window that is gone (a reload, a crash) is replaced;
   * one a live server answers on is not (rejects with code EADDRINUSE). The socket file is made 0600.
   */
  static async listen(options: CliServerOptions): Promise<CliServer> {
    const posix = !options.path.startsWith('\\\\');
    if (posix) {
      if (await isListening(options.path)) throw Object.assign(new Error(`another window listens on ${options.path}`), { code: 'EADDRINUSE' });
      try {
        unlinkSync(options.path);
      } catch {
        // none there
      }
    }
    const server = createServer({ allowHalfOpen: false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    if (posix) chmodSync(options.path, 0o600);
    return new CliServer(server, options);
  }

  get path(): string {
    return this.options.path;
  }

  /** Connections open now (a CLI waiting, running or following events). */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Stops listening and drops every connection: their commands are cancelled. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private log(level: CliLogLevel, message: string): void {
    this.options.log?.(level, message);
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.setEncoding('utf8');
    const gone = new AbortController();
    let first = true;
    let followUp: ((m: CliFollowUp) => void) | undefined;
    const refuse = (code: 'protocol' | 'unauthorized' | 'bad_request', message: string, exitCode: number) => {
      send(socket, { t: 'error', code, message, exitCode });
      socket.end();
    };
    const read = lineReader(
      (value) => {
        if (!first) return followUp?.(value as CliFollowUp);
        first = false;
        const req = value as Partial<CliRequest> | null;
        if (typeof req !== 'object' || req === null) return refuse('bad_request', 'the first line must be a JSON object', EXIT.software);
        if (req.v !== PROTOCOL_VERSION) {
          return refuse(
            'protocol',
            `this terminal's aios speaks protocol ${String(req.v)}, the window ${PROTOCOL_VERSION} (the extension was updated): open a new terminal`,
            EXIT.protocol,
          );
        }
        if (!sameSecret(req.secret, this.options.secret)) {
          return refuse('unauthorized', 'this terminal belongs to another window (or to this window before it reloaded): open a new terminal', EXIT.protocol);
        }
        try {
          followUp = this.dispatch(req as CliRequest, socket, gone.signal);
        } catch (err) {
          refuse('bad_request', err instanceof Error ? err.message : String(err), EXIT.usage);
        }
      },
      (message) => refuse('bad_request', message, EXIT.software),
    );
    socket.on('data', read);
    socket.on('error', () => undefined); // a CLI killed mid-write: 'close' follows
    socket.on('close', () => {
      this.sockets.delete(socket);
      gone.abort(new Error('the aios command went away (its terminal closed or it was killed)'));
    });
  }

  private dispatch(req: CliRequest, socket: Socket, gone: AbortSignal): ((m: CliFollowUp) => void) | undefined {
    switch (req.op) {
      case 'run':
        return this.run(req, socket, gone);
      case 'status':
        this.status(req, socket);
        return undefined;
      case 'events':
        this.events(req, socket, gone);
        return undefined;
      case 'control':
        this.control(req, socket, gone);
        return undefined;
      default:
        throw new Error(`unknown operation ${JSON.stringify((req as { op?: unknown }).op)}`);
    }
  }

  private run(req: RunRequest, socket: Socket, gone: AbortSignal): (m: CliFollowUp) => void {
    if (!Array.isArray(req.argv) || req.argv.length === 0 || !req.argv.every((a) => typeof a === 'string')) {
      throw new Error('run needs a program: aios run [options] -- program [args…]');
    }
    if (req.priority !== undefined && !PRIORITIES.includes(req.priority)) throw new Error(`--priority must be one of ${PRIORITIES.join(', ')}`);
    const program = programOf(req.argv.map(quoteWord).join(' '));
    const commandType = req.commandType ?? terminalCommandType(req.argv.map(quoteWord).join(' '));
    const cancel = new AbortController();
    // The CLI going away settles the command whatever its stage: never a slot held for a closed terminal.
    const onGone = () => cancel.abort(gone.reason);
    gone.addEventListener('abort', onGone, { once: true });
    let onExit: ((m: Extract<CliFollowUp, { t: 'exit' }>) => void) | undefined;
    let lastQueued = 0;
    // Once it ran: settles when the program has ended (or its terminal went). The answer waits for it, so a
    // cancelled program has stopped before the CLI hears the verdict and its slot goes back.
    let running: Promise<unknown> | undefined;
    const executor: Executor = (_request, ectx) =>
      (running = new Promise<unknown>((resolve, reject) => {
        let stopping: 'cancel' | 'timeout' | undefined;
        const timer =
          req.timeoutMs !== undefined && req.timeoutMs > 0
            ? setTimeout(() => {
                stopping = 'timeout';
                send(socket, { t: 'stop', reason: 'timeout' });
              }, req.timeoutMs)
            : undefined;
        const settle = () => {
          clearTimeout(timer);
          offCancel();
          gone.removeEventListener('abort', onSocketGone);
        };
        const offCancel = ectx.onCancel(() => {
          if (stopping) return;
          stopping = 'cancel';
          send(socket, { t: 'stop', reason: 'cancel' });
        });
        // Gone while running: the program went with its terminal (or cannot be reached); the slot goes back.
        const onSocketGone = () => {
          settle();
          reject(new CommandFailure('cancelled', `'${program}' lost its terminal`));
        };
        gone.addEventListener('abort', onSocketGone, { once: true });
        onExit = (m) => {
          settle();
          const exitCode = m.signal ? 128 + (SIGNAL_NUMBERS[m.signal] ?? 0) : (m.code ?? EXIT.software);
          if (m.error) return reject(new CommandFailure('not_found', `'${program}' could not be started: ${m.error}`, { exitCode: EXIT.notFound }));
          if (stopping === 'timeout')
            return reject(new CommandFailure('timeout', `'${program}' ran longer than ${req.timeoutMs} ms and was stopped`, { exitCode: EXIT.timeout }));
          if (stopping === 'cancel') return reject(new CommandFailure('cancelled', `'${program}' was cancelled`, { exitCode }));
          if (exitCode === 0) return resolve({ exitCode: 0 });
          const how = m.signal ? `was ended by ${m.signal}` : `exited with code ${exitCode}`;
          reject(new CommandFailure('exit_code', `'${program}' ${how}`, { exitCode }));
        };
        send(socket, { t: 'go', commandId: ectx.commandId, commandType });
      }));
    const onProgress = (u: ProgressUpdate) => {
      if (u.stage === 'running') return;
      const now = Date.now();
      if (now - lastQueued < QUEUE_UPDATE_MS && u.stage === 'queued') return;
      lastQueued = now;
      const ahead = Math.max(0, u.queuePosition - 1);
      send(socket, {
        t: 'queued',
        priority: req.priority ?? 'NORMAL',
        ahead,
        stage: u.stage,
        ...this.eta(ahead, u),
        ...(u.reason ? { reason: u.reason } : {}),
      });
    };
    const request: CommandRequest = {
      commandType,
      ...(req.priority ? { priority: req.priority } : {}),
      parameters: { program },
      source: CLI_SOURCE,
    };
    void this.options.host
      .execute(request, executor, { signal: cancel.signal, onProgress })
      .catch((err: unknown) => failedResult(commandType, err))
      .then(async (result) => {
        await running?.catch(() => undefined);
        gone.removeEventListener('abort', onGone);
        this.log('debug', `aios run ${commandType}: ${result.success ? 'done' : result.error?.code}`);
        send(socket, { t: 'result', result, exitCode: exitCodeOf(result) });
        socket.end();
      });
    return (m) => {
      if (m.t === 'cancel') cancel.abort(new Error('cancelled with Ctrl-C in the terminal'));
      else if (m.t === 'exit') onExit?.(m);
    };
  }

  /** A rough wait: how many rounds of the limit are ahead, times the typical duration (none before any ran). */
  private eta(ahead: number, u: ProgressUpdate): { etaMs?: number } {
    const facts = this.facts();
    const rounds = Math.ceil((ahead + 1) / Math.max(1, facts.limit));
    const ms = rounds * facts.p50Ms + u.remainingMs;
    return facts.p50Ms > 0 || u.remainingMs > 0 ? { etaMs: Math.round(ms) } : {};
  }

  private facts(): StatusFacts & { line: string } {
    const { admission, service, system } = this.options.host.status();
    const model = indicatorModel(admission, service as Parameters<typeof indicatorModel>[1], system);
    const overall = (this.options.host.query('SUMMARY') as { overall?: { totalCommands?: number; p50?: number } }).overall;
    return {
      line: model.text.replace(/\$\([^)]*\)\s*/g, ''),
      state: model.state,
      active: admission.active,
      limit: admission.limit,
      queued: { ...admission.queued },
      paused: admission.paused,
      service: service.status,
      ...(system.sampledAt > 0 ? { cpuPercent: Math.round(system.cpuPercent) } : {}),
      totalCommands: overall?.totalCommands ?? 0,
      p50Ms: overall?.p50 ?? 0,
    };
  }

  private status(req: StatusRequest, socket: Socket): void {
    const { line, ...facts } = this.facts();
    const detail = req.detail;
    if (detail !== undefined && !['SUMMARY', 'DETAILED', 'REALTIME'].includes(detail)) throw new Error('--detail must be SUMMARY, DETAILED or REALTIME');
    send(socket, { t: 'status', line, facts, ...(detail ? { report: this.options.host.query(detail) } : {}) });
    socket.end();
  }

  private events(req: EventsRequest, socket: Socket, gone: AbortSignal): void {
    // The policy's own matcher: linear in the type's length whatever the glob a terminal sends.
    const re = req.type ? compileGlob(req.type) : undefined;
    const since = typeof req.sinceMs === 'number' ? Date.now() - req.sinceMs : undefined;
    const wanted = (e: TelemetryEvent) => (!re || re.test(e.commandType)) && (since === undefined || Date.parse(e.timestamp) >= since);
    // Subscribed before the recent ones are read: nothing recorded in between is lost (a repeat is possible only if
    // an event is both recent and new, which the commandId + eventType pair lets a reader drop).
    const pending: TelemetryEvent[] = [];
    let live = false;
    const subscription = req.follow
      ? this.options.host.onEvent((e) => {
          if (!wanted(e)) return;
          if (live) send(socket, { t: 'event', event: e });
          else pending.push(e);
        })
      : undefined;
    const recent = this.options.host.recentEvents().filter(wanted);
    const seen = new Set(recent);
    for (const e of recent) send(socket, { t: 'event', event: e });
    if (!subscription) {
      socket.end();
      return;
    }
    for (const e of pending) if (!seen.has(e)) send(socket, { t: 'event', event: e });
    live = true;
    send(socket, { t: 'caught-up' });
    gone.addEventListener('abort', () => subscription.dispose(), { once: true });
  }

  private control(req: ControlRequestMessage, socket: Socket, gone: AbortSignal): void {
    if (!CONTROL_OPERATIONS.includes(req.operation)) throw new Error(`unknown control operation ${JSON.stringify(req.operation)}`);
    if (req.parameters !== undefined && (typeof req.parameters !== 'object' || req.parameters === null || Array.isArray(req.parameters))) {
      throw new Error('control parameters must be a JSON object');
    }
    const call: CliControlCall = {
      operation: req.operation,
      ...(typeof req.value === 'string' ? { value: req.value } : {}),
      ...(req.parameters ? { parameters: req.parameters } : {}),
      source: CLI_SOURCE,
    };
    void this.options.host
      .control(call, { signal: gone })
      .catch((err: unknown) => failedResult(`CONTROL:${req.operation}`, err))
      .then((result) => {
        send(socket, { t: 'result', result, exitCode: exitCodeOf(result) });
        socket.end();
      });
  }
}

function send(socket: Socket, message: ServerMessage): void {
  if (!socket.destroyed && socket.writable) socket.write(encode(message));
}

function sameSecret(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a as unknown as NodeJS.ArrayBufferView, b as unknown as NodeJS.ArrayBufferView);
}

/** A word as a shell would need it, so programOf reads `my prog` as one word. */
function quoteWord(w: string): string {
  return /[\s"']/.test(w) ? `"${w.replace(/["\\]/g, '\\$&')}"` : w;
}

/** The host's execute never rejects by contract; this keeps a broken one from leaving the CLI waiting. */
function failedResult(commandType: string, err: unknown): CommandResult {
  return {
    commandId: '',
    commandType,
    success: false,
    error: { code: 'executor_error', message: err instanceof Error ? err.message : String(err) },
    durationMs: 0,
    throttled: false,
    delayMs: 0,
  };
}
