// Helpers shared by the in-host suites.
import * as assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { AiosApi as PublicApi } from '../../src/api';
import type { AiosContext } from '../../src/context';
import { EXTENSION_ID, INTERNALS_COMMAND } from '../../src/shared/ids';

export { EXTENSION_ID };

/** The public API plus, for white-box checks, the composed services (through a test-mode-only command). */
export type AiosApi = PublicApi & { context: AiosContext };

export async function aios(): Promise<AiosApi> {
  const ext = vscode.extensions.getExtension<PublicApi>(EXTENSION_ID);
  if (!ext) throw new Error(`${EXTENSION_ID} is not installed in this host`);
  const api = await ext.activate();
  const context = await vscode.commands.executeCommand<AiosContext | undefined>(INTERNALS_COMMAND);
  if (!context) throw new Error(`${INTERNALS_COMMAND} returned nothing: is the extension running in test mode?`);
  return { ...api, context };
}

/** The API once the Python service is healthy (the suites that run commands start from there). */
export async function healthyAios(timeoutMs = 30_000): Promise<AiosApi> {
  const api = await aios();
  await waitUntil(() => api.context.supervisor.state.status === 'healthy', timeoutMs, 'the service');
  return api;
}

/** Polls `probe` until it returns something other than undefined/false; fails naming `what`. */
export async function waitUntil<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Runs `body` with some aios.* user settings changed, then puts the previous values back. */
export async function withSettings(values: Record<string, unknown>, body: () => Promise<void>): Promise<void> {
  const cfg = vscode.workspace.getConfiguration('aios');
  const previous = Object.fromEntries(Object.keys(values).map((k) => [k, cfg.inspect(k)?.globalValue]));
  for (const [k, v] of Object.entries(values)) await cfg.update(k, v, vscode.ConfigurationTarget.Global);
  try {
    await body();
  } finally {
    for (const [k, v] of Object.entries(previous)) await cfg.update(k, v, vscode.ConfigurationTarget.Global);
  }
}

/** The AIOS log file, as the Output view shows it (the LogOutputChannel's file under the extension's logUri). */
export function aiosLogFile(api: AiosApi): string {
  const dir = api.context.extension.logUri.fsPath;
  const name = readdirSync(dir).find((f) => f.endsWith('AIOS.log'));
  assert.ok(name, `no AIOS.log in ${dir}`);
  return join(dir, name);
}

/** Reads what the AIOS log gets from now on. */
export function logFromNow(api: AiosApi): () => string {
  const file = aiosLogFile(api);
  const start = statSync(file).size;
  return () => readFileSync(file).subarray(start).toString('utf8');
}

/** Writes a marker to the AIOS log and waits until the file holds it: everything logged before it is in the file then. */
export async function logCaughtUp(api: AiosApi, log: () => string): Promise<void> {
  const marker = `test marker ${Date.now()}-${Math.random().toString(36).slice(2)}`;
  api.context.log.info(marker);
  await waitUntil(() => (log().includes(marker) ? true : undefined), 10_000, 'the log to catch up');
}

/** The running service's pid once it is healthy. */
export async function healthyService(api: AiosApi): Promise<number> {
  const state = await waitUntil(
    () => {
      const s = api.context.supervisor.state;
      return s.status === 'healthy' && s.pid ? s : undefined;
    },
    30_000,
    'the Python service to be healthy',
  );
  return state.pid!;
}

/** The pid of a healthy service process other than `oldPid` (after a crash, a hang or a restart). */
export function replacedService(api: AiosApi, oldPid: number, what = 'a new service process'): Promise<number> {
  return waitUntil(
    () => {
      const s = api.context.supervisor.state;
      return s.status === 'healthy' && s.pid && s.pid !== oldPid ? s.pid : undefined;
    },
    30_000,
    what,
  );
}
