// aios.controlServer.*: the control endpoint (src/control/server.ts, plain Node) for scripts and
// dashboards outside the editor. Off by default; on loopback only unless aios.controlServer.host says
// otherwise (with a warning); a random bearer token kept in VS Code's SecretStorage. Every route goes through
// the same control plane and pipeline as the palette. It also serves the metrics panel as a browser dashboard
// (src/control/dashboard.ts), opened by "AIOS: Open Dashboard in Browser" with a one-time login link.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { Dashboard, type DashboardAsset, type DashboardSource } from '../control/dashboard';
import { startControlServer, type ControlServer } from '../control/server';
import { CONTROL_PREFIX, sourceString, type CommandResult, type ExecuteOptions, type Middleware } from '../core';
import type { ControlCall } from '../python/controlState';
import { Commands } from '../shared/ids';
import type { PanelCommand } from '../webview/protocol';

/** What the endpoint reaches: the pipeline and the control plane, as the palette does; the token's store. */
export interface ControlServerHost {
  readonly middleware: Middleware;
  readonly log: vscode.LogOutputChannel;
  readonly extension: Pick<vscode.ExtensionContext, 'secrets' | 'extensionUri'>;
  run(request: unknown, options?: ExecuteOptions): Promise<CommandResult>;
  control(call: ControlCall, options?: ExecuteOptions): Promise<CommandResult>;
}

const TOKEN_KEY = 'aios.controlServer.token';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
const WILDCARD = new Set(['0.0.0.0', '::']);
/** The dashboard's control buttons (aios.controlServer.dashboardControls) and the control events they record. */
const DASHBOARD_CONTROLS: ReadonlyMap<PanelCommand, string> = new Map<PanelCommand, string>([
  [Commands.pauseAdmission, 'PAUSE_ADMISSION'],
  [Commands.resumeAdmission, 'RESUME_ADMISSION'],
  [Commands.restartPythonService, 'RESTART_SERVICE'],
]);
export const DASHBOARD_SOURCE = sourceString('endpoint', 'dashboard');

interface ServerSettings {
  enabled: boolean;
  port: number;
  host: string;
}

function read(): ServerSettings {
  const c = vscode.workspace.getConfiguration('aios.controlServer');
  return { enabled: c.get<boolean>('enabled', false), port: c.get<number>('port', 0), host: (c.get<string>('host', '') || '127.0.0.1').trim() };
}

export class ControlServerIntegration implements vscode.Disposable {
  private server: ControlServer | undefined;
  private dashboard: Dashboard | undefined;
  private metrics: DashboardSource | undefined;
  private applied = '';
  private chain: Promise<void> = Promise.resolve();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly emitter = new vscode.EventEmitter<void>();
  /** Fires when the server starts or stops (the status-bar tooltip shows its address). */
  readonly onDidChange = this.emitter.event;

