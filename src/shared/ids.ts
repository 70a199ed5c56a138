// The ids of everything the extension contributes (commands, views, the status-bar item, the webview), defined
// once for the host code, the webview bundle and the tests. package.json names the same ids (it is JSON and
// cannot import them): test/unit/manifest.test.ts checks that both lists agree. No imports: the webview uses it.

export const Commands = {
  runCommand: 'aios.runCommand',
  cancelCommand: 'aios.cancelCommand',
  showMetricsPanel: 'aios.showMetricsPanel',
  showTelemetry: 'aios.showTelemetry',
  filterTelemetryBySource: 'aios.filterTelemetryBySource',
  exportTelemetry: 'aios.exportTelemetry',
  tuneThrottling: 'aios.tuneThrottling',
  syncPythonState: 'aios.syncPythonState',
  updateLogLevel: 'aios.updateLogLevel',
  flushCache: 'aios.flushCache',
  reloadConfig: 'aios.reloadConfig',
  healthOverride: 'aios.healthOverride',
  resetCostMetrics: 'aios.resetCostMetrics',
  runCustomControlCommand: 'aios.runCustomControlCommand',
  restartPythonService: 'aios.restartPythonService',
  restartPythonServiceFresh: 'aios.restartPythonServiceFresh',
  pauseAdmission: 'aios.pauseAdmission',
  resumeAdmission: 'aios.resumeAdmission',
  clearTelemetry: 'aios.clearTelemetry',
  copyControlToken: 'aios.copyControlToken',
  openDashboard: 'aios.openDashboard',
  showOutput: 'aios.showOutput',
  getStarted: 'aios.getStarted',
  addWorkspaceHandler: 'aios.addWorkspaceHandler',
  runBatch: 'aios.runBatch',
  selectInterpreter: 'aios.selectInterpreter',
  treeRefresh: 'aios.telemetry.refresh',
  treeRerun: 'aios.telemetry.rerun',
  treeCopyEventJson: 'aios.telemetry.copyEventJson',
  treeCancel: 'aios.telemetry.cancel',
} as const;

export type CommandName = keyof typeof Commands;
export type CommandId = (typeof Commands)[CommandName];

/** `command:` links for Markdown (tooltips, notifications), with optional arguments. */
export function commandLink(id: CommandId, args?: unknown): string {
  return args === undefined ? `command:${id}` : `command:${id}?${encodeURIComponent(JSON.stringify(args))}`;
}

export const Views = {
  /** The activity-bar container. */
  container: 'aios',
  telemetry: 'aios.telemetry',
} as const;

/** Registered only in ExtensionMode.Test: hands the in-host tests the composed services. Not contributed. */
export const INTERNALS_COMMAND = '_aios.internals';

export const STATUS_BAR_ITEM = 'aios.status';
/** Context key: some command is running or waiting (the palette offers Cancel Running Command only then). */
export const COMMANDS_IN_FLIGHT_CONTEXT = 'aios.commandsInFlight';
export const METRICS_PANEL_VIEW_TYPE = 'aios.metrics';
/** The extension's own id (`publisher.name` in package.json). */
export const EXTENSION_ID = 'aios.aios-middleware';

/** The getting-started walkthrough (package.json's contributes.walkthroughs). */
export const WALKTHROUGH_ID = `${EXTENSION_ID}#aios.gettingStarted`;

/**
 * The walkthrough's steps each context key completes (their `onContext:<key>` completion events in
 * package.json; test/unit/manifest.test.ts holds the two together).
 */
export const WALKTHROUGH_STEPS_BY_CONTEXT: Readonly<Record<string, readonly string[]>> = {
  'aios.serviceRunning': ['noPython', 'service'],
  'aios.commandRan': ['run'],
  'aios.workspaceHandlers': ['handler'],
};
