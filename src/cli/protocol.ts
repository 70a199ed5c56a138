// The one source of truth for what `aios` (the command-line side, src/cli/main.ts) and its window (the IPC
// server, src/cli/server.ts) say to each other: JSON messages, one per line, over a Unix domain socket (a
// named pipe on Windows). Each connection does one thing: the CLI's first line names the protocol version,
// the window's secret and the operation; the window answers with messages until the last (`result` or
// `error`), then closes. No imports with a run-time cost: the CLI bundle must start in a few milliseconds.
import type { CommandResult, DetailLevel, Priority, TelemetryEvent } from '../core/types';
import type { ControlOperation } from '../python/protocol';

/** Raised whenever a message changes shape: a CLI of another version is told to reopen its terminal. */
export const PROTOCOL_VERSION = 1;

/** What the window sets in every integrated terminal (src/cli/register.ts) and the CLI reads. */
export const ENV = {
  /** The socket (or pipe) of the window's IPC server. */
  socket: 'AIOS_CLI_SOCKET',
  /** The per-window secret the first line must carry. */
  secret: 'AIOS_CLI_SECRET',
  /** The Node (or Electron, run as Node) executable of the extension host: the launchers run the CLI with it. */
  node: 'AIOS_CLI_NODE',
  /** The bundled CLI script the launchers run. */
  main: 'AIOS_CLI_MAIN',
  /** Outside VS Code: the control endpoint's URL (aios.controlServer) … */
  endpoint: 'AIOS_ENDPOINT',
  /** … and a file holding its bearer token ("AIOS: Copy Control Endpoint Token"). */
  tokenFile: 'AIOS_TOKEN_FILE',
} as const;

/** The source kind of `aios` commands and control operations (SOURCE_KINDS), on each of their events. */
export const CLI_SOURCE = 'cli';

/**
 * `aios` exit codes besides the program's own (0-255, or 128 + the signal number when a signal ended it).
 * The numbers follow sysexits.h where one fits, so scripts can tell "the middleware said no" from "the
 * program failed".
 */
export const EXIT = {
  /** A bad command line (unknown option, missing program). */
  usage: 64,
  /** No window to talk to: not in an integrated terminal, or the window is gone. */
  noWindow: 69,
  /** The middleware failed in a way that is not the program's (an invalid request, the middleware closed). */
  software: 70,
  /** The queue was full: try again later. */
  queueFull: 75,
  /** The terminal belongs to an older or newer extension, or to another window: reopen it. */
  protocol: 76,
  /** The security policy refused the command type: nothing ran. */
  denied: 77,
  /** --timeout passed: the program was stopped. */
  timeout: 124,
  /** The program could not be started (not found, not executable). */
  notFound: 127,
  /** Cancelled (Ctrl-C while queued, or Cancel from VS Code before it ran): 128 + SIGINT, as shells do. */
  cancelled: 130,
} as const;

/** The kebab-case words of `aios control` and the operations they map to. */
export const CONTROL_WORDS: Readonly<Record<string, ControlOperation>> = {
  'log-level': 'UPDATE_LOG_LEVEL',
  'flush-cache': 'FLUSH_CACHE',
  'reload-config': 'RELOAD_CONFIG',
  'health-override': 'HEALTH_OVERRIDE',
  'bcm-reset': 'BCM_RESET',
  custom: 'CUSTOM_COMMAND',
};

// ---- CLI -> window -------------------------------------------------------------------------------------------

interface Hello {
  /** PROTOCOL_VERSION of the CLI. */
  v: number;
  secret: string;
}

export interface RunRequest extends Hello {
  op: 'run';
  /** The program and its arguments, as typed after `--`. */
  argv: string[];
  /** Default: derived from the program's name (`TERMINAL:<program>`, see terminalCommandType). */
  commandType?: string;
  priority?: Priority;
  /** Stop the program this long after it started (admission wait not counted). */
  timeoutMs?: number;
}

export interface StatusRequest extends Hello {
  op: 'status';
  /** A telemetry report as well as the one-line facts. */
  detail?: DetailLevel;
}

export interface EventsRequest extends Hello {
  op: 'events';
  follow: boolean;
  /** A glob over command types (`TERMINAL:*`). */
  type?: string;
  /** Only recent events at most this old. */
  sinceMs?: number;
}

