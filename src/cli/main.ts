// `aios`: the command line of AIOS Middleware, for any program a person types. It asks the window of its
// terminal (through the socket src/cli/register.ts names in the environment) to admit a command, waits its
// turn, runs the program right here with the terminal's stdio and TTY, and reports the exit code back.
// Bundled to dist/cli/aios.js with no run-time dependencies; the launchers (src/cli/bin) start it with the
// extension host's own Node. Loads only what each sub-command needs: start-up time is its cost.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { extname, join } from 'node:path';
import { isatty } from 'node:tty';
import type { CommandResult, DetailLevel, Priority } from '../core/types';
import type { ControlOperation } from '../python/protocol';
import {
  CONTROL_WORDS,
  ENV,
  EXIT,
  PROTOCOL_VERSION,
  SIGNAL_NUMBERS,
  encode,
  exitCodeOf,
  lineReader,
  type CliFollowUp,
  type CliRequestBody,
  type ServerMessage,
} from './protocol';

declare const AIOS_VERSION: string | undefined;
const VERSION = typeof AIOS_VERSION === 'string' ? AIOS_VERSION : 'dev';

const HELP = `Usage: aios <command> [options]

Runs programs through the AIOS Middleware of this VS Code window: the security policy, the
admission queue (HIGH/NORMAL/LOW), telemetry and Cancel, with the program in this terminal.

Commands:
  run [options] -- program [args…]   admit, wait in the queue, run here; exit with the program's code
  status [--json] [--detail LEVEL]   the status bar's facts in one line (LEVEL: SUMMARY, DETAILED, REALTIME)
  events [--follow] [--type T] [--since 10m]
                                     telemetry events as JSON Lines
  control <operation> [value]        log-level LEVEL, flush-cache [CACHE], reload-config,
                                     health-override healthy|unhealthy|clear, bcm-reset,
                                     custom NAME [--args JSON]

Examples:
  aios run -- npm test
  aios run --type BUILD --priority HIGH -- make -j8
  aios status
  aios events --follow --type 'TERMINAL:*'
  aios control log-level DEBUG

Exit codes: the program's own (128 + n when signal n ended it); ${EXIT.usage} usage, ${EXIT.noWindow} no window,
${EXIT.software} middleware error, ${EXIT.queueFull} queue full, ${EXIT.protocol} reopen the terminal, ${EXIT.denied} denied by the policy,
${EXIT.timeout} --timeout passed, ${EXIT.notFound} program not found, ${EXIT.cancelled} cancelled.
'aios <command> --help' describes one command.
`;

const RUN_HELP = `Usage: aios run [--type T] [--priority HIGH|NORMAL|LOW] [--timeout S] [--] program [args…]

Asks the window to admit the command, waits in its queue (one line on stderr shows the place), then
runs the program in this terminal with its stdio untouched and exits with the program's exit code.

Options:
  --type T          the command type the policy and telemetry see (default: TERMINAL:<program>)
  --priority P      HIGH, NORMAL (default) or LOW
  --timeout S       stop the program after S seconds of running (exit ${EXIT.timeout})

Ctrl-C while queued cancels (exit ${EXIT.cancelled}); once running, Ctrl-C goes to the program as usual.
Cancel in VS Code interrupts the program, then ends its process tree.

Examples:
  aios run -- pytest -x
  aios run --type DEPLOY --priority LOW --timeout 600 -- ./deploy.sh staging
`;

const STATUS_HELP = `Usage: aios status [--json] [--detail SUMMARY|DETAILED|REALTIME]

Prints the status bar's line (load, queue, CPU, service). --json prints its facts for scripts;
--detail adds the telemetry report of that level.
`;

const EVENTS_HELP = `Usage: aios events [--follow] [--type GLOB] [--since DURATION]

Prints recent telemetry events as JSON Lines; --follow keeps printing new ones until Ctrl-C.
--type keeps the command types matching GLOB ('TERMINAL:*'); --since keeps those at most DURATION
old (90s, 10m, 2h, 1d).
`;

