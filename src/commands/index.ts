// The command table. Every command works from the palette (asking what it needs) and from code
// (`executeCommand(id, args)` skips the questions and returns the result), so other extensions and tests
// drive exactly what users drive.
import * as vscode from 'vscode';
import { DETAIL_LEVELS, type DetailLevel } from '../core';
import type { AiosContext } from '../context';
import { Commands, WALKTHROUGH_ID, type CommandId } from '../shared/ids';
import { addWorkspaceHandler } from '../views/gettingStarted';
import { MetricsPanel } from '../views/metricsPanel';
import type { MiddlewareMetricsSource } from '../views/metricsSource';
import type { ParametersEditor } from '../views/parametersEditor';
import type { ResultDocuments } from '../views/resultDocuments';
import type { TelemetrySourceFilter } from '../views/sourceFilter';
import type { TelemetryDocumentProvider } from '../views/telemetryDocument';
import type { TuningDocuments } from '../views/tuningDocument';
import { copyEventJson, flightOf, type TelemetryTreeProvider } from '../views/telemetryTree';
import { runBatchCommand, type BatchHost } from './batch';
import { exportTelemetryCommand, type ExportCommandHost } from '../integrations/exportCommand';
import { cancelRunningCommand, type CancelHost } from './cancel';
import { syncPythonState, withOperation, type ControlArgs, type ControlCommandHost } from './control';
import { filterTelemetryBySource, type FilterHost } from './filterSources';
import { rerunCommand } from './rerun';
import { runCommand, type RunCommandHost } from './runCommand';
import { tuneThrottlingCommand, type TuneHost } from './tune';
import { selectInterpreter, type SelectInterpreterHost } from './selectInterpreter';

/** The part of the extension's services this file uses. */
export type CommandsHost = Pick<AiosContext, 'controlServer' | 'log' | 'middleware' | 'recent' | 'restartService' | 'rules' | 'supervisor'> &
  RunCommandHost &
  ControlCommandHost &
  BatchHost &
  CancelHost &
  ExportCommandHost &
  TuneHost &
  FilterHost &
  SelectInterpreterHost;

export type { RunCommandArgs } from './runCommand';

/** What a command handler may use: the context and the views extension.ts built. */
export interface CommandEnv {
  readonly ctx: CommandsHost;
  readonly extensionUri: vscode.Uri;
  readonly metrics: MiddlewareMetricsSource;
  readonly documents: TelemetryDocumentProvider;
  readonly results: ResultDocuments;
  readonly tuning: TuningDocuments;
  readonly parameters: ParametersEditor;
  readonly tree: TelemetryTreeProvider;
  readonly sourceFilter: TelemetrySourceFilter;
}

type Handler = (env: CommandEnv, ...args: unknown[]) => unknown;

/** Every command the extension contributes, by id: the type makes a missing or unknown id a compile error. */
const COMMAND_TABLE: Record<CommandId, Handler> = {
  [Commands.showOutput]: ({ ctx }) => ctx.log.show(true),
  [Commands.exportTelemetry]: ({ ctx }, args) => exportTelemetryCommand(ctx, args),
  [Commands.tuneThrottling]: ({ ctx, tuning }, args) => tuneThrottlingCommand(ctx, tuning, args),
  [Commands.copyControlToken]: ({ ctx }) => ctx.controlServer.copyToken(),
  [Commands.openDashboard]: ({ ctx }) => ctx.controlServer.openDashboard(),
  [Commands.getStarted]: () => vscode.commands.executeCommand('workbench.action.openWalkthrough', WALKTHROUGH_ID, false),
  [Commands.addWorkspaceHandler]: () => addWorkspaceHandler(),
  [Commands.runCommand]: (env, args) => runCommand(env, args),
  [Commands.runBatch]: ({ ctx }, args) => runBatchCommand(ctx, args),
  [Commands.selectInterpreter]: ({ ctx }, args) => selectInterpreter(ctx, args),
  [Commands.cancelCommand]: ({ ctx }, commandId) => cancelRunningCommand(ctx, commandId),
  [Commands.showMetricsPanel]: ({ ctx, extensionUri, metrics }) => MetricsPanel.createOrShow(extensionUri, metrics, ctx.log),
  [Commands.showTelemetry]: async ({ documents }, level) => {
    const chosen =
      (level as DetailLevel | undefined) ?? (await vscode.window.showQuickPick([...DETAIL_LEVELS], { title: 'AIOS: Show Telemetry: detail level' }));
    return chosen ? documents.show(chosen as DetailLevel) : undefined;
  },
  [Commands.syncPythonState]: (env, args) => syncPythonState(env, args as ControlArgs | undefined),
  [Commands.updateLogLevel]: (env, args) => syncPythonState(env, withOperation('UPDATE_LOG_LEVEL', args)),
  [Commands.flushCache]: (env, args) => syncPythonState(env, withOperation('FLUSH_CACHE', args)),
  [Commands.reloadConfig]: (env, args) => syncPythonState(env, withOperation('RELOAD_CONFIG', args)),
  [Commands.healthOverride]: (env, args) => syncPythonState(env, withOperation('HEALTH_OVERRIDE', args)),
  [Commands.resetCostMetrics]: (env, args) => syncPythonState(env, withOperation('BCM_RESET', args)),
  [Commands.runCustomControlCommand]: (env, args) => syncPythonState(env, withOperation('CUSTOM_COMMAND', args)),
  [Commands.restartPythonService]: async ({ ctx }) => {
    await ctx.restartService('requested by the user');
    return ctx.supervisor.state;
  },
  [Commands.restartPythonServiceFresh]: async ({ ctx }) => {
    await ctx.restartService('a fresh restart requested by the user', { fresh: true });
    return ctx.supervisor.state;
  },
  [Commands.pauseAdmission]: ({ ctx }) => {
    ctx.middleware.pause();
    ctx.log.info('Admission paused: queued commands wait, nothing new starts');
    return true;
  },
  [Commands.resumeAdmission]: ({ ctx }) => {
    ctx.middleware.resume();
    ctx.log.info('Admission resumed');
    return true;
  },
  [Commands.clearTelemetry]: async ({ ctx }, args) => {
    const confirmed =
      (args as { confirm?: boolean } | undefined)?.confirm === true ||
      (await vscode.window.showWarningMessage(
        'Clear AIOS telemetry statistics and recent events?',
        { modal: true, detail: 'Event files already written to disk are kept.' },
        'Clear',
      )) === 'Clear';
    if (!confirmed) return false;
    ctx.middleware.telemetry.clear();
    ctx.rules.metrics.clear();
    ctx.log.info('Telemetry statistics cleared');
    return true;
  },
  [Commands.filterTelemetryBySource]: ({ ctx, sourceFilter }, args) => filterTelemetryBySource(ctx, sourceFilter, args),
  [Commands.treeRefresh]: ({ tree }) => tree.refreshNow(),
  [Commands.treeCopyEventJson]: (_env, node) => copyEventJson(node),
  [Commands.treeRerun]: (env, node) => rerunCommand(env, node),
  [Commands.treeCancel]: ({ ctx }, node) => {
    const flight = flightOf(node);
    return flight ? cancelRunningCommand(ctx, flight.commandId) : false;
  },
};

/** Registers the whole command table; each handler gets `env` first, then the command's arguments. */
export function registerCommands(env: CommandEnv): vscode.Disposable[] {
  return Object.entries(COMMAND_TABLE).map(([id, handler]) => vscode.commands.registerCommand(id, (...args: unknown[]) => handler(env, ...args)));
}
