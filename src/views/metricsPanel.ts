// The host side of the metrics panel: one webview panel (a singleton), fed with batched snapshots from a
// MetricsSource. Updates are coalesced to at most one post per POST_INTERVAL_MS and sent only while the
// panel is visible; the webview keeps its own chart history (setState) and asks for a fresh snapshot with
// `ready` whenever it is (re)created, which is every time it becomes visible (no retainContextWhenHidden).
import * as vscode from 'vscode';
import { Coalescer } from '../webview/coalesce';
import { PANEL_COMMANDS, parseWebviewMessage, type HostMessage, type InitMessage, type MetricsSnapshot, type PanelCommand } from '../webview/protocol';
import { METRICS_PANEL_VIEW_TYPE } from '../shared/ids';

export type { MetricsSnapshot } from '../webview/protocol';

export interface MetricsSource {
  snapshot(): MetricsSnapshot;
  onDidChange(listener: () => void): { dispose(): void };
  /** The chart history the source kept itself (sent with `init`, so charts start from what already happened). */
  history?(): InitMessage['history'];
}

/** ≤ 4 updates/s whatever the command rate: enough for a live feel, cheap for the webview. */
const POST_INTERVAL_MS = 250;
/** While nothing changes, still post this often so the charts' time axis moves and rates fall to 0. */
const IDLE_POST_MS = 1000;

export class MetricsPanel {
  static readonly viewType = METRICS_PANEL_VIEW_TYPE;
  static readonly title = 'AIOS Metrics';
  private static current: MetricsPanel | undefined;

  /** Messages posted to the webview so far; tests read it to check batching and silence while hidden. */
  postCount = 0;

  private readonly disposables: vscode.Disposable[] = [];
  private readonly coalescer: Coalescer;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  /** The current webview document has said `ready` (reset when it is torn down on hide). */
  private ready = false;
  private disposed = false;

  /** Opens the panel, or reveals it when it is already open. */
  static createOrShow(extensionUri: vscode.Uri, source: MetricsSource, log?: vscode.LogOutputChannel): MetricsPanel {
    const column = vscode.window.activeTextEditor?.viewColumn;
    if (MetricsPanel.current) {
      MetricsPanel.current.panel.reveal(column);
      return MetricsPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(
      MetricsPanel.viewType,
      MetricsPanel.title,
      column ?? vscode.ViewColumn.One,
      MetricsPanel.webviewOptions(extensionUri),
    );
    return new MetricsPanel(panel, extensionUri, source, log);
  }

  /** Adopts a panel VS Code restored after a reload (see registerSerializer). */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, source: MetricsSource, log?: vscode.LogOutputChannel): MetricsPanel {
    MetricsPanel.current?.dispose();
    return new MetricsPanel(panel, extensionUri, source, log);
  }

