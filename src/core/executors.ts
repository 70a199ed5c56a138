// Ready-made executors. The Python service's executor lives in src/python and implements the same type.
import { killProcessGroup, killProcessTree } from './processTree';
import { CommandFailure, type Executor, type ExecutorContext, type ValidatedRequest } from './types';

export type CommandFunction = (parameters: Readonly<Record<string, unknown>>, ctx: ExecutorContext, request: ValidatedRequest) => unknown;

/**
 * Runs in-process functions by command type. A function should watch `ctx.signal` if it can take long.
 * Unknown types fail with 'unknown_command'.
 */
export function functionExecutor(functions: Readonly<Record<string, CommandFunction>>): Executor {
  const table = new Map(Object.entries(functions));
  return async (request, ctx) => {
    const fn = table.get(request.commandType);
    if (!fn) {
      throw new CommandFailure(
        'unknown_command',
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
  /** Extra environment variables, added to the inherited environment. */
  env?: Readonly<Record<string, string>>;
}

export interface ShellResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const MAX_OUTPUT_BYTES = 1024 * 1024;

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

/**
 * Runs configured programs with execa: no shell, so parameters can never inject shell syntax, and the
 * same spec runs on Windows, macOS and Linux (execa resolves PATHEXT and shebangs on Windows). Only command
 * types listed in `commands` run. Cancellation and the timeout end the program and everything it started:
 * on POSIX it leads its own process group, which gets SIGTERM, then SIGKILL for whatever is left after 2 s
 * (also when the host exits while it runs); on Windows `taskkill /T /F` ends the tree.
 * A non-zero exit fails with 'exit_code' and the tail of stderr.
 */
export function shellExecutor(commands: Readonly<Record<string, ShellCommandSpec>>): Executor {
  const table = new Map(Object.entries(commands));
  return async (request, ctx) => {
    const spec = table.get(request.commandType);
    if (!spec) {
      throw new CommandFailure('unknown_command', `No shell command is configured for command type '${request.commandType}'`);
    }
    const args = typeof spec.args === 'function' ? spec.args(request.parameters) : (spec.args ?? []);
    if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) {
      throw new CommandFailure('invalid_request', `The arguments for '${request.commandType}' must be a list of strings`);
    }
    if (ctx.signal.aborted) throw new CommandFailure('cancelled', `'${spec.file}' was cancelled before it started`);
    // Loaded on first use: execa is only needed by hosts that run shell commands.
    const { execa } = await import('execa');
    const posix = process.platform !== 'win32';
    // One stop path for cancel and timeout, so both reach the whole tree.
    const stop = new AbortController();
    let timedOut = false;
    const onCancel = () => stop.abort();
    ctx.signal.addEventListener('abort', onCancel, { once: true });
    const timer = spec.timeoutMs
      ? setTimeout(() => {
          timedOut = !stop.signal.aborted;
          stop.abort();
        }, spec.timeoutMs)
      : undefined;
    const subprocess = execa(spec.file, args, {
      cwd: spec.cwd,
      env: spec.env,
      // POSIX: execa sends the program SIGTERM, then SIGKILL after 2 s. Windows: see onStop.
      cancelSignal: posix ? stop.signal : undefined,
      forceKillAfterDelay: 2000,
      // Its own process group, so a signal to the group reaches what it starts. execa's own clean-up on
      // exit skips detached processes: trackGroup's exit hook does it for the group.
      detached: posix,
      maxBuffer: MAX_OUTPUT_BYTES,
      reject: false,
      shell: false,
      windowsHide: true,
      stdin: 'ignore',
    });
    const pid = subprocess.pid;
    let exited = false;
    // The whole tree, at once: a grandchild holding the output pipes would otherwise keep the command
    // running after the program itself is gone. POSIX: SIGTERM to the group, then SIGKILL for whatever is
    // left once the program has exited (at once if it already has). Windows: taskkill /T /F first, while
    // the root still exists (it follows parent links), and only then the program itself.
    const onStop = () => {
      if (pid === undefined) return;
      if (!posix) void killProcessTree(pid).finally(() => subprocess.kill());
      else killProcessGroup(pid, exited ? 'SIGKILL' : 'SIGTERM');
    };
    stop.signal.addEventListener('abort', onStop, { once: true });
    if (posix && pid !== undefined) {
      trackGroup(pid);
      subprocess.once('exit', () => {
        exited = true;
        runningGroups.delete(pid);
        if (stop.signal.aborted) killProcessGroup(pid);
      });
    }
    let result;
    try {
      result = await subprocess;
    } finally {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onCancel);
      stop.signal.removeEventListener('abort', onStop);
    }
    if (stop.signal.aborted) {
      if (timedOut) throw new CommandFailure('timeout', `'${spec.file}' ran longer than ${spec.timeoutMs} ms and was stopped`);
      throw new CommandFailure('cancelled', `'${spec.file}' was cancelled`);
    }
    if (result.failed && result.exitCode === undefined) {
      throw new CommandFailure('spawn_failed', `Could not run '${spec.file}': ${result.shortMessage ?? result.message}`);
    }
    const out: ShellResult = { exitCode: result.exitCode ?? -1, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
    if (out.exitCode !== 0) {
      const tail = out.stderr.trim().slice(-500);
      throw new CommandFailure('exit_code', `'${spec.file}' exited with code ${out.exitCode}${tail ? `: ${tail}` : ''}`);
    }
    return out;
  };
}
