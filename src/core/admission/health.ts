// What the service's health does to admission. A service marked unhealthy (HEALTH_OVERRIDE, or its own
// report) still runs HIGH commands, so an operator can check and fix it, but refuses NORMAL and LOW with
// `service_unhealthy` instead of piling work onto it. The service has two states only (healthy, unhealthy):
// there is no degraded state to halve the limit for.
import { CommandFailure, type Priority } from '../types';

/** Priorities an unhealthy service still runs. */
export const UNHEALTHY_RUNS: readonly Priority[] = ['HIGH'];

/** The refusal for a command of `priority` while the service's status is `status`, or undefined to let it run. */
export function healthRefusal(status: string | undefined, priority: Priority | undefined, detail?: string): CommandFailure | undefined {
  if (status !== 'unhealthy' || UNHEALTHY_RUNS.includes(priority ?? 'NORMAL')) return undefined;
  return new CommandFailure(
    'service_unhealthy',
    `The Python service is unhealthy${detail ? ` (${detail})` : ''}: only HIGH priority commands run until it is healthy again; this ${priority ?? 'NORMAL'} one was not sent. Clear the override with "Override Python Service Health…" → clear, or run it at HIGH.`,
    { status, priority: priority ?? 'NORMAL' },
  );
}