  /** Lets VS Code restore an open panel after a window reload; register it during activation. */
  static registerSerializer(extensionUri: vscode.Uri, source: MetricsSource, log?: vscode.LogOutputChannel): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(MetricsPanel.viewType, {
      // The webview restores its own history from getState(); the host needs nothing from `state`.
      deserializeWebviewPanel(panel: vscode.WebviewPanel): Promise<void> {
        MetricsPanel.revive(panel, extensionUri, source, log);
        return Promise.resolve();
      },
    });
  }

  static webviewOptions(extensionUri: vscode.Uri): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      enableFindWidget: true,
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
    };
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly source: MetricsSource,
    private readonly log?: vscode.LogOutputChannel,
  ) {
    MetricsPanel.current = this;
    // A revived panel comes with the options it was saved with; set ours so a changed root list applies.
    panel.webview.options = MetricsPanel.webviewOptions(extensionUri);
    panel.iconPath = {
      light: vscode.Uri.joinPath(extensionUri, 'media', 'metrics-light.svg'),
      dark: vscode.Uri.joinPath(extensionUri, 'media', 'metrics-dark.svg'),
    };
    this.coalescer = new Coalescer(() => this.postSnapshot(), POST_INTERVAL_MS);

    panel.onDidDispose(() => this.dispose(), undefined, this.disposables);
    panel.webview.onDidReceiveMessage((m: unknown) => this.onMessage(m), undefined, this.disposables);
    panel.onDidChangeViewState(() => this.onVisibility(), undefined, this.disposables);
    this.disposables.push(source.onDidChange(() => this.onSourceChange()));

    panel.webview.html = this.html();
    this.onVisibility();
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (MetricsPanel.current === this) MetricsPanel.current = undefined;
    this.coalescer.dispose();
    this.stopHeartbeat();
    this.panel.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }

  private onSourceChange(): void {
    // Hidden: do nothing at all; becoming visible recreates the webview, whose `ready` gets a fresh snapshot.
    if (this.ready && this.panel.visible) this.coalescer.request();
  }

  private onVisibility(): void {
    if (this.panel.visible) {
      if (!this.heartbeat) {
        this.heartbeat = setInterval(() => {
          if (this.ready && this.coalescer.sinceLastFlush() >= IDLE_POST_MS) this.coalescer.request();
        }, IDLE_POST_MS);
      }
    } else {
      // Without retainContextWhenHidden the webview document is destroyed now; wait for the next `ready`.
      this.ready = false;
      this.coalescer.cancel();
      this.stopHeartbeat();
    }
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private async onMessage(raw: unknown): Promise<void> {
    const parsed = parseWebviewMessage(raw);
    if (!parsed.ok) {
      this.warn(`metrics panel: ignored a malformed message from the webview (${parsed.error})`);
      return;
    }
    const msg = parsed.value;
    if (msg.type === 'ready') {
      this.ready = true;
      const history = this.source.history?.();
      await this.post({ type: 'init', commands: await this.availableCommands(), ...(history ? { history } : {}) });
      this.coalescer.flushNow();
      return;
    }
    try {
      await vscode.commands.executeCommand(msg.command);
    } catch (err) {
      this.warn(`metrics panel: ${msg.command} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** The panel's buttons for commands that exist right now (the extension registers them as features load). */
  private async availableCommands(): Promise<PanelCommand[]> {
    const all = new Set(await vscode.commands.getCommands(true));
    return PANEL_COMMANDS.filter((c) => all.has(c));
  }

  private postSnapshot(): void {
    if (this.disposed || !this.ready || !this.panel.visible) return;
    let snapshot: MetricsSnapshot;
    try {
      snapshot = this.source.snapshot();
    } catch (err) {
      this.warn(`metrics panel: the metrics source failed: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    void this.post({ type: 'snapshot', snapshot });
  }

  private async post(message: HostMessage): Promise<void> {
    if (this.disposed) return;
    this.postCount++;
    try {
      await this.panel.webview.postMessage(message);
    } catch {
      /* the panel went away between the check and the post */
    }
  }

  private warn(message: string): void {
    if (this.log) this.log.warn(message);
    else console.warn(message);
  }

  private html(): string {
    const webview = this.panel.webview;
    const asset = (...path: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, ...path)).toString();
    const nonce = makeNonce();
    // No 'unsafe-inline' anywhere: uPlot styles elements through the CSSOM (element.style.x = …), which
    // style-src does not govern; the main script registers a securitypolicyviolation listener first thing.
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
      `font-src ${webview.cspSource}`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${asset('dist', 'webview', 'main.css')}">
<link rel="stylesheet" href="${asset('media', 'metrics.css')}">
<title>${MetricsPanel.title}</title>
<script nonce="${nonce}" src="${asset('dist', 'webview', 'main.js')}"></script>
</head>
<body>
<noscript>The AIOS metrics panel needs scripts enabled.</noscript>
</body>
</html>`;
  }
}

function makeNonce(): string {
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '');
}