const CONTROL_HELP = `Usage: aios control <operation> [value] [--args JSON]

  log-level DEBUG|INFO|WARNING|ERROR|CRITICAL   UPDATE_LOG_LEVEL
  flush-cache [model_cache|result_cache|all]    FLUSH_CACHE (default all)
  reload-config                                 RELOAD_CONFIG
  health-override healthy|unhealthy|clear       HEALTH_OVERRIDE
  bcm-reset                                     BCM_RESET
  custom NAME [--args JSON]                     CUSTOM_COMMAND with NAME and its arguments
`;

class UsageError extends Error {}

// Which of stdout and stderr were used: only those are flushed before exiting (building an unused one costs).
const used = { out: false, err: false };
const out = (text: string) => {
  used.out = true;
  process.stdout.write(text);
};
const errText = (text: string) => {
  used.err = true;
  process.stderr.write(text);
};
const err = (line: string) => errText(`aios: ${line}\n`);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    // Asked for nothing: the usage goes where errors go, so a script's output stays clean.
    errText(HELP);
    return EXIT.usage;
  }
  if (command === '--help' || command === '-h' || command === 'help') {
    out(HELP);
    return 0;
  }
  if (command === '--version' || command === '-V') {
    out(`aios ${VERSION} (protocol ${PROTOCOL_VERSION})\n`);
    return 0;
  }
  const help: Record<string, string> = { run: RUN_HELP, status: STATUS_HELP, events: EVENTS_HELP, control: CONTROL_HELP };
  if (!(command in help)) throw new UsageError(`unknown command '${command}' (see aios --help)`);
  if ((rest[0] === '--help' || rest[0] === '-h') && command !== 'run') {
    out(help[command]);
    return 0;
  }
  switch (command) {
    case 'run':
      return run(rest);
    case 'status':
      return status(rest);
    case 'events':
      return events(rest);
    default:
      return control(rest);
  }
}

// ---- options -------------------------------------------------------------------------------------------------

/** Options before the first word that is not one (or `--`); `--x=v` and `--x v` both work. */
function parseOptions(args: string[], known: Record<string, 'flag' | 'value'>, stopAtWord: boolean): { opts: Record<string, string | true>; words: string[] } {
  const opts: Record<string, string | true> = {};
  const words: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      words.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      if (stopAtWord) {
        words.push(...args.slice(i));
        break;
      }
      words.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = (eq > 0 ? a.slice(0, eq) : a).replace(/^--?/, '');
    const kind = known[name];
    if (!kind) throw new UsageError(`unknown option '${a}'`);
    if (kind === 'flag') {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      opts[name] = true;
    } else {
      const value = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      opts[name] = value;
    }
  }
  return { opts, words };
}

function parseDuration(text: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new UsageError(`${what} must be a duration like 30s, 10m or 2h (got '${text}')`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 's']!;
  return Number(m[1]) * unit;
}

// ---- the connection ------------------------------------------------------------------------------------------

interface Connection {
  socket: Socket;
  send(message: CliFollowUp): void;
}

/** Connects to the window and sends the first line; `onMessage` gets the window's messages. */
async function open(request: CliRequestBody, onMessage: (m: ServerMessage) => void, onClose: () => void): Promise<Connection> {
  const path = process.env[ENV.socket];
  const secret = process.env[ENV.secret] ?? '';
  if (!path) throw new NoWindow();
  const { connect } = await import('node:net');
  const socket = connect(path);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  }).catch((e: NodeJS.ErrnoException) => {
    throw new NoWindow(e.code);
  });
  socket.setEncoding('utf8');
  socket.on(
    'data',
    lineReader(
      (v) => onMessage(v as ServerMessage),
      (problem) => {
        err(`the window sent ${problem}`);
        socket.destroy();
      },
    ),
  );
  socket.on('error', () => undefined);
  socket.on('close', onClose);
  socket.write(encode({ ...request, v: PROTOCOL_VERSION, secret }));
  return { socket, send: (m) => void (socket.writable && socket.write(encode(m))) };
}

class NoWindow extends Error {
  constructor(readonly why?: string) {
    super(why);
  }
}

