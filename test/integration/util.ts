// Helpers shared by the in-host suites.
import * as vscode from 'vscode';
import type { AiosApi } from '../../src/extension';

export const EXTENSION_ID = 'aios.aios-middleware';

export async function aios(): Promise<AiosApi> {
  const ext = vscode.extensions.getExtension<AiosApi>(EXTENSION_ID);
  if (!ext) throw new Error(`${EXTENSION_ID} is not installed in this host`);
  return ext.activate();
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
