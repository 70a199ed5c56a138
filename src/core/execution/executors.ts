// Ready-made executors. The Python service's executor lives in src/python and implements the same type.
import { existsSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { killProcessGroup, killProcessTree } from './processTree';
import { CommandFailure, type Executor, type ExecutorContext, type ValidatedRequest } from '../types';

export type CommandFunction = (parameters: Readonly<Record<string, unknown>>, ctx: ExecutorContext, request: ValidatedRequest) => unknown;

/**
 * Runs in-process functions by command type. A function should watch `ctx.onCancel` if it can take long.
 * Unknown types fail with 'unknown_command_type'.
 */
export function functionExecutor(functions: Readonly<Record<string, CommandFunction>>): Executor {
  const table = new Map(Object.entries(functions));
  return async (request, ctx) => {
    const fn = table.get(request.commandType);
    if (!fn) {
      throw new CommandFailure(
        'unknown_command_type',
        `No in-process handler for command type '${request.commandType}' (known: ${[...table.keys()].join(', ') || 'none'})`,
      );
    }
    return await fn(request.parameters, ctx, request);
  };
}

export interface ShellCommandSpec {
  /** The program: a name found on PATH or an absolute path. Never a shell command line. */
  file: string;
  /** Fixed arguments, or a function building them from the request's parameters (one array entry = one argument). */
  args?: readonly string[] | ((parameters: Readonly<Record<string, unknown>>) => readonly string[]);
  cwd?: string;
  /** Killed and failed with 'timeout' after this long; default none. */
  timeoutMs?: number;
  /** Extra environment variables, added to the inherited environment. Never logged or recorded. */
  env?: Readonly<Record<string, string>>;
  /** Output kept per stream for the result (default 1 MiB); more is cut with a note. */
  maxOutputBytes?: number;
}

export interface ShellResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** True when more output came than maxOutputBytes; the kept text ends with a note saying so. */
  truncated?: boolean;
}

/** Where a program's output goes as it arrives (a terminal, an output channel). */
export type OutputListener = (text: string, stream: 'stdout' | 'stderr') => void;

export interface ShellRunOptions {
  onOutput?: OutputListener;
  /** The program's exit code once it has exited on its own (not when stopped), success or not. */
  onExit?: (exitCode: number) => void;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024;
const STDERR_TAIL_BYTES = 2048;
/** SIGTERM first; whatever is left this long after gets SIGKILL. */
const FORCE_KILL_AFTER_MS = 2000;

/** POSIX process groups of programs running now: ended if the host exits first (one hook for all). */
const runningGroups = new Set<number>();
let exitHooked = false;

function trackGroup(pgid: number): void {
  runningGroups.add(pgid);
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', () => runningGroups.forEach((pgid) => killProcessGroup(pgid)));
  }
}

/** One stream's output: the first `cap` bytes kept, the rest counted (memory stays bounded), plus a short tail. */
class OutputCollector {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  cut = 0;
  private tail: Buffer | undefined;

  constructor(private readonly cap: number) {}

  add(chunk: Buffer): void {
    const room = this.cap - this.kept;
    if (chunk.length <= room) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
      return;
    }
    if (room > 0) {
      this.chunks.push(chunk.subarray(0, room));
      this.kept = this.cap;
    }
    this.cut += chunk.length - Math.max(0, room);
    const parts: Buffer[] = this.tail ? [this.tail, chunk] : [chunk];
    const t = parts.length === 1 ? chunk : concat(parts);
    this.tail = t.length > STDERR_TAIL_BYTES ? t.subarray(t.length - STDERR_TAIL_BYTES) : t;
  }

  text(): string {
    const kept = this.chunks.length === 1 ? this.chunks[0].toString('utf8') : concat(this.chunks).toString('utf8');
    if (this.cut === 0) return kept;
    return `${kept}\n[AIOS: output cut at ${formatBytes(this.cap)}; ${formatBytes(this.cut)} more was not kept]`;
  }

  /** The last bytes seen (for error messages), whether or not they were kept. */
  lastText(): string {
    if (this.tail) return this.tail.toString('utf8');
    const all = concat(this.chunks);
    return all.subarray(Math.max(0, all.length - STDERR_TAIL_BYTES)).toString('utf8');
  }
}