  constructor(private readonly ctx: ControlServerHost) {
    this.disposables.push(
      this.emitter,
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('aios.controlServer.dashboardControls')) this.dashboard?.refreshControls();
        if (e.affectsConfiguration('aios.controlServer')) this.apply();
      }),
    );
    this.disposables.push(ctx.middleware.addRealtimeSection('controlServer', () => (this.server ? { url: this.server.url } : null)));
    this.apply();
  }

  /** Where it listens, or undefined when it is off. */
  get url(): string | undefined {
    return this.server?.url;
  }

  /** Starts, restarts or stops the server to match the settings; changes run one after another. */
  private apply(): void {
    this.chain = this.chain
      .then(() => this.reconcile())
      .catch((err: unknown) => this.ctx.log.error(`Control endpoint: ${err instanceof Error ? err.message : String(err)}`));
  }

  private async reconcile(): Promise<void> {
    const s = read();
    const key = s.enabled ? JSON.stringify(s) : '';
    if (key === this.applied) return;
    await this.stop();
    this.applied = key;
    if (!s.enabled) return;
    if (!LOOPBACK.has(s.host)) {
      const choice = await vscode.window.showWarningMessage(
        `AIOS: aios.controlServer.host is ${s.host}: the control endpoint would accept commands from other machines on that network (with the token). Start it there?`,
        { modal: true },
        'Start on That Address',
      );
      if (choice !== 'Start on That Address') {
        this.ctx.log.warn(`The control endpoint was not started on ${s.host}; set aios.controlServer.host back to 127.0.0.1 for loopback only`);
        this.applied = '';
        return;
      }
    }
    const token = await this.token();
    const dashboard = this.makeDashboard();
    const server = await startControlServer({
      dashboard,
      token,
      port: s.port,
      ...(LOOPBACK.has(s.host) ? {} : { host: s.host }),
      handlers: {
        // The requests' source is `endpoint`, or `endpoint:<what the client calls itself>` (src/control/requests.ts).
        control: (call, { signal }) => this.ctx.control({ ...call, source: call.source }, { signal }),
        execute: (request, hooks) =>
          this.ctx.run({ ...request, source: request.source ?? 'endpoint' }, { signal: hooks.signal, onCommandId: (id) => hooks.onCommandId(id) }),
        telemetry: (level) => this.ctx.middleware.telemetry.query(level),
      },
      log: (level, message) => this.ctx.log[level](message),
    });
    this.server = server;
    this.dashboard = dashboard;
    this.ctx.log.info(`Control endpoint listening on ${server.url} (the token: "AIOS: Copy Control Endpoint Token")`);
    this.emitter.fire();
  }

  private async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    // SSE streams would hold the server open until its grace period ends.
    this.dashboard?.close();
    this.dashboard = undefined;
    await server.close();
    this.ctx.log.info('Control endpoint stopped');
    this.emitter.fire();
  }

  /** The metrics the dashboard shows (the panel's own source); set once at activation. */
  attachDashboard(source: DashboardSource): void {
    this.metrics = source;
  }

  /** The dashboard being served (undefined while the endpoint is off): tests count its streams. */
  get dashboardServer(): Dashboard | undefined {
    return this.dashboard;
  }

  private makeDashboard(): Dashboard {
    const metrics = (): DashboardSource => {
      if (!this.metrics) throw new Error('the metrics are not ready yet');
      return this.metrics;
    };
    return new Dashboard({
      source: {
        snapshot: () => metrics().snapshot(),
        history: () => metrics().history?.(),
        onDidChange: (listener) => metrics().onDidChange(listener),
      },
      asset: (name) => this.readAsset(name),
      controls: () => (vscode.workspace.getConfiguration('aios.controlServer').get<boolean>('dashboardControls', false) ? [...DASHBOARD_CONTROLS.keys()] : []),
      runCommand: (command) => this.runDashboardControl(command),
      log: (level, message) => this.ctx.log[level](message),
    });
  }

  private async readAsset(name: DashboardAsset): Promise<Uint8Array> {
    const base = this.ctx.extension.extensionUri;
    const file = name === 'main.js' || name === 'main.css' ? vscode.Uri.joinPath(base, 'dist', 'webview', name) : vscode.Uri.joinPath(base, 'media', name);
    return vscode.workspace.fs.readFile(file);
  }

  /** A dashboard button, through the pipeline as a control event (CONTROL:PAUSE_ADMISSION…) with source 'dashboard'. */
  private async runDashboardControl(command: PanelCommand): Promise<void> {
    const operation = DASHBOARD_CONTROLS.get(command);
    if (operation === undefined) throw new Error(`${command} is not a dashboard control`);
    const result = await this.ctx.middleware.execute(
      { commandType: `${CONTROL_PREFIX}${operation}`, priority: 'HIGH', parameters: {}, source: DASHBOARD_SOURCE },
      async () => {
        await vscode.commands.executeCommand(command);
        return { command };
      },
      // Resume must not wait behind the pause it lifts.
      { bypassAdmission: true },
    );
    if (!result.success) throw new Error(result.error?.message ?? 'failed');
    this.ctx.log.info(`Dashboard in the browser: ${command} (recorded as ${CONTROL_PREFIX}${operation}, caller ${DASHBOARD_SOURCE})`);
  }

  /** A one-time login link to the dashboard on this machine's loopback address (the code works once, for 2 minutes). */
  dashboardLoginUri(): vscode.Uri | undefined {
    const server = this.server;
    const dashboard = this.dashboard;
    if (!server || !dashboard) return undefined;
    const base = WILDCARD.has(server.host) ? `http://127.0.0.1:${server.port}` : server.url;
    return vscode.Uri.parse(`${base}/login?code=${dashboard.issueLoginCode()}`, true);
  }

  /** "AIOS: Open Dashboard in Browser": through asExternalUri, so a remote window or code-server forwards the port. */
  async openDashboard(): Promise<boolean> {
    await this.chain; // a settings change may be starting the server right now
    const local = this.dashboardLoginUri();
    if (!local) {
      const choice = await vscode.window.showInformationMessage(
        'AIOS: the dashboard is served by the control endpoint, which is off (aios.controlServer.enabled).',
        'Open Setting',
      );
      if (choice === 'Open Setting') await vscode.commands.executeCommand('workbench.action.openSettings', 'aios.controlServer.enabled');
      return false;
    }
    const external = await vscode.env.asExternalUri(local);
    if (external.authority !== local.authority) this.dashboard?.allowForwarded(external.toString(true));
    const opened = await vscode.env.openExternal(external);
    // Never the code: the log is shared in bug reports.
    this.ctx.log.info(`Dashboard in the browser: opened ${external.with({ query: '' }).toString(true)} with a one-time login link`);
    // For a browser on another machine (ssh -L): a fresh link of its own, on the clipboard only when asked.
    void vscode.window.showInformationMessage('AIOS: the dashboard opened in your browser.', 'Copy a Login Link').then(async (choice) => {
      const link = choice && this.dashboardLoginUri();
      if (link) await vscode.env.clipboard.writeText(link.toString(true));
    });
    return opened;
  }

  /** The bearer token, made once (32 random bytes) and kept in SecretStorage. */
  async token(): Promise<string> {
    const secrets = this.ctx.extension.secrets;
    const existing = await secrets.get(TOKEN_KEY);
    if (existing) return existing;
    const token = randomBytes(32).toString('base64url');
    await secrets.store(TOKEN_KEY, token);
    return token;
  }

  /** "AIOS: Copy Control Endpoint Token". */
  async copyToken(): Promise<void> {
    await vscode.env.clipboard.writeText(await this.token());
    const where = this.server ? ` for ${this.server.url}` : ' (the endpoint is off: set aios.controlServer.enabled to start it)';
    void vscode.window.showInformationMessage(`AIOS: control endpoint token copied${where}. Send it as "Authorization: Bearer <token>".`);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
    void this.stop();
  }
}
