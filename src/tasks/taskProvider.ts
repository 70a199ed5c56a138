// Tasks of type `aios`: any command type the middleware knows (a shell command type or one of the Python
// service's), run through the whole pipeline in a CustomExecution whose Pseudoterminal shows the wait in the
// queue, the live output and the outcome, and closes with an exit code (non-zero on failure). Terminate
// cancels the command (CANCEL is recorded and the process tree ends). Problem matchers read its output.
import * as vscode from 'vscode';
import type { AiosContext } from '../context';
import type { CommandResult, ProgressUpdate } from '../core';
import { isLanguageClientNoise } from '../python/lifecycle';
import { CommandsRequest } from '../python/protocol';
import { TASK_TYPE, taskDefinitionProblem, type AiosTaskDefinition } from './taskDefinition';

export { TASK_TYPE, type AiosTaskDefinition };

/** The part of the extension's services this file uses. */
export type TaskHost = Pick<AiosContext, 'log' | 'router' | 'run' | 'supervisor'>;

/** How long provideTasks waits for the service's list before offering the shell command types alone. */
const SERVICE_LIST_TIMEOUT_MS = 3000;

export class AiosTaskProvider implements vscode.TaskProvider<vscode.Task> {
  /** Problems already logged: VS Code resolves a tasks.json entry more than once. */
  private readonly reported = new Set<string>();

  constructor(private readonly ctx: TaskHost) {}

  async provideTasks(): Promise<vscode.Task[]> {
    const seen = new Set<string>();
    const tasks: vscode.Task[] = [];
    for (const r of this.ctx.router.localRoutes()) {
      seen.add(r.commandType);
      const parameters = r.placeholders.length ? Object.fromEntries(r.placeholders.map((p) => [p, ''])) : undefined;
      tasks.push(this.task({ type: TASK_TYPE, commandType: r.commandType, ...(parameters ? { parameters } : {}) }, r.description));
    }
    for (const c of await this.serviceTypes()) {
      if (seen.has(c.name)) continue;
      tasks.push(this.task({ type: TASK_TYPE, commandType: c.name }, c.description));
    }
    return tasks;
  }

  resolveTask(task: vscode.Task): vscode.Task {
    const problem = taskDefinitionProblem(task.definition, task.name);
    if (problem !== undefined) {
      // Logged once; running it shows the same words in its terminal and runs nothing.
      if (!this.reported.has(problem)) {
        this.reported.add(problem);
        this.ctx.log.warn(problem);
      }
      return this.task(task.definition as AiosTaskDefinition, undefined, task, problem);
    }
    // The same definition object (VS Code matches tasks.json entries by it).
    return this.task(task.definition as AiosTaskDefinition, undefined, task);
  }

  private task(definition: AiosTaskDefinition, detail?: string, from?: vscode.Task, problem?: string): vscode.Task {
    const scope = from?.scope ?? vscode.TaskScope.Workspace;
    const task = new vscode.Task(
      definition,
      scope,
      from?.name ?? definition.commandType,
      TASK_TYPE,
      new vscode.CustomExecution((resolved) =>
        Promise.resolve(problem === undefined ? new AiosTaskTerminal(this.ctx, resolved as AiosTaskDefinition) : new MalformedTaskTerminal(problem)),
      ),
      from?.problemMatchers ?? [],
    );
    if (detail) task.detail = detail;
    return task;
  }

  private async serviceTypes(): Promise<{ name: string; description?: string }[]> {
    if (!this.ctx.supervisor.isReady) return [];
    try {
      const client = await this.ctx.supervisor.connection();
      const reply = await Promise.race([
        client.sendRequest(CommandsRequest, {}),
        new Promise<undefined>((r) => setTimeout(r, SERVICE_LIST_TIMEOUT_MS, undefined)),
      ]);
      return reply?.commandTypes ?? [];
    } catch (err) {
      const message = `Tasks: could not list the service's command types: ${err instanceof Error ? err.message : String(err)}`;
      // The service went away meanwhile: the supervisor's one line says so, without the client's words for it.
      if (isLanguageClientNoise(message)) this.ctx.log.debug(message);
      else this.ctx.log.warn(message);
      return [];
    }
  }
}

