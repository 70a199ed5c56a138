// The pipeline's executor for the Python service: a command becomes aios/execute. Cancellation is
// forwarded ($/cancelRequest, through the token), and a service that dies or hangs mid-command ends that
// command in ERROR with a message saying what happened, never in a silent hang.
import type { LanguageClient } from 'vscode-languageclient/node';
import { CommandFailure, healthRefusal, untilCancelled, type Executor, type ExecutorContext } from '../core';
import { ExecuteRequest, serviceErrorName } from './protocol';
import { clientLib } from './lazyClient';
import { ServiceUnavailableError, type PythonSupervisor } from './supervisor';

export interface PythonExecutorOptions {
  /** Longest a command may run in the service; 0 = no limit. Read per command, so a change applies at once. */
  timeoutMs(): number;
}

/** A wait for the service shorter than this (a normal start) is not worth a notification. */
export const WAIT_NOTICE_MS = 400;

/**
 * The running client for one command. A wait for a (re)start is reported through `ctx.waiting` once it lasts
 * (so the user sees why nothing happens, with Cancel), and a cancel meanwhile means the command is never sent.
 */
export async function serviceConnection(supervisor: PythonSupervisor, ctx: ExecutorContext): Promise<LanguageClient> {
  // The usual case, a running service: nothing to wait for, no timer, no signal.
  if (supervisor.isReady && !ctx.cancelled) return supervisor.connection();
  let endWait: (() => void) | undefined;
  const notice = setTimeout(() => {
    endWait = ctx.waiting(`waiting for the Python service (${supervisor.state.detail ?? supervisor.state.status})`);
  }, WAIT_NOTICE_MS);
  try {
    return await untilCancelled(supervisor.connection(), ctx);
  } catch (err) {
    if (ctx.cancelled) throw err;
    throw new CommandFailure('service_unavailable', err instanceof ServiceUnavailableError ? err.message : String(err));
  } finally {
    clearTimeout(notice);
    // A cancelled command has ended: no 'running' after that.
    if (!ctx.cancelled) endWait?.();
  }
}

/**
 * The request failed because the connection to the service went away (the process died or was stopped): the
 * language client rejects what was pending with these, which say nothing a person can act on.
 */
function isConnectionLost(err: unknown): boolean {
  const { ConnectionError, ErrorCodes, ResponseError } = clientLib();
  if (err instanceof ConnectionError) return true;
  return err instanceof ResponseError && (err.code === ErrorCodes.PendingResponseRejected || err.code === ErrorCodes.ConnectionInactive);
}

/**
 * What a failed request to the service becomes: 'service_crashed' with how the process ended when the
 * connection was lost (or a new process has started since `generation`), the service's own error by name, or
 * the error as it was. For every request that goes to the service (execute, control).
 */
export async function serviceFailure(supervisor: PythonSupervisor, client: LanguageClient, generation: number, what: string, err: unknown): Promise<unknown> {
  if (isConnectionLost(err) || generation !== supervisor.currentGeneration || !client.isRunning()) {
    const how = await supervisor.describeExit();
    const next = supervisor.state.status === 'crashed' ? 'it is not restarted again (too many failures)' : 'it is being restarted';
    return new CommandFailure('service_crashed', `The Python service stopped while running ${what} (${how}); ${next}. Run the command again.`);
  }
  if (err instanceof clientLib().ResponseError) return new CommandFailure(serviceErrorName(err.code), err.message, err.data);
  return err;
}

export function pythonExecutor(supervisor: PythonSupervisor, opts: PythonExecutorOptions): Executor {
  return async (request, ctx) => {
    // An unhealthy service runs HIGH commands only (README, "Health and admission").
    const refused = healthRefusal(supervisor.state.status, request.priority, supervisor.state.detail);
    if (refused) throw refused;
    const client = await serviceConnection(supervisor, ctx);
    const generation = supervisor.currentGeneration;
    const cts = new (clientLib().CancellationTokenSource)();
    // onCancel, not ctx.signal: an AbortSignal per command would cost more than the rest of the pipeline.
    const off = ctx.onCancel(() => cts.cancel());
    const limit = opts.timeoutMs();
    let timedOut = false;
    const timer = limit > 0 ? setTimeout(() => {
      timedOut = true;
      cts.cancel();
    }, limit) : undefined;
    try {
      const reply = await client.sendRequest(
        ExecuteRequest,
        { commandId: ctx.commandId, commandType: request.commandType, priority: request.priority, parameters: request.parameters },
        cts.token,
      );
      return reply.result;
    } catch (err) {
      if (ctx.cancelled) throw err; // the pipeline records CANCEL
      if (timedOut) {
        throw new CommandFailure('timeout', `The Python service did not finish ${request.commandType} within ${limit} ms; it was cancelled (setting aios.python.executeTimeoutMs).`);
      }
      throw await serviceFailure(supervisor, client, generation, request.commandType, err);
    } finally {
      clearTimeout(timer);
      off();
      cts.dispose();
    }
  };
}
