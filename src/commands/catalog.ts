// Every command type the middleware can run, for pickers (Run Command, tasks): the shell command types of the
// settings and .aios/commands.json, then the Python service's own (built-ins and the workspace's handlers).
import type { CommandRouter } from '../core';
import type { CommandsResult } from '../python/protocol';

/** A command type as pickers show it: where it comes from, what it does, what it takes. */
export interface CatalogEntry {
  name: string;
  description: string;
  /** 'builtin' or 'workspace' (the Python service), or another executor's name. */
  source: string;
  /** Parameter name -> a one-line hint. */
  parameters: Record<string, string>;
  /** Sample parameters that fit. */
  example: Record<string, unknown>;
}

export interface CatalogHost {
  readonly router: CommandRouter;
  serviceCommands(): Promise<CommandsResult>;
}

/** The shell command types as catalog entries: their placeholders are their parameters. */
export function shellCatalog(router: CommandRouter): CatalogEntry[] {
  return router.localRoutes().map((r) => ({
    name: r.commandType,
    description: r.description ?? `runs ${router.shellCommand(r.commandType)?.spec.file ?? 'a program'}`,
    source: r.origin === 'workspace' ? 'shell · .aios/commands.json' : 'shell · settings',
    parameters: Object.fromEntries(r.placeholders.map((p) => [p, `fills \${${p}} (one argument)`])),
    example: Object.fromEntries(r.placeholders.map((p) => [p, ''])),
  }));
}

/** Shell types first; a service type of the same name is hidden by the shell one (the router runs that). */
export async function commandCatalog(host: CatalogHost): Promise<CatalogEntry[]> {
  const shell = shellCatalog(host.router);
  const { commandTypes } = await host.serviceCommands();
  const names = new Set(shell.map((c) => c.name));
  return [
    ...shell,
    ...commandTypes
      .filter((c) => !names.has(c.name))
      .map((c) => ({ name: c.name, description: c.description, source: c.source, parameters: c.parameters, example: c.example })),
  ];
}
