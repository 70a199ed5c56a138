// The control plane: operations that change the running service's state without a restart (log level, caches,
// config, health override, cost counters, custom control commands). Every call goes through the pipeline
// (security, telemetry) at HIGH priority without an admission slot; what the user set is kept and sent again
// to each new service process before it gets any command.
import type { LanguageClient } from 'vscode-languageclient/node';
import { CONTROL_PREFIX, customCommandPolicyName, systemClock, type CommandResult, type ExecuteOptions, type Middleware, type Priority } from '../core';
import { ControlState, REPLAY_SOURCE, describeReplay, type ControlCall } from './controlState';
import { serviceConnection, serviceFailure } from './executor';
import { clientLib } from './lazyClient';
import { CommandsRequest, ControlRequest, SetConcurrencyRequest, type ControlParams, type ControlResult } from './protocol';
import type { PythonSupervisor, ServiceStart } from './supervisor';

export type { ControlCall };

export interface ControlPlaneHost {
  readonly middleware: Middleware;
  readonly supervisor: PythonSupervisor;
  readonly log: { info(message: string): void; debug(message: string): void; warn(message: string): void };
  /** Where the kept state outlives the extension host (a window reload): the extension's workspace state. */
  readonly store?: { get(key: string): unknown; update(key: string, value: unknown): Thenable<void> };
}

/** The workspace-state key of the kept control state. */
export const CONTROL_STATE_KEY = 'aios.controlState';

export class ControlPlane {
  /** What the user set through the control plane, re-applied to a new service process (not after a fresh restart). */
  private readonly state = new ControlState({ clock: systemClock, isReplayable: (name) => this.replayable.has(name) });
  private replayable = new Set<string>();

  constructor(private readonly host: ControlPlaneHost) {
    const problems = this.state.restore(host.store?.get(CONTROL_STATE_KEY));
    for (const p of problems) host.log.warn(`Control state from the last window: ${p}`);
    if (!this.state.isEmpty) {
      host.log.info(`Control state kept from before the window reloaded: ${this.state.calls().map((c) => c.label).join(', ')} (re-applied when the service starts)`);
    }
  }

  /** Whether the kept state outlives a window reload (set log level says so). */
  get keepsAcrossReload(): boolean {
    return this.host.store !== undefined;
  }

  private save(): void {
    void Promise.resolve(this.host.store?.update(CONTROL_STATE_KEY, this.state.isEmpty ? undefined : this.state.toJSON())).catch((err: unknown) =>
      this.host.log.warn(`Could not keep the control state for the next window: ${err instanceof Error ? err.message : String(err)}`),
    );
  }

  /**
   * A control-plane operation, through the same pipeline (security, telemetry) at HIGH priority, without an
   * admission slot: a pause or a full limit must not hold the control plane (the service runs control
   * operations on its own thread, apart from the commands' pool). Every way in (palette, API, control
   * endpoint, `aios control`, rules) comes here, so the policy also sees a custom control command by its name,
   * `CUSTOM_COMMAND:<name>`, and a blocked one never reaches the service.
   */
  control(req: ControlCall, options?: ExecuteOptions): Promise<CommandResult> {
    const { middleware, supervisor } = this.host;
    const priority: Priority = 'HIGH';
    return middleware.execute(
      { commandType: `${CONTROL_PREFIX}${req.operation}`, priority, parameters: { ...req.parameters }, source: req.source ?? 'extension' },
      async (_request, ctx) => {
        const client = await serviceConnection(supervisor, ctx);
        const generation = supervisor.currentGeneration;
        let reply: ControlResult;
        try {
          reply = await client.sendRequest(ControlRequest, controlParams(req, req.source ?? 'extension', ctx.commandId));
        } catch (err) {
          // A refused operation may still have changed state (a reload whose config applied but whose handlers
          // did not): the error carries none, so ask for it. Its data (file, line) reaches the caller.
          if (err instanceof clientLib().ResponseError) void supervisor.checkHealth();
          throw await serviceFailure(supervisor, client, generation, `${CONTROL_PREFIX}${req.operation}`, err);
        }
        supervisor.noteHealth(reply.state);
        this.state.record(req, reply);
        this.save();
        // A reload may add or remove replayable control commands.
        if (req.operation === 'RELOAD_CONFIG') void this.refreshReplayable(client);
        return reply;
      },
      {
        ...options,
        bypassAdmission: true,
        policyName: policyNameOf(req),
      },
    );
  }

  /** The supervisor's onReady: before the new process gets any command, what the user set, again. */
  async onServiceReady(client: LanguageClient, start: ServiceStart): Promise<void> {
    if (start.reason === 'fresh') {
      this.state.forget();
      this.host.log.info('Fresh restart: the control state set earlier (log levels, health override, replayable control commands) is forgotten');
    }
    await this.refreshReplayable(client);
    if (this.state.isEmpty) {
      if (start.reason === 'fresh') this.save();
      return;
    }
    const outcome = await this.state.replay(async (call) => {
      // What the policy blocks now (a pattern added since) is not re-applied either; the log line says why.
      const policy = this.host.middleware.checkPolicy(`${CONTROL_PREFIX}${call.operation}`, policyNameOf(call));
      if (!policy.allowed) throw new Error(policy.reason);
      await client.sendRequest(ControlRequest, controlParams(call, call.source ?? REPLAY_SOURCE, `replay-${start.generation}`));
    });
    const line = describeReplay(outcome);
    if (line) this.host.log.info(line);
    this.save(); // an override that ran out is gone
  }

  /** Tells the service's worker pool the middleware's new concurrency limit (one scheduler for both). */
  resizeWorkerPool(maxConcurrency: number): void {
    const { supervisor, log } = this.host;
    if (!supervisor.isReady) return;
    supervisor
      .connection()
      .then((client) => client.sendRequest(SetConcurrencyRequest, { maxConcurrency }))
      .then(
        ({ workers }) => log.debug(`The service's worker pool now runs up to ${workers.max} commands at once`),
        (err: unknown) => log.warn(`Could not resize the service's worker pool to ${maxConcurrency}: ${err instanceof Error ? err.message : String(err)}`),
      );
  }

  /** Which control commands the service marks `replay: true`, read from the process that just started. */
  private async refreshReplayable(client: LanguageClient): Promise<void> {
    try {
      const { controlCommands } = await client.sendRequest(CommandsRequest, {});
      this.replayable = new Set(controlCommands.filter((c) => c.replay).map((c) => c.name));
    } catch (err) {
      this.host.log.debug(`could not list the service's control commands: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** The second name the security policy checks for a control call: `CUSTOM_COMMAND:<name>` for a custom one. */
function policyNameOf(call: ControlCall): string | undefined {
  return call.operation === 'CUSTOM_COMMAND' ? customCommandPolicyName(call.parameters?.command) : undefined;
}

function controlParams(call: ControlCall, source: string, commandId: string): ControlParams {
  return {
    operation: call.operation,
    ...(call.value !== undefined ? { value: call.value } : {}),
    parameters: call.parameters ?? {},
    timestamp: new Date().toISOString(),
    source,
    commandId,
  };
}