function noWindow(e: NoWindow): number {
  if (!e.why) {
    err(
      `no VS Code window here (${ENV.socket} is not set): run it in an integrated terminal of a window with AIOS Middleware, ` +
        `or set ${ENV.endpoint} and ${ENV.tokenFile} to use the control endpoint`,
    );
  } else {
    err(`the window of this terminal is gone (${e.why}): open a new terminal in a window with AIOS Middleware`);
  }
  return EXIT.noWindow;
}

/** One request whose answer is one message (status, control); the error message of a refusal is printed. */
async function ask(request: CliRequestBody, want: ServerMessage['t'][]): Promise<ServerMessage> {
  return new Promise<ServerMessage>((resolve, reject) => {
    let answered = false;
    open(
      request,
      (m) => {
        if (m.t === 'error' || want.includes(m.t)) {
          answered = true;
          resolve(m);
        }
      },
      () => {
        if (!answered) reject(new NoWindow('it closed the connection'));
      },
    ).catch(reject);
  });
}

function refused(m: Extract<ServerMessage, { t: 'error' }>): number {
  err(m.message);
  return m.exitCode;
}

// ---- run -----------------------------------------------------------------------------------------------------

/** How long the program has to end after the interrupt before its tree is killed (as the shell executor does). */
const FORCE_KILL_AFTER_MS = 2000;

