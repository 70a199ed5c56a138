// aios.export.* in the extension: OTLP, Prometheus and the PowerShell-compatible JSON endpoint (src/export, plain Node) fed by
// the middleware's telemetry, reconfigured live, their health in the tree and the REALTIME report. Nothing is
// sent anywhere until the user sets an endpoint or a port (user settings only: the settings are
// machine-scoped, so a workspace cannot point them at its own server).
import * as vscode from 'vscode';
import type { Middleware, PredictionAccuracy } from '../core';
import { bundledOtel, createExporters, readExportSettings, type ExportHealthReport, type Exporters } from '../export';
import type { ServiceStatus } from '../python/supervisor';

export interface ExportHost {
  readonly middleware: Middleware;
  readonly log: vscode.LogOutputChannel;
  readonly version: string;
  serviceStatus(): ServiceStatus;
  /** How the learning's predictions fared (LearningModel.accuracy()), read at each metrics collection. */
  predictionAccuracy(): PredictionAccuracy;
  reportSettingProblems(problems: readonly string[]): void;
}

const read = () => readExportSettings((k) => vscode.workspace.getConfiguration('aios.export').get(k));

export class ExportIntegration implements vscode.Disposable {
  private readonly exporters: Exporters;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(host: ExportHost) {
    this.exporters = createExporters(read(), {
      telemetry: host.middleware.telemetry,
      sessionId: host.middleware.sessionId,
      serviceVersion: host.version,
      state: () => ({ admission: host.middleware.admission, serviceStatus: host.serviceStatus(), predictionAccuracy: host.predictionAccuracy() }),
      // dist/chunks/export.js: the OpenTelemetry SDK, required only once an OTLP endpoint or a port is set.
      // This code runs from dist/chunks/composition.js, beside the OpenTelemetry chunk (dist/chunks/export.js).
      loadOtel: bundledOtel(__dirname),
      log: (level, message) => host.log[level](message),
    });
    host.reportSettingProblems(this.exporters.configErrors);
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('aios.export')) host.reportSettingProblems(this.exporters.update(read()));
      }),
      host.middleware.addRealtimeSection('export', () => this.health()),
    );
  }

  /** Each configured exporter's last success, failures, drops and queue; {} when none is configured. */
  health(): ExportHealthReport {
    return this.exporters.health();
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
    this.exporters.dispose();
  }
}
