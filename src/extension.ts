// Composition root: builds the context, registers the command table and the views, starts the service.
// No logic lives here; everything registered is a Disposable owned by the extension context.
import * as vscode from 'vscode';
import { COMMANDS, DETAIL_LEVELS } from './commands';
import { AiosContext } from './context';
import type { CommandResult, DetailLevel, TelemetryApi } from './core';
import { MetricsPanel } from './views/metricsPanel';
import { MiddlewareMetricsSource } from './views/metricsSource';
import { ThrottleIndicator } from './views/statusBar';
import { TELEMETRY_SCHEME, TelemetryDocumentProvider } from './views/telemetryDocument';
import { TelemetryTreeProvider } from './views/telemetryTree';

/** What other extensions (and the in-host tests) get from `activate`. */
export interface AiosApi {
  readonly version: string;
  /** Runs a command through the middleware to the Python service. */
  run(
    request: { commandType: string; priority?: 'HIGH' | 'NORMAL' | 'LOW'; parameters?: Record<string, unknown> },
    options?: { signal?: AbortSignal },
  ): Promise<CommandResult>;
  readonly telemetry: TelemetryApi['query'];
  /** For tests and diagnostics: the composed services. */
  readonly context: AiosContext;
}

let current: AiosContext | undefined;

export function activate(extension: vscode.ExtensionContext): AiosApi {
  const ctx = new AiosContext(extension);
  current = ctx;
  const indicator = new ThrottleIndicator(ctx);
  const metrics = new MiddlewareMetricsSource(ctx);
  const documents = new TelemetryDocumentProvider(ctx);
  const tree = new TelemetryTreeProvider(ctx);
  const treeView = vscode.window.createTreeView('aios.telemetry', { treeDataProvider: tree, showCollapseAll: true });
  tree.attach(treeView);

  extension.subscriptions.push(
    indicator,
    metrics,
    documents,
    tree,
    treeView,
    vscode.workspace.registerTextDocumentContentProvider(TELEMETRY_SCHEME, documents),
    MetricsPanel.registerSerializer(extension.extensionUri, metrics, ctx.log),
    ...Object.entries(COMMANDS).map(([id, handler]) => vscode.commands.registerCommand(id, (...args: unknown[]) => handler(ctx, ...args))),
    vscode.commands.registerCommand('aios.showMetricsPanel', () => MetricsPanel.createOrShow(extension.extensionUri, metrics, ctx.log)),
    vscode.commands.registerCommand('aios.showTelemetry', async (level?: DetailLevel) => {
      const chosen =
        level ?? ((await vscode.window.showQuickPick([...DETAIL_LEVELS], { title: 'AIOS: Show Telemetry: detail level' })) as DetailLevel | undefined);
      return chosen ? documents.show(chosen) : undefined;
    }),
    ...tree.registerCommands(),
  );
  ctx.start();
  const { version } = extension.extension.packageJSON as { version: string };
  ctx.log.info(`AIOS Middleware ${version} activated`);

  return {
    version,
    run: (request, options) => ctx.run({ source: 'api', ...request }, options),
    telemetry: ((level: DetailLevel) => ctx.middleware.telemetry.query(level)) as TelemetryApi['query'],
    context: ctx,
  };
}

/** VS Code awaits this: the service gets its shutdown (2 s at most, then its process tree is killed). */
export async function deactivate(): Promise<void> {
  const ctx = current;
  current = undefined;
  await ctx?.dispose();
}