async function run(args: string[]): Promise<number> {
  const { opts, words } = parseOptions(args, { type: 'value', priority: 'value', timeout: 'value', help: 'flag', h: 'flag' }, true);
  if (opts.help || opts.h) {
    out(RUN_HELP);
    return 0;
  }
  if (words.length === 0) throw new UsageError('run needs a program: aios run [options] -- program [args…]');
  const priority = typeof opts.priority === 'string' ? opts.priority.toUpperCase() : undefined;
  if (priority !== undefined && !['HIGH', 'NORMAL', 'LOW'].includes(priority))
    throw new UsageError(`--priority must be HIGH, NORMAL or LOW (got '${opts.priority}')`);
  const timeoutMs = typeof opts.timeout === 'string' ? parseDuration(opts.timeout, '--timeout') : undefined;
  const request = {
    op: 'run' as const,
    argv: words,
    ...(typeof opts.type === 'string' ? { commandType: opts.type } : {}),
    ...(priority ? { priority: priority as Priority } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  };

  // isatty, not process.stderr.isTTY: that would build the stderr stream on every run, used or not.
  const tty = isatty(2);
  let statusShown = false;
  const clearStatus = () => {
    if (statusShown && tty) errText('\r\x1b[2K');
    statusShown = false;
  };
  let child: ChildProcess | undefined;
  let childExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let stop: (() => void) | undefined;
  let stopEarly = false;
  let stopped = false;
  let conn: Connection | undefined;
  let finish!: (code: number) => void;
  const done = new Promise<number>((r) => (finish = r));
  let queuedOnce = false;

  // Ctrl-C (and a hang-up) while waiting cancels; while the program runs it gets them itself (same process group).
  const onSignal = (signal: NodeJS.Signals) => {
    if (child) {
      if (signal !== 'SIGINT') child.kill(signal);
      return;
    }
    clearStatus();
    if (conn) conn.send({ t: 'cancel' });
    else finish(EXIT.cancelled);
    // A window that does not answer must not keep the terminal.
    setTimeout(() => finish(EXIT.cancelled), 2000).unref();
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);

  const onMessage = (m: ServerMessage) => {
    switch (m.t) {
      case 'queued': {
        const eta = m.etaMs !== undefined ? `, ~${Math.max(1, Math.round(m.etaMs / 1000))} s` : '';
        const what = m.stage === 'throttled' ? `delayed ${m.priority}${m.reason ? ` (${m.reason})` : ''}` : `queued ${m.priority}, ${m.ahead} ahead`;
        if (tty) {
          errText(`\r\x1b[2Kaios: ${what}${eta}`);
          statusShown = true;
        } else if (!queuedOnce) {
          errText(`aios: ${what}${eta}\n`);
        }
        queuedOnce = true;
        return;
      }
      case 'go':
        clearStatus();
        void start();
        return;
      case 'stop':
        stopped = true;
        if (stop) stop();
        else stopEarly = true;
        return;
      case 'result':
        clearStatus();
        report(m.result, m.exitCode);
        finish(childExit ? exitOfChild(childExit, m) : m.exitCode);
        return;
      case 'error':
        clearStatus();
        finish(refused(m));
        return;
      default:
        return;
    }
  };

  const start = async () => {
    const { spawn } = await import('node:child_process');
    if (stopEarly) {
      // Cancelled between "go" and the start: nothing runs.
      childExit = { code: EXIT.cancelled, signal: null };
      conn?.send({ t: 'exit', code: EXIT.cancelled, signal: null });
      return;
    }
    const env = { ...process.env };
    // The launcher ran us as Node; the program gets the terminal's own setting back.
    const prior = env.AIOS_CLI_PRIOR_ERAN;
    delete env.AIOS_CLI_PRIOR_ERAN;
    if (prior?.startsWith('set:')) env.ELECTRON_RUN_AS_NODE = prior.slice(4);
    else delete env.ELECTRON_RUN_AS_NODE;
    try {
      const [file, args, shell] = process.platform === 'win32' ? windowsCommand(words, env) : [words[0], words.slice(1), false];
      child = spawn(file, args, { stdio: 'inherit', env, windowsHide: false, shell });
    } catch (e) {
      return startFailed(e as Error);
    }
    child.once('error', (e) => {
      if (!childExit) startFailed(e);
    });
    child.once('exit', (code, signal) => {
      if (childExit) return; // it never started (startFailed said so)
      childExit = { code, signal };
      conn?.send({ t: 'exit', code, signal });
      if (!conn?.socket.writable) finish(exitOfChild(childExit));
    });
    stop = () => {
      if (child?.pid === undefined || childExit) return;
      stop = undefined;
      void stopTree(child, () => childExit !== undefined);
    };
  };
  const startFailed = (e: NodeJS.ErrnoException) => {
    const why = e.code === 'ENOENT' ? 'command not found' : e.message;
    err(`${words[0]}: ${why}`);
    childExit = { code: EXIT.notFound, signal: null };
    conn?.send({ t: 'exit', code: null, signal: null, error: why });
  };

  try {
    conn = await open(request, onMessage, () => {
      // The window went away: with the program done (or never started), say so and keep its code.
      if (childExit) finish(exitOfChild(childExit));
      else if (!child) {
        clearStatus();
        err('the window closed the connection before the command ran');
        finish(EXIT.noWindow);
      } else {
        err('the window went away; the program goes on without the middleware');
        child.once('exit', (code, signal) => finish(exitOfChild({ code, signal })));
      }
    });
  } catch (e) {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
    throw e;
  }
  const code = await done;
  conn.socket.destroy();
  // The program died of a signal of its own (not one aios sent on a cancel): die of it too, so a calling
  // shell sees what it would have seen without aios (bash ends a loop on a SIGINT death).
  if (childExit?.signal && !stopped && code === 128 + (SIGNAL_NUMBERS[childExit.signal] ?? -128) && process.platform !== 'win32') {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(s);
    process.kill(process.pid, childExit.signal);
  }
  return code;
}

/**
 * Windows: Node finds only .exe files on PATH, and refuses to start a .cmd or .bat without a shell (npm,
 * yarn, most tools' shims). Such a program goes through cmd.exe with each argument quoted for it.
 */
function windowsCommand(words: string[], env: NodeJS.ProcessEnv): [string, string[], boolean] {
  const [program, ...args] = words;
  const exts = (env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD').split(';').filter(Boolean);
  const candidates = (base: string) => (extname(base) ? [base] : exts.map((e) => base + e.toLowerCase()));
  const dirs = /[\\/]/.test(program) ? [''] : [process.cwd(), ...(env.PATH ?? env.Path ?? '').split(';').filter(Boolean)];
  let found: string | undefined;
  for (const d of dirs) {
    found = candidates(d ? join(d, program) : program).find((f) => existsSync(f));
    if (found) break;
  }
  if (!found || !/\.(cmd|bat)$/i.test(found)) return [found ?? program, args, false];
  const quote = (a: string) => (/^[\w.:\\/=-]+$/.test(a) ? a : `"${a.replace(/"/g, '""')}"`);
  return [[found, ...args].map(quote).join(' '), [], true];
}

function exitOfChild(e: { code: number | null; signal: NodeJS.Signals | null }, m?: Extract<ServerMessage, { t: 'result' }>): number {
  // The window's verdict wins when it stopped the program (timeout, cancel); else the program's own code.
  const code = m?.result.error?.code;
  if (m && (code === 'timeout' || code === 'cancelled' || code === 'not_found')) return m.exitCode;
  if (e.signal) return 128 + (SIGNAL_NUMBERS[e.signal] ?? 0);
  return e.code ?? EXIT.software;
}

/** What the user should read of a result: nothing for the program's own exit code (it spoke for itself). */
function report(result: CommandResult, exitCode: number): void {
  if (result.success) return;
  const e = result.error;
  if (!e || e.code === 'exit_code' || e.code === 'not_found') return;
  if (e.code === 'blocked') err(`denied: ${e.message}`);
  else if (e.code === 'cancelled')
    err(
      e.message
        .replace(/\.$/, '')
        .toLowerCase()
        .replace(/^the command/, `${result.commandType}`),
    );
  else err(`${e.message} (${e.code}, exit ${exitCode})`);
}

/**
 * Cancel from VS Code: interrupts the program (SIGINT, as Ctrl-C would) and everything it started, then
 * kills whatever of that tree is left 2 s later, or once the program has exited. POSIX: the tree is read
 * (parent pids) before the first signal, so children the program's end re-parents are still found. Windows:
 * taskkill /T /F.
 */
async function stopTree(child: ChildProcess, exited: () => boolean): Promise<void> {
  const pid = child.pid!;
  const { execFile, spawn } = await import('node:child_process');
  if (process.platform === 'win32') {
    await new Promise<void>((resolve) => {
      spawn('taskkill', ['/pid', String(pid), '/T', '/F'], { windowsHide: true, stdio: 'ignore' })
        .on('error', () => resolve())
        .on('exit', () => resolve());
    });
    return;
  }
  const tree = async () => descendants(pid, await processTable(execFile));
  const first = await tree();
  signalAll([pid, ...first], 'SIGINT');
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, FORCE_KILL_AFTER_MS);
    const poll = setInterval(() => {
      if (exited()) {
        clearTimeout(timer);
        clearInterval(poll);
        resolve();
      }
    }, 20);
    timer.unref?.();
    child.once('exit', () => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve();
    });
  });
  const left = new Set([...first, ...(await tree())]);
  signalAll([pid, ...left], 'SIGKILL');
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, signal);
    } catch {
      // gone already
    }
  }
}

