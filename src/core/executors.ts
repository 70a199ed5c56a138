// Ready-made executors. The Python service's executor lives in src/python and implements the same type.
import { CommandFailure, type Executor, type ExecutorContext, type ValidatedRequest } from './types';

export type CommandFunction = (parameters: Readonly<Record<string, unknown>>, ctx: ExecutorContext & { request: ValidatedRequest }) => unknown;

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
    return fn(request.parameters, { ...ctx, request });
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

/**
 * Runs configured programs with execa: no shell, so parameters can never inject shell syntax, and the
 * same spec runs on Windows, macOS and Linux (execa resolves PATHEXT and shebangs on Windows). Only command
 * types listed in `commands` run. Cancellation kills the process (SIGTERM, then SIGKILL after 2 s; on
 * Windows, TerminateProcess). Grandchildren a program starts itself are not tracked.
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
    // Loaded on first use: execa is only needed by hosts that run shell commands.
    const { execa } = await import('execa');
    const result = await execa(spec.file, args, {
      cwd: spec.cwd,
      env: spec.env,
      cancelSignal: ctx.signal,
      forceKillAfterDelay: 2000,
      timeout: spec.timeoutMs,
      maxBuffer: MAX_OUTPUT_BYTES,
      reject: false,
      shell: false,
      windowsHide: true,
      stdin: 'ignore',
    });
    if (result.isCanceled) throw new CommandFailure('cancelled', `'${spec.file}' was cancelled`);
    if (result.timedOut) throw new CommandFailure('timeout', `'${spec.file}' ran longer than ${spec.timeoutMs} ms and was stopped`);
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
