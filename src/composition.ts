// Composition root: builds the context and the views, registers the command table, starts the service.
// No logic lives here; everything registered is a Disposable owned by the extension context. A chunk of its
// own (dist/chunks/composition.js): the entry (src/extension.ts) shows the status-bar item first and requires
// this after that first paint.
import * as vscode from 'vscode';
import type { AiosApi } from './api';
import { registerCommands } from './commands';
import { AiosContext } from './context';
import { PublicApi } from './publicApi';
import { registerSources } from './sources';
import { INTERNALS_COMMAND, Views } from './shared/ids';
import { AiosFiles } from './views/aiosFiles';
import { GettingStarted } from './views/gettingStarted';
import { MetricsPanel } from './views/metricsPanel';
import { MiddlewareMetricsSource } from './views/metricsSource';
import { PARAMETERS_SCHEME, ParametersEditor } from './views/parametersEditor';
import { RESULT_SCHEME, ResultDocuments } from './views/resultDocuments';
import { TelemetrySourceFilter } from './views/sourceFilter';
import { ThrottleIndicator } from './views/statusBar';
import { TELEMETRY_SCHEME, TelemetryDocumentProvider } from './views/telemetryDocument';
import { TelemetryTreeProvider } from './views/telemetryTree';
import { TUNING_SCHEME, TuningDocuments } from './views/tuningDocument';

export interface Composition {
  api: AiosApi;
  /** Disposed by deactivate(): the service gets its shutdown. */
  ctx: AiosContext;
}

/** Everything activation does after the first paint; `item` is the status-bar item the entry already shows. */
export function compose(extension: vscode.ExtensionContext, item: vscode.StatusBarItem): Composition {
  const ctx = new AiosContext(extension);
  const indicator = new ThrottleIndicator(ctx, item);
  // One source filter for the tree, the panel (and the dashboard) and the Show Telemetry report.
  const sourceFilter = new TelemetrySourceFilter(extension.workspaceState);
  const metrics = new MiddlewareMetricsSource(ctx, sourceFilter);
  ctx.controlServer.attachDashboard(metrics);
  const documents = new TelemetryDocumentProvider(ctx, sourceFilter);
  const results = new ResultDocuments();
  const tuning = new TuningDocuments();
  const parameters = new ParametersEditor();
  const aiosFiles = new AiosFiles(ctx);
  const gettingStarted = new GettingStarted(ctx);
  const tree = new TelemetryTreeProvider(ctx, sourceFilter);
  const treeView = vscode.window.createTreeView(Views.telemetry, { treeDataProvider: tree, showCollapseAll: true });
  tree.attach(treeView);

  extension.subscriptions.push(
    sourceFilter,
    indicator,
    metrics,
    documents,
    results,
    tuning,
    parameters,
    aiosFiles,
    gettingStarted,
    tree,
    treeView,
    vscode.workspace.registerTextDocumentContentProvider(TELEMETRY_SCHEME, documents),
    vscode.workspace.registerTextDocumentContentProvider(RESULT_SCHEME, results),
    vscode.workspace.registerTextDocumentContentProvider(TUNING_SCHEME, tuning),
    vscode.workspace.registerFileSystemProvider(PARAMETERS_SCHEME, parameters),
    MetricsPanel.registerSerializer(extension.extensionUri, metrics, ctx.log),
    ...registerCommands({ ctx, extensionUri: extension.extensionUri, metrics, documents, results, tuning, parameters, tree, sourceFilter }),
    registerSources(ctx),
  );
  // The in-host tests reach the composed services through this command; it exists only while VS Code runs
  // the extension's own tests, so nothing internal is reachable by other extensions.
  if (extension.extensionMode === vscode.ExtensionMode.Test) {
    extension.subscriptions.push(vscode.commands.registerCommand(INTERNALS_COMMAND, () => ctx));
  }
  ctx.start();
  gettingStarted.showOnFirstRun();
  const { version } = extension.extension.packageJSON as { version: string };
  ctx.log.info(`AIOS Middleware ${version} activated`);

  const api = new PublicApi(ctx, version);
  extension.subscriptions.push(api);
  return { api: api.build(), ctx };
}
