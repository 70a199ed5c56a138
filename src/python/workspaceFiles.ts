// Which workspace files the service may load. Pure (no `vscode`), so the trust rule is unit-tested.
import { join } from 'node:path';
import type { InitializationOptions } from './protocol';

/** Where a workspace keeps its handlers and service config. */
export const WORKSPACE_DIR = '.aios';

/**
 * The service's initialization options for a workspace: its `.aios/handlers.py` (code that runs) and
 * `.aios/config.json` only when the workspace is trusted and the files exist.
 */
export function serviceInitializationOptions(folder: string | undefined, trusted: boolean, exists: (path: string) => boolean): InitializationOptions {
  const file = (name: string) => {
    if (!folder || !trusted) return null;
    const path = join(folder, WORKSPACE_DIR, name);
    return exists(path) ? path : null;
  };
  return { configFile: file('config.json'), handlersModule: file('handlers.py'), workspaceFolder: folder ?? null };
}
