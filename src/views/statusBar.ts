// The status-bar throttle indicator: load (active/limit), queue depth, CPU and service health at a glance.
// Renders are coalesced to at most one per RENDER_INTERVAL_MS, so a burst of commands costs the UI nothing.
import * as vscode from 'vscode';
import { queueDrainText } from './predictionText';
import type { AdmissionState, SystemSample } from '../core';
import { formatClock } from '../webview/format';
import { describeSharedLimit, indicatorModel, type IndicatorModel } from './indicatorModel';
import type { AiosContext } from '../context';
import type { ServiceState } from '../python/supervisor';
import { COMMANDS_IN_FLIGHT_CONTEXT, Commands, commandLink } from '../shared/ids';

/** The part of the extension's services this file uses. */
export type IndicatorHost = Pick<AiosContext, 'controlServer' | 'learning' | 'middleware' | 'supervisor'>;

const RENDER_INTERVAL_MS = 250;
/** CPU and memory change without events; re-read them this often. */
const IDLE_REFRESH_MS = 2000;
/** A command that joins the queue emits no event until it starts: while any are in flight, look this often. */
const FLIGHT_REFRESH_MS = 500;

export class ThrottleIndicator implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly disposables: vscode.Disposable[] = [];
  private renderTimer: NodeJS.Timeout | undefined;
  private flightTimer: NodeJS.Timeout | undefined;
  private readonly idleTimer: NodeJS.Timeout;
  private inFlight: boolean | undefined;
  /** The last state rendered, for tests and the tree. */
  lastModel: IndicatorModel | undefined;
  private lastTooltip: string | undefined;
  /** Renders so far (each at most one message to the window, none when nothing changed), for tests. */
  renders = 0;

  /** `item` is the one the first paint showed (showStatusBarItem): from here on this renders into it and owns it. */
  constructor(
    private readonly ctx: IndicatorHost,
    item: vscode.StatusBarItem,
  ) {
    this.item = item;
    const schedule = () => this.schedule();
    const telemetry = ctx.middleware.telemetry;
    this.disposables.push(
      this.item,
      // At most every 250 ms while events flow: nothing here runs per event.
      telemetry.onStatsChanged(schedule),
      ctx.supervisor.onDidChangeState(schedule),
      ctx.middleware.onLimitChange(schedule),
      ctx.controlServer.onDidChange(schedule),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('aios') && schedule()),
    );
    this.idleTimer = setInterval(schedule, IDLE_REFRESH_MS);
    this.render();
  }

  /** Re-render soon: many calls within one interval cost one render. */
  schedule(): void {
    this.renderTimer ??= setTimeout(() => {
      this.renderTimer = undefined;
      this.render();
    }, RENDER_INTERVAL_MS);
  }

  private render(): void {
    const { middleware, supervisor } = this.ctx;
    const admission = middleware.admission;
    const system = middleware.sampler.latest();
    const service = supervisor.state;
    const model = indicatorModel(admission, service, system);
    // Each assignment is a message to the window: only what differs from the last render is sent.
    if (model.text !== this.lastModel?.text || model.state !== this.lastModel.state) {
      this.item.text = model.text;
      this.item.accessibilityInformation = { label: `AIOS ${model.state}: ${model.text.replace(/\$\([^)]*\)\s*/g, '')}`, role: 'button' };
    }
    if (model.background !== this.lastModel?.background) this.item.backgroundColor = model.background ? new vscode.ThemeColor(model.background) : undefined;
    this.lastModel = model;
    const queued = admission.queued.HIGH + admission.queued.NORMAL + admission.queued.LOW;
    const drain = queued > 0 ? queueDrainText(this.ctx.learning) : undefined;
    const tip = tooltip(admission, service, system, middleware.telemetry.query('SUMMARY').overall, this.ctx.controlServer.url, drain);
    if (tip.value !== this.lastTooltip) {
      this.lastTooltip = tip.value;
      this.item.tooltip = tip;
    }
    this.renders++;
    // The palette sorts by name: an idle "Cancel Running Command…" would come before "Run Command…" for
    // someone typing "AIOS: Run Command". It shows while there is something to cancel (admission's counts:
    // listing the flights would cost one object per queued command).
    const inFlight = admission.active + admission.queued.HIGH + admission.queued.NORMAL + admission.queued.LOW > 0;
    if (inFlight !== this.inFlight) {
      this.inFlight = inFlight;
      void vscode.commands.executeCommand('setContext', COMMANDS_IN_FLIGHT_CONTEXT, inFlight);
    }
    if (inFlight)
      this.flightTimer ??= setTimeout(() => {
        this.flightTimer = undefined;
        this.schedule();
      }, FLIGHT_REFRESH_MS);
  }

  dispose(): void {
    clearTimeout(this.renderTimer);
    clearTimeout(this.flightTimer);
    clearInterval(this.idleTimer);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

function tooltip(
  admission: AdmissionState,
  service: ServiceState,
  system: SystemSample,
  overall: { totalCommands: number; successRate: number; averageDurationMs: number; throttledCommands: number },
  controlEndpoint: string | undefined,
  /** "queue drains in ~30 s" when the learned durations of what waits are known. */
  drain?: string,
): vscode.MarkdownString {
  const pct = (n: number) => `${Math.round(n)}%`;
  const md = new vscode.MarkdownString(undefined, true);
  md.isTrusted = {
    enabledCommands: [Commands.showMetricsPanel, Commands.pauseAdmission, Commands.resumeAdmission, Commands.restartPythonService, Commands.showOutput],
  };
  md.supportThemeIcons = true;
  md.appendMarkdown(`**AIOS Middleware**${admission.paused ? ' — admission paused' : ''}\n\n`);
  md.appendMarkdown('| | |\n|---|---|\n');
  md.appendMarkdown(`| Running | ${admission.active} of ${admission.limit} |\n`);
  if (admission.shared) {
    md.appendMarkdown(`| Limit | ${escapeCell(describeSharedLimit(admission.shared, formatClock))} |\n`);
  } else {
    const limitWhy = admission.limitReason ? `: ${escapeCell(admission.limitReason)}` : '';
    md.appendMarkdown(`| Limit | ${admission.limit}, ${admission.mode}${limitWhy} |\n`);
  }
  md.appendMarkdown(
    `| Queued | HIGH ${admission.queued.HIGH} · NORMAL ${admission.queued.NORMAL} · LOW ${admission.queued.LOW}${admission.delayed ? ` (${admission.delayed} of them in backoff)` : ''}${drain ? ` · ${drain}` : ''} |\n`,
  );
  md.appendMarkdown(
    `| System | ${system.sampledAt ? `CPU ${pct(system.cpuPercent)} · memory ${pct(system.memoryPercent)}` : 'sampling…'}${system.pythonProcesses >= 0 ? ` · ${system.pythonProcesses} other Python processes` : ''} |\n`,
  );
  const down = service.downSince !== undefined ? ` · down since ${formatClock(service.downSince)}` : '';
  const why = service.status === 'healthy' || !service.detail ? '' : ` · ${escapeCell(service.detail)}`;
  md.appendMarkdown(`| Service | ${service.status}${service.pid ? ` (pid ${service.pid})` : ''}${down}${why} |\n`);
  md.appendMarkdown(
    `| Commands | ${overall.totalCommands} · ${pct(overall.successRate * 100)} ok · avg ${overall.averageDurationMs.toFixed(1)} ms · ${overall.throttledCommands} throttled |\n`,
  );
  if (controlEndpoint) md.appendMarkdown(`| Control endpoint | ${controlEndpoint} |\n`);
  md.appendMarkdown('\n');
  md.appendMarkdown(`[$(graph) Metrics](${commandLink(Commands.showMetricsPanel)}) · `);
  md.appendMarkdown(
    admission.paused
      ? `[$(debug-start) Resume](${commandLink(Commands.resumeAdmission)}) · `
      : `[$(debug-pause) Pause](${commandLink(Commands.pauseAdmission)}) · `,
  );
  md.appendMarkdown(`[$(refresh) Restart service](${commandLink(Commands.restartPythonService)}) · [$(output) Output](${commandLink(Commands.showOutput)})`);
  return md;
}

/** Text for a Markdown table cell: no pipes or line breaks to break the row. */
function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