/** pid -> parent pid of every process: /proc on Linux, `ps` elsewhere. */
async function processTable(execFile: typeof import('node:child_process').execFile): Promise<Map<number, number>> {
  const table = new Map<number, number>();
  if (process.platform === 'linux') {
    const { readdirSync, readFileSync } = await import('node:fs');
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        table.set(Number(name), ppid);
      } catch {
        // ended while we read
      }
    }
    return table;
  }
  const out = await new Promise<string>((resolve) => execFile('ps', ['-A', '-o', 'pid=', '-o', 'ppid='], (_e, stdout) => resolve(String(stdout ?? ''))));
  for (const line of out.split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (p > 0) table.set(p, pp);
  }
  return table;
}

function descendants(root: number, table: Map<number, number>): number[] {
  const children = new Map<number, number[]>();
  for (const [p, pp] of table) children.set(pp, [...(children.get(pp) ?? []), p]);
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    for (const c of children.get(todo.pop()!) ?? []) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

// ---- status, events, control ---------------------------------------------------------------------------------

async function status(args: string[]): Promise<number> {
  const { opts } = parseOptions(args, { json: 'flag', detail: 'value' }, false);
  const detail = typeof opts.detail === 'string' ? (opts.detail.toUpperCase() as DetailLevel) : undefined;
  if (detail && !['SUMMARY', 'DETAILED', 'REALTIME'].includes(detail))
    throw new UsageError(`--detail must be SUMMARY, DETAILED or REALTIME (got '${opts.detail}')`);
  if (!process.env[ENV.socket] && process.env[ENV.endpoint]) return endpointStatus(opts.json === true, detail);
  const m = await ask({ op: 'status', ...(detail ? { detail } : {}) }, ['status']);
  if (m.t === 'error') return refused(m);
  if (m.t !== 'status') return EXIT.software;
  if (opts.json) out(`${JSON.stringify({ line: m.line, ...m.facts, ...(m.report !== undefined ? { report: m.report } : {}) })}\n`);
  else {
    out(`${m.line}\n`);
    if (m.report !== undefined) out(`${JSON.stringify(m.report, null, 2)}\n`);
  }
  return 0;
}

async function events(args: string[]): Promise<number> {
  const { opts, words } = parseOptions(args, { follow: 'flag', f: 'flag', type: 'value', since: 'value' }, false);
  if (words.length) throw new UsageError(`unexpected '${words[0]}' (see aios events --help)`);
  const follow = opts.follow === true || opts.f === true;
  const sinceMs = typeof opts.since === 'string' ? parseDuration(opts.since, '--since') : undefined;
  return new Promise<number>((resolve, reject) => {
    let refusedWith: number | undefined;
    let interrupted = false;
    open(
      { op: 'events', follow, ...(typeof opts.type === 'string' ? { type: opts.type } : {}), ...(sinceMs !== undefined ? { sinceMs } : {}) },
      (m) => {
        if (m.t === 'event') out(`${JSON.stringify(m.event)}\n`);
        else if (m.t === 'error') refusedWith = refused(m);
      },
      () => {
        if (interrupted) return;
        if (refusedWith === undefined && follow) err('the window went away');
        resolve(refusedWith ?? (follow ? EXIT.noWindow : 0));
      },
    ).then((conn) => {
      process.on('SIGINT', () => {
        interrupted = true;
        conn.socket.destroy();
        resolve(0);
      });
    }, reject);
  });
}

type ControlCallArgs = { operation: ControlOperation; value?: string; parameters?: Record<string, unknown> };

/** `aios control …` as a control call. */
function controlCall(words: string[], argsJson: string | undefined): ControlCallArgs {
  const [word, value, ...extra] = words;
  const operation = word ? CONTROL_WORDS[word] : undefined;
  if (!operation) throw new UsageError(`control needs an operation: ${Object.keys(CONTROL_WORDS).join(', ')} (see aios control --help)`);
  if (extra.length) throw new UsageError(`unexpected '${extra[0]}'`);
  if (argsJson !== undefined && operation !== 'CUSTOM_COMMAND') throw new UsageError('--args goes with custom NAME');
  const needs = (what: string) => {
    if (value === undefined) throw new UsageError(`${word} needs ${what}`);
    return value;
  };
  const none = () => {
    if (value !== undefined) throw new UsageError(`${word} takes no value`);
  };
  switch (operation) {
    case 'UPDATE_LOG_LEVEL':
      return { operation, value: needs('a level: DEBUG, INFO, WARNING, ERROR or CRITICAL').toUpperCase() };
    case 'HEALTH_OVERRIDE':
      return { operation, value: needs('healthy, unhealthy or clear') };
    case 'FLUSH_CACHE':
      return { operation, parameters: { cache_type: value ?? 'all' } };
    case 'CUSTOM_COMMAND': {
      let parsed: unknown = {};
      if (argsJson !== undefined) {
        try {
          parsed = JSON.parse(argsJson);
        } catch {
          throw new UsageError(`--args must be JSON (got '${argsJson}')`);
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('--args must be a JSON object');
      }
      return { operation, parameters: { command: needs('the control command name'), arguments: parsed } };
    }
    default:
      none();
      return { operation };
  }
}

async function control(args: string[]): Promise<number> {
  const { opts, words } = parseOptions(args, { args: 'value', json: 'flag' }, false);
  const call = controlCall(words, typeof opts.args === 'string' ? opts.args : undefined);
  if (!process.env[ENV.socket] && process.env[ENV.endpoint]) return endpointControl(call);
  const m = await ask({ op: 'control', ...call }, ['result']);
  if (m.t === 'error') return refused(m);
  if (m.t !== 'result') return EXIT.software;
  if (m.result.success) out(`${JSON.stringify(m.result.result ?? null)}\n`);
  else err(`${call.operation}: ${m.result.error?.message ?? 'failed'} (${m.result.error?.code ?? '?'})`);
  return m.exitCode;
}

// ---- outside VS Code: the control endpoint -------------------------------------------------------------------

async function endpointRequest(method: 'GET' | 'POST', route: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const base = process.env[ENV.endpoint]!;
  const tokenFile = process.env[ENV.tokenFile];
  if (!tokenFile) throw new UsageError(`${ENV.endpoint} is set but ${ENV.tokenFile} is not: name a file holding the endpoint's token`);
  const { readFileSync } = await import('node:fs');
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (e) {
    throw new UsageError(`cannot read ${ENV.tokenFile} (${tokenFile}): ${(e as Error).message}`);
  }
  const url = new URL(route, base);
  if (url.protocol !== 'http:') throw new UsageError(`${ENV.endpoint} must be an http:// URL of the control endpoint (got '${base}')`);
  const { request } = await import('node:http');
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        headers: { Authorization: `Bearer ${token}`, ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) });
          } catch {
            resolve({ status: res.statusCode ?? 0, json: { error: { code: 'bad_reply', message: text.slice(0, 200) } } });
          }
        });
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => reject(new NoWindow(`the control endpoint ${base} does not answer: ${e.code ?? e.message}`)));
    req.end(payload);
  });
}