/** Terminal text: \r\n line ends (a pseudoterminal has no line discipline). */
const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');
const DIM = '\x1b[2m';
const RED = '\x1b[31m';
const GREEN = '\x1b[32m';
const RESET = '\x1b[0m';

/** A malformed tasks.json entry: says what is wrong and ends with exit code 1, running nothing. */
class MalformedTaskTerminal implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;

  constructor(private readonly problem: string) {}

  open(): void {
    this.writeEmitter.fire(crlf(`${RED}✗ AIOS: ${this.problem}; nothing was run.${RESET}\n`));
    this.closeEmitter.fire(1);
  }

  close(): void {
    this.writeEmitter.dispose();
    this.closeEmitter.dispose();
  }
}

export class AiosTaskTerminal implements vscode.Pseudoterminal {
  private readonly writeEmitter = new vscode.EventEmitter<string>();
  private readonly closeEmitter = new vscode.EventEmitter<number>();
  readonly onDidWrite = this.writeEmitter.event;
  readonly onDidClose = this.closeEmitter.event;
  private readonly abort = new AbortController();
  private closed = false;
  private lastStage = '';
  /** The last thing written ended a line (so status lines start on their own). */
  private atLineStart = true;

  constructor(
    private readonly ctx: TaskHost,
    private readonly definition: AiosTaskDefinition,
  ) {}

  open(): void {
    void this.run();
  }

  /** Terminate (or the terminal closed): the command is cancelled, which ends its process tree. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort(new Error('the task was terminated'));
  }

  private write(text: string): void {
    if (this.closed || !text) return;
    this.writeEmitter.fire(crlf(text));
    this.atLineStart = text.endsWith('\n');
  }

  private status(text: string): void {
    this.write(`${this.atLineStart ? '' : '\n'}${DIM}${text}${RESET}\n`);
  }

  private async run(): Promise<void> {
    const d = this.definition;
    const priority = d.priority; // checked by the pipeline, which names a bad one
    const route = this.ctx.router.route(d.commandType);
    this.status(
      `AIOS: ${d.commandType} (${route === 'shell' ? 'shell command' : 'Python service'}${priority ? `, ${String(priority)}` : ''}) through the middleware`,
    );
    let exitCode: number | undefined;
    let result: CommandResult;
    try {
      result = await this.ctx.run(
        { commandType: d.commandType, priority, parameters: d.parameters, source: 'task' },
        { signal: this.abort.signal, onProgress: (u) => this.progress(u) },
        { onOutput: (text) => this.write(text), onExit: (code) => (exitCode = code) },
      );
    } catch (err) {
      // ctx.run never rejects; this is a last guard so a task never hangs open.
      result = {
        commandId: '',
        commandType: d.commandType,
        success: false,
        error: { code: 'executor_error', message: String(err) },
        durationMs: 0,
        throttled: false,
        delayMs: 0,
      };
    }
    const ms = `${result.durationMs.toFixed(0)} ms`;
    if (result.success) {
      if (route !== 'shell' && result.result !== undefined) this.write(`${JSON.stringify(result.result, null, 2)}\n`);
      this.status(`${GREEN}✓${RESET}${DIM} ${d.commandType} done in ${ms} (command ${result.commandId})`);
    } else if (result.error?.code === 'cancelled') {
      this.status(`${d.commandType} was cancelled after ${ms}: ${result.error.message}`);
    } else {
      this.write(`${this.atLineStart ? '' : '\n'}${RED}✗ ${d.commandType} failed (${result.error?.code}): ${result.error?.message}${RESET}\n`);
    }
    // Non-zero on failure: the program's own code when it exited with one, else 1.
    const code = result.success ? 0 : exitCode !== undefined && exitCode !== 0 ? exitCode : 1;
    if (!this.closed) this.closeEmitter.fire(code);
    this.writeEmitter.dispose();
    this.closeEmitter.dispose();
  }

  private progress(u: ProgressUpdate): void {
    const line =
      u.stage === 'throttled'
        ? `throttled: waiting ${(u.delayMs / 1000).toFixed(1)} s before it queues (${u.reason})`
        : u.stage === 'queued'
          ? `waiting in the queue: position ${u.queuePosition}`
          : u.stage === 'waiting'
            ? u.reason
            : 'running';
    if (line === this.lastStage) return;
    this.lastStage = line;
    this.status(line);
  }
}