export interface ControlRequestMessage extends Hello {
  op: 'control';
  operation: ControlOperation;
  value?: string;
  parameters?: Record<string, unknown>;
}

export type CliRequest = RunRequest | StatusRequest | EventsRequest | ControlRequestMessage;

/** A request without its first-line envelope (the CLI adds the version and the secret). */
export type CliRequestBody = CliRequest extends infer R ? (R extends CliRequest ? Omit<R, 'v' | 'secret'> : never) : never;

/** Sent by a running `aios run` after the first line. */
export type CliFollowUp =
  /** The program ended: its exit code, or the signal that ended it. `error` when it never started. */
  | { t: 'exit'; code: number | null; signal: string | null; error?: string }
  /** Ctrl-C while queued: cancel (the same as closing the connection, said explicitly). */
  | { t: 'cancel' };

// ---- window -> CLI -------------------------------------------------------------------------------------------

export type ServerMessage =
  /** Waiting for a slot (or in a backoff delay): `ahead` commands before it, `etaMs` a rough guess. */
  | { t: 'queued'; priority: Priority; ahead: number; etaMs?: number; stage: 'queued' | 'throttled' | 'waiting'; reason?: string }
  /** Admitted: run the program now. */
  | { t: 'go'; commandId: string; commandType: string }
  /** Stop the program: cancelled from VS Code, or --timeout passed. */
  | { t: 'stop'; reason: 'cancel' | 'timeout' }
  /** The final answer of `run` and `control`. */
  | { t: 'result'; result: CommandResult; exitCode: number }
  /** `status`: the status bar's line and its facts. */
  | { t: 'status'; line: string; facts: StatusFacts; report?: unknown }
  /** `events`: one telemetry event; `{t:'caught-up'}` once the recent ones are out (with --follow). */
  | { t: 'event'; event: TelemetryEvent }
  | { t: 'caught-up' }
  /** The last message of a refused connection. */
  | { t: 'error'; code: 'protocol' | 'unauthorized' | 'bad_request'; message: string; exitCode: number };

export interface StatusFacts {
  state: string;
  active: number;
  limit: number;
  queued: Record<Priority, number>;
  paused: boolean;
  service: string;
  cpuPercent?: number;
  totalCommands: number;
  p50Ms: number;
}

// ---- framing -------------------------------------------------------------------------------------------------

/** Longest line either side accepts: a run's argv, an event; more is a protocol error, not a memory leak. */
export const MAX_LINE_BYTES = 1 << 20;

export function encode(message: CliRequest | CliFollowUp | ServerMessage): string {
  return `${JSON.stringify(message)}\n`;
}

/** Splits a byte stream into JSON lines; `onMessage` gets each parsed value, `onError` a line too long or not JSON. */
export function lineReader(onMessage: (value: unknown) => void, onError: (message: string) => void): (chunk: string) => void {
  let buffered = '';
  return (chunk) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!line.trim()) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        onError(`not a JSON line: ${line.slice(0, 80)}`);
        return;
      }
      onMessage(value);
    }
    if (buffered.length > MAX_LINE_BYTES) {
      buffered = '';
      onError(`a line longer than ${MAX_LINE_BYTES} bytes`);
    }
  };
}

/** The exit code for a command's result (run and control alike). */
export function exitCodeOf(result: CommandResult): number {
  if (result.success) {
    const code = (result.result as { exitCode?: unknown } | undefined)?.exitCode;
    return typeof code === 'number' ? code : 0;
  }
  const data = result.error?.data as { exitCode?: unknown } | undefined;
  if (typeof data?.exitCode === 'number') return data.exitCode;
  switch (result.error?.code) {
    case 'blocked':
      return EXIT.denied;
    case 'queue_full':
      return EXIT.queueFull;
    case 'cancelled':
      return EXIT.cancelled;
    case 'timeout':
      return EXIT.timeout;
    case 'not_found':
      return EXIT.notFound;
    default:
      return EXIT.software;
  }
}

/** Signal numbers for 128 + n: the common POSIX ones (os.constants.signals is not loaded by the CLI for these). */
export const SIGNAL_NUMBERS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGABRT: 6,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};
