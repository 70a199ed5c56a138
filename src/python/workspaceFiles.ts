// Which workspace files the service may load. Pure (no `vscode`), so the trust rule is unit-tested.
import { join } from 'node:path';
import type { InitializationOptions } from './protocol';

/** Where a workspace keeps its handlers and service config. */
export const WORKSPACE_DIR = '.aios';

/**
 * The service's initialization options for a workspace: its `.aios/handlers.py` (code that runs) and
 * `.aios/config.json` only when the workspace is trusted. The paths are passed even when the files do not
 * exist yet (the service treats a missing file as none), so a file created later loads on RELOAD_CONFIG,
 * which saving it triggers, without a restart.
 */
export function serviceInitializationOptions(folder: string | undefined, trusted: boolean): InitializationOptions {
  const file = (name: string) => (folder && trusted ? join(folder, WORKSPACE_DIR, name) : null);
  return { configFile: file('config.json'), handlersModule: file('handlers.py'), workspaceFolder: folder ?? null };
}
