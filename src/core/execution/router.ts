// Which executor runs a command type: a shell spec (the core's execa executor), an in-process function (the
// API's run(fn)), or the Python service (everything else). Every source hands the middleware the router's
// executor, so routing is decided in one place and policy, admission and telemetry stay the pipeline's.
import { runShellCommand, specArguments, type ShellResult, type ShellRunOptions } from './executors';
import type { ShellCommandType } from './shellCommands';
import type { Executor, ExecutorContext, Priority, ValidatedRequest } from '../types';

export type RouteKind = 'service' | 'shell' | 'function';

/** A command type the router knows locally (the service's own are listed by the service). */
export interface LocalRoute {
  readonly commandType: string;
  readonly kind: 'shell';
  readonly description?: string;
  readonly priority?: Priority;
  readonly origin: ShellCommandType['origin'];
  readonly placeholders: readonly string[];
}

/** What an in-process function sees of its command: its id and its cancellation, nothing of the pipeline. */
export interface RunContext {
  readonly commandId: string;
  /** Aborted when the command is cancelled; made on first read (prefer onCancel/cancelled on hot paths). */
  readonly signal: AbortSignal;
  readonly cancelled: boolean;
  onCancel(listener: (reason: unknown) => void): () => void;
}

export class CommandRouter {
  private shell = new Map<string, ShellCommandType>();
  /** The executor every source hands the middleware. */
  readonly executor: Executor;

  constructor(private readonly service: Executor) {
    this.executor = (request, ctx) => {
      const shell = this.shell.size > 0 ? this.shell.get(request.commandType) : undefined;
      return shell ? this.runShell(shell, request, ctx) : this.service(request, ctx);
    };
  }

  /** Replaces the shell command types (settings or commands.json changed). */
  setShellCommands(commands: ReadonlyMap<string, ShellCommandType>): void {
    this.shell = new Map(commands);
  }

  route(commandType: string): RouteKind {
    return this.shell.has(commandType) ? 'shell' : 'service';
  }

  shellCommand(commandType: string): ShellCommandType | undefined {
    return this.shell.get(commandType);
  }

  /** The shell command types, sorted by name. */
  localRoutes(): LocalRoute[] {
    return [...this.shell.values()]
      .map((c) => ({
        commandType: c.commandType,
        kind: 'shell' as const,
        origin: c.origin,
        placeholders: c.placeholders,
        ...(c.description !== undefined ? { description: c.description } : {}),
        ...(c.priority !== undefined ? { priority: c.priority } : {}),
      }))
      .sort((a, b) => a.commandType.localeCompare(b.commandType));
  }

  /** A request's priority: its own, else its shell definition's, else NORMAL (left to validation). */
  withDefaultPriority<R>(request: R): R {
    if (this.shell.size === 0 || typeof request !== 'object' || request === null) return request;
    const r = request as { commandType?: unknown; priority?: unknown };
    if (r.priority !== undefined || typeof r.commandType !== 'string') return request;
    const p = this.shell.get(r.commandType)?.priority;
    return p === undefined ? request : { ...request, priority: p };
  }

  /** The router's executor, with a shell program's output streamed and its exit code told (a task's terminal, a channel). */
  executorWithOutput(options: ShellRunOptions): Executor {
    return (request, ctx) => {
      const shell = this.shell.get(request.commandType);
      return shell ? this.runShell(shell, request, ctx, options) : this.service(request, ctx);
    };
  }

  private runShell(shell: ShellCommandType, request: ValidatedRequest, ctx: ExecutorContext, options?: ShellRunOptions): Promise<ShellResult> {
    return runShellCommand(shell.spec, specArguments(shell.spec, request), ctx, options);
  }
}

/** A RunContext over the pipeline's context: a class, so each command costs one small object. */
class RunView implements RunContext {
  // A real private field: the caller's function cannot reach the pipeline's flight through it.
  readonly #ctx: ExecutorContext;
  constructor(ctx: ExecutorContext) {
    this.#ctx = ctx;
  }
  get commandId(): string {
    return this.#ctx.commandId;
  }
  get signal(): AbortSignal {
    return this.#ctx.signal;
  }
  get cancelled(): boolean {
    return this.#ctx.cancelled;
  }
  onCancel(listener: (reason: unknown) => void): () => void {
    return this.#ctx.onCancel(listener);
  }
}

/**
 * The executor for one in-process function (the API's run(commandType, fn)): the function gets a RunContext,
 * not the pipeline's own objects.
 */
export function functionRoute<T>(fn: (ctx: RunContext) => T | PromiseLike<T>): Executor {
  // The pipeline wraps what an executor returns in a promise itself; no second one here.
  return (_request, ctx) => fn(new RunView(ctx));
}
