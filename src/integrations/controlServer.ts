// aios.controlServer.*: the seed's control endpoint (src/control/server.ts, plain Node) for scripts and
// dashboards outside the editor. Off by default; on loopback only unless aios.controlServer.host says
// otherwise (with a warning); a random bearer token kept in VS Code's SecretStorage. Every route goes through
// the same control plane and pipeline as the palette.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { startControlServer, type ControlServer } from '../control/server';
import type { CommandResult, ExecuteOptions, Middleware } from '../core';
import type { ControlCall } from '../python/controlState';

/** What the endpoint reaches: the pipeline and the control plane, as the palette does; the token's store. */
export interface ControlServerHost {
  readonly middleware: Middleware;
  readonly log: vscode.LogOutputChannel;
  readonly extension: Pick<vscode.ExtensionContext, 'secrets'>;
  run(request: unknown, options?: ExecuteOptions): Promise<CommandResult>;
  control(call: ControlCall, options?: ExecuteOptions): Promise<CommandResult>;
}

const TOKEN_KEY = 'aios.controlServer.token';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

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
    const server = await startControlServer({
      token,
      port: s.port,
      ...(LOOPBACK.has(s.host) ? {} : { host: s.host }),
      handlers: {
        control: (call, { signal }) => this.ctx.control({ ...call, source: call.source }, { signal }),
        execute: (request, hooks) =>
          this.ctx.run({ ...request, source: request.source ?? 'http' }, { signal: hooks.signal, onCommandId: (id) => hooks.onCommandId(id) }),
        telemetry: (level) => this.ctx.middleware.telemetry.query(level),
      },
      log: (level, message) => this.ctx.log[level](message),
    });
    this.server = server;
    this.ctx.log.info(`Control endpoint listening on ${server.url} (the token: "AIOS: Copy Control Endpoint Token")`);
    this.emitter.fire();
  }

  private async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await server.close();
    this.ctx.log.info('Control endpoint stopped');
    this.emitter.fire();
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