function endpointError(r: { status: number; json: unknown }): number {
  const e = (r.json as { error?: { code?: string; message?: string } }).error;
  err(`the control endpoint answered ${r.status}: ${e?.message ?? 'no message'}`);
  return r.status === 401 ? EXIT.protocol : r.status === 403 ? EXIT.denied : EXIT.software;
}

async function endpointStatus(json: boolean, detail: DetailLevel | undefined): Promise<number> {
  const r = await endpointRequest('GET', `/api/telemetry?detail=${detail ?? 'REALTIME'}`);
  if (r.status !== 200) return endpointError(r);
  const report = r.json as { admission?: { active: number; limit: number; queued: Record<Priority, number> }; overall?: { totalCommands?: number } };
  const a = report.admission;
  const queued = a ? a.queued.HIGH + a.queued.NORMAL + a.queued.LOW : 0;
  const line = a ? `AIOS ${a.active}/${a.limit}${queued ? ` · ${queued} queued` : ''} (control endpoint)` : 'AIOS (control endpoint)';
  out(json ? `${JSON.stringify({ line, report })}\n` : `${line}\n`);
  return 0;
}

async function endpointControl(call: ControlCallArgs): Promise<number> {
  const r = await endpointRequest('POST', '/admin/control', {
    Operation: call.operation,
    ...(call.value !== undefined ? { Value: call.value } : {}),
    ...(call.parameters ? { Parameters: call.parameters } : {}),
    Source: 'terminal-cli',
  });
  if (r.status !== 200) return endpointError(r);
  const result = r.json as CommandResult;
  out(`${JSON.stringify(result.result ?? null)}\n`);
  return exitCodeOf(result);
}

// ---- entry ---------------------------------------------------------------------------------------------------

/** Exits once stdout and stderr are written out (on Windows a pipe is asynchronous: exit() would cut it). */
function exit(code: number): void {
  const streams = [used.out && process.stdout, used.err && process.stderr].filter((x) => x !== false);
  let pending = streams.length;
  if (pending === 0) process.exit(code);
  for (const x of streams) x.write('', () => --pending === 0 && process.exit(code));
}

void main(process.argv.slice(2)).then(
  (code) => exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      err(e.message);
      return exit(EXIT.usage);
    }
    if (e instanceof NoWindow) {
      if (!process.env[ENV.socket] && process.argv[2] === 'run' && process.env[ENV.endpoint]) {
        err(
          `run needs an integrated terminal of a VS Code window (the control endpoint at ${process.env[ENV.endpoint]} runs only the window's own command types: POST /api/commands)`,
        );
        return exit(EXIT.noWindow);
      }
      return exit(noWindow(e));
    }
    err(`internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    exit(EXIT.software);
  },
);