// @types/node 20.9 declares Buffer in a way TypeScript 5.9 no longer takes as a Uint8Array.
const concat = (parts: Buffer[]): Buffer => Buffer.concat(parts as unknown as Uint8Array[]);

function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Where a program that could not be started was looked for, in words. `env` is the spec's own environment:
 * a PATH set there is not shown (spec env values are never logged).
 */
export function describeNotFound(
  file: string,
  cwd: string | undefined,
  env: Readonly<Record<string, string>> | undefined,
  platform = process.platform,
): string {
  if (cwd !== undefined && !isDirectory(cwd)) return `Could not run '${file}': its working folder '${cwd}' does not exist`;
  const base = cwd ?? process.cwd();
  if (isAbsolute(file))
    return `Program '${file}' was not found (no such file${existsSync(file) ? ', or the interpreter its first line names is missing' : ''})`;
  if (file.includes('/') || (platform === 'win32' && file.includes('\\'))) {
    return `Program '${file}' was not found: looked for ${resolve(base, file)} (relative to ${base})`;
  }
  const hint = /\s/.test(file) ? `; 'file' names one program, put its arguments in 'args'` : '';
  const pathKey = platform === 'win32' ? Object.keys(env ?? {}).find((k) => k.toUpperCase() === 'PATH') : env && 'PATH' in env ? 'PATH' : undefined;
  if (pathKey !== undefined) return `Program '${file}' was not found on the PATH set by its command's env (not shown)${hint}`;
  const dirs = (process.env.PATH ?? process.env.Path ?? '').split(delimiter).filter(Boolean);
  const ext = platform === 'win32' ? ` with the extensions ${process.env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD'}` : '';
  return `Program '${file}' was not found on PATH${ext}; looked in: ${dirs.length ? dirs.join(delimiter) : '(PATH is empty)'}${hint}`;
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

type Execa = typeof import('execa').execa;
let execaFn: Execa | undefined;
/** Loaded on first use: execa is only needed by hosts that run shell commands. */
async function loadExeca(): Promise<Execa> {
  return (execaFn ??= (await import('execa')).execa);
}

/**
 * Runs one program with execa: no shell, so parameters can never inject shell syntax, and the same spec
 * runs on Windows, macOS and Linux (execa resolves PATHEXT and shebangs on Windows). Cancellation (through
 * `ctx.onCancel`: no AbortSignal per command) and the timeout end the program and everything it started:
 * on POSIX it leads its own process group, which gets SIGTERM, then SIGKILL for whatever is left after 2 s
 * (also when the host exits while it runs); on Windows `taskkill /T /F` ends the tree.
 * Output goes to `options.onOutput` as it arrives and is kept up to `spec.maxOutputBytes` per stream.
 * A non-zero exit fails with 'exit_code' and the tail of stderr; a missing program with 'not_found'.
 */
export async function runShellCommand(spec: ShellCommandSpec, args: readonly string[], ctx: ExecutorContext, options?: ShellRunOptions): Promise<ShellResult> {
  if (ctx.cancelled) throw new CommandFailure('cancelled', `'${spec.file}' was cancelled before it started`);
  const execa = execaFn ?? (await loadExeca());
  const posix = process.platform !== 'win32';
  const cap = spec.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const subprocess = execa(spec.file, args, {
    cwd: spec.cwd,
    env: spec.env,
    // Collected here (bounded), not by execa: its maxBuffer would kill the program instead of cutting.
    buffer: false,
    // Its own process group, so a signal to the group reaches what it starts. execa's own clean-up on
    // exit skips detached processes: trackGroup's exit hook does it for the group.
    detached: posix,
    reject: false,
    shell: false,
    windowsHide: true,
    stdin: 'ignore',
  });
  const pid = subprocess.pid;
  const out = new OutputCollector(cap);
  const err = new OutputCollector(cap);
  const listen = (stream: NodeJS.ReadableStream | null, collector: OutputCollector, name: 'stdout' | 'stderr') => {
    if (!stream) return;
    const onOutput = options?.onOutput;
    const decoder = onOutput ? new StringDecoder('utf8') : undefined;
    stream.on('data', (chunk: Buffer) => {
      collector.add(chunk);
      if (decoder) {
        const text = decoder.write(chunk);
        if (text) onOutput!(text, name);
      }
    });
    if (decoder) {
      stream.on('end', () => {
        const rest = decoder.end();
        if (rest) onOutput!(rest, name);
      });
    }
  };
  listen(subprocess.stdout, out, 'stdout');
  listen(subprocess.stderr, err, 'stderr');

  let stopped: 'cancel' | 'timeout' | undefined;
  let exited = false;
  let forceTimer: NodeJS.Timeout | undefined;
  // The whole tree, at once: a grandchild holding the output pipes would otherwise keep the command
  // running after the program itself is gone. POSIX: SIGTERM to the group, SIGKILL after 2 s, and SIGKILL
  // for whatever is left once the program has exited (at once if it already has). Windows: taskkill /T /F
  // first, while the root still exists (it follows parent links), and only then the program itself.
  const stop = (why: 'cancel' | 'timeout') => {
    if (stopped) return;
    stopped = why;
    if (pid === undefined) return;
    if (!posix) {
      void killProcessTree(pid).finally(() => subprocess.kill());
      return;
    }
    killProcessGroup(pid, exited ? 'SIGKILL' : 'SIGTERM');
    forceTimer = setTimeout(() => killProcessGroup(pid, 'SIGKILL'), FORCE_KILL_AFTER_MS);
    forceTimer.unref();
  };
  const offCancel = ctx.onCancel(() => stop('cancel'));
  const timer = spec.timeoutMs ? setTimeout(() => stop('timeout'), spec.timeoutMs) : undefined;
  if (posix && pid !== undefined) {
    trackGroup(pid);
    subprocess.once('exit', () => {
      exited = true;
      runningGroups.delete(pid);
      if (stopped) killProcessGroup(pid);
    });
  }
  let result;
  try {
    result = await subprocess;
  } finally {
    clearTimeout(timer);
    clearTimeout(forceTimer);
    offCancel();
  }
  if (stopped === 'timeout') throw new CommandFailure('timeout', `'${spec.file}' ran longer than ${spec.timeoutMs} ms and was stopped`);
  if (stopped) throw new CommandFailure('cancelled', `'${spec.file}' was cancelled`);
  if (result.failed && result.exitCode === undefined && result.signal === undefined) {
    const code = (result.cause as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT') throw new CommandFailure('not_found', describeNotFound(spec.file, spec.cwd, spec.env));
    throw new CommandFailure('spawn_failed', `Could not run '${spec.file}': ${result.shortMessage ?? result.message}`);
  }
  if (result.exitCode !== undefined) options?.onExit?.(result.exitCode);
  const truncated = out.cut > 0 || err.cut > 0;
  const shell: ShellResult = { exitCode: result.exitCode ?? -1, stdout: out.text(), stderr: err.text(), ...(truncated ? { truncated } : {}) };
  if (result.signal !== undefined && result.exitCode === undefined) {
    throw new CommandFailure('exit_code', `'${spec.file}' was ended by ${result.signal}`);
  }
  if (shell.exitCode !== 0) {
    const tail = err.lastText().trim().slice(-500);
    throw new CommandFailure('exit_code', `'${spec.file}' exited with code ${shell.exitCode}${tail ? `: ${tail}` : ''}`, { exitCode: shell.exitCode });
  }
  return shell;
}

/** The arguments of a spec for one request; a function's result is checked to be a list of strings. */
export function specArguments(spec: ShellCommandSpec, request: ValidatedRequest): readonly string[] {
  const args: unknown = typeof spec.args === 'function' ? spec.args(request.parameters) : (spec.args ?? []);
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) {
    throw new CommandFailure('invalid_request', `The arguments for '${request.commandType}' must be a list of strings`);
  }
  return args as readonly string[];
}

/**
 * Runs configured programs by command type (see runShellCommand). Only command types listed in `commands`
 * run; others fail with 'unknown_command_type'.
 */
export function shellExecutor(commands: Readonly<Record<string, ShellCommandSpec>>, options?: ShellRunOptions): Executor {
  const table = new Map(Object.entries(commands));
  return async (request, ctx) => {
    const spec = table.get(request.commandType);
    if (!spec) {
      throw new CommandFailure('unknown_command_type', `No shell command is configured for command type '${request.commandType}'`);
    }
    return runShellCommand(spec, specArguments(spec, request), ctx, options);
  };
}
