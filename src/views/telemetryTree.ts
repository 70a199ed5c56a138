// The telemetry tree in the AIOS activity-bar container. It refreshes on change, debounced and only while
// visible, so a burst of commands costs one refresh; while commands are in flight it also ticks once a second
// (their elapsed time). Empty (and so showing its welcome view) until the first command.
import * as vscode from 'vscode';
import type { RecentRequests } from '../commands/recentRequests';
import { describeFlight } from '../commands/cancel';
import { CONTROL_PREFIX, RULE_PREFIX, type EventType, type InFlightCommand, type Priority, type TelemetryEvent, type TypeStatsReport } from '../core';
import type { AiosContext } from '../context';
import { describeSharedHolders, describeSharedLimit } from './indicatorModel';
import { round3 } from '../core/numbers';
import type { RuleState } from '../core/rules';
import type { ExporterHealthReport } from '../export';
import { formatClock, formatDuration } from '../webview/format';

/** The part of the extension's services this file uses. */
export type TreeHost = Pick<AiosContext, 'controlServer' | 'exports' | 'middleware' | 'rules' | 'supervisor'>;

const REFRESH_DEBOUNCE_MS = 500;
const FLIGHT_TICK_MS = 1000;
const EVENTS_PER_TYPE = 10;
const RECENT_EVENTS = 50;

const EVENT_ICONS: Record<EventType, [string, string]> = {
  START: ['play', 'charts.blue'],
  COMPLETE: ['pass', 'testing.iconPassed'],
  ERROR: ['error', 'testing.iconFailed'],
  THROTTLE: ['watch', 'charts.yellow'],
  CANCEL: ['circle-slash', 'disabledForeground'],
};

type SectionId = 'running' | 'overview' | 'types' | 'control' | 'events' | 'service' | 'system' | 'rules' | 'export';

type Node =
  | { kind: 'section'; id: SectionId; label: string; icon: string }
  | { kind: 'metric'; id: string; label: string; value: string; icon?: string; tooltip?: string }
  | { kind: 'type'; commandType: string; stats: TypeStatsReport }
  | { kind: 'event'; event: TelemetryEvent; parent: string }
  | { kind: 'flight'; flight: InFlightCommand }
  | { kind: 'rule'; rule: RuleState };

/** Durations as events record them (to the µs below 10 ms), so a row and its event's JSON say the same. */
const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : n < 10 ? `${round3(n)} ms` : `${n.toFixed(1)} ms`);
const pct = (n: number) => `${(n * 100).toFixed(1)}%`;

export class TelemetryTreeProvider implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly disposables: vscode.Disposable[] = [];
  private view: vscode.TreeView<Node> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly ticker: NodeJS.Timeout;
  private shownFlights = 0;
  private runningShown = false;
  private stale = false;

  constructor(private readonly ctx: TreeHost) {
    const changed = () => this.schedule();
    this.disposables.push(
      this.emitter,
      ctx.middleware.telemetry.onEvent(changed),
      ctx.supervisor.onDidChangeState(changed),
      ctx.rules.onDidChange(changed),
      ctx.controlServer.onDidChange(changed),
    );
    // Queued commands emit nothing until they start, and elapsed times move on their own.
    this.ticker = setInterval(() => {
      // Rules' values (CPU, queue…) and exporters' health move every tick too.
      // So do the windows sharing a limit.
      if (
        this.shownFlights > 0 ||
        this.ctx.middleware.inFlight().length > 0 ||
        this.ctx.rules.states().length > 0 ||
        this.exporting() ||
        this.ctx.middleware.admission.mode === 'shared'
      )
        this.schedule();
    }, FLIGHT_TICK_MS);
  }

  attach(view: vscode.TreeView<Node>): void {
    this.view = view;
    this.disposables.push(
      view.onDidChangeVisibility((e) => {
        if (e.visible && this.stale) this.refreshNow();
      }),
    );
  }

  /** Debounced, and deferred while the view is hidden. */
  schedule(): void {
    this.stale = true;
    if (this.timer || (this.view && !this.view.visible)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.view || this.view.visible) this.refreshNow();
    }, REFRESH_DEBOUNCE_MS);
  }

  refreshNow(): void {
    this.stale = false;
    this.emitter.fire(undefined);
  }

  /** Needed by reveal(); only sections are revealed, and they sit at the root. */
  getParent(): Node | undefined {
    return undefined;
  }

  getChildren(node?: Node): Node[] {
    const telemetry = this.ctx.middleware.telemetry;
    if (!node) {
      const report = telemetry.query('SUMMARY');
      const flights = this.ctx.middleware.inFlight();
      this.shownFlights = flights.length;
      const o = report.overall;
      if (o.totalCommands === 0 && o.controlOperations.count === 0 && telemetry.recentEvents().length === 0 && flights.length === 0) return []; // welcome view
      const sections: Node[] = [];
      if (flights.length) {
        const running: Node = { kind: 'section', id: 'running', label: `Running (${flights.length})`, icon: 'sync~spin' };
        sections.push(running);
        // A section added by a refresh comes in collapsed whatever its item says, hiding exactly what the user
        // wants to see: open it once each time it appears.
        if (!this.runningShown)
          setTimeout(() => void this.view?.reveal(running, { expand: true, select: false, focus: false }).then(undefined, () => undefined), 0);
      }
      this.runningShown = flights.length > 0;
      sections.push(
        { kind: 'section', id: 'overview', label: 'Overview', icon: 'dashboard' },
        { kind: 'section', id: 'types', label: 'Command Types', icon: 'symbol-event' },
      );
      if (o.controlOperations.count > 0) sections.push({ kind: 'section', id: 'control', label: 'Control Operations', icon: 'settings-gear' });
      sections.push(
        { kind: 'section', id: 'events', label: 'Recent Events', icon: 'history' },
        { kind: 'section', id: 'service', label: 'Service', icon: 'server-process' },
        { kind: 'section', id: 'system', label: 'System', icon: 'pulse' },
      );
      if (this.ctx.rules.states().length) sections.push({ kind: 'section', id: 'rules', label: 'Rules', icon: 'law' });
      if (this.exportRows().length) sections.push({ kind: 'section', id: 'export', label: 'Export', icon: 'cloud-upload' });
      return sections;
    }
    if (node.kind === 'type') {
      return telemetry
        .recentEvents()
        .filter((e) => e.commandType === node.commandType)
        .slice(-EVENTS_PER_TYPE)
        .reverse()
        .map((event) => ({ kind: 'event', event, parent: node.commandType }));
    }
    if (node.kind !== 'section') return [];
    switch (node.id) {
      case 'running':
        return this.ctx.middleware.inFlight().map((flight) => ({ kind: 'flight', flight }));
      case 'overview': {
        const o = telemetry.query('SUMMARY').overall;
        const c = o.controlOperations;
        return [
          metric('total', 'Commands', String(o.totalCommands), 'symbol-number'),
          metric('success', 'Success rate', pct(o.successRate), 'check'),
          metric('average', 'Average duration', ms(o.averageDurationMs), 'clock'),
          metric('latency', 'Latency p50 / p95 / p99', `${ms(o.p50)} / ${ms(o.p95)} / ${ms(o.p99)}`, 'graph-line'),
          metric('failed', 'Failed', String(o.failedCommands), 'error'),
          metric('throttled', 'Throttled', String(o.throttledCommands), 'watch'),
          metric('cancelled', 'Cancelled', String(o.cancelledCommands), 'circle-slash'),
          metric('blocked', 'Blocked by policy', String(o.blockedCommands), 'shield'),
          metric(
            'control',
            'Control operations',
            `${c.count}${c.errorCount ? ` · ${c.errorCount} failed` : ''}`,
            'settings-gear',
            'Counted apart from commands: they do not change the figures above',
          ),
        ];
      }
      case 'types':
      case 'control':
        return Object.entries(telemetry.byType())
          .filter(([type]) => !type.startsWith(RULE_PREFIX) && type.startsWith(CONTROL_PREFIX) === (node.id === 'control'))
          .sort(([, a], [, b]) => b.count - a.count)
          .map(([commandType, stats]) => ({ kind: 'type', commandType, stats }));
      case 'events':
        return telemetry
          .recentEvents()
          .slice(-RECENT_EVENTS)
          .reverse()
          .map((event) => ({ kind: 'event', event, parent: 'recent' }));
      case 'service': {
        const s = this.ctx.supervisor.state;
        const h = s.health;
        const items = [metric('status', 'Health', s.status + (h?.overridden ? ' (overridden)' : ''), s.status === 'healthy' ? 'pass' : 'warning', s.detail)];
        if (s.pid) items.push(metric('pid', 'PID', String(s.pid), 'symbol-number'));
        if (s.downSince !== undefined) items.push(metric('uptime', 'Down since', formatClock(s.downSince), 'clock', s.detail));
        if (h) {
          items.push(
            metric('log', 'Log level', h.logLevel, 'output'),
            metric('uptime', 'Uptime', formatDuration(h.uptimeS), 'clock'),
            metric(
              'cache',
              'Model cache',
              `${h.cache.model_cache.entries} entries · ${h.cache.model_cache.hits} hits · ${h.cache.model_cache.misses} misses`,
              'database',
            ),
            metric(
              'results',
              'Result cache',
              `${h.cache.result_cache.entries} entries · ${h.cache.result_cache.hits} hits · ${h.cache.result_cache.misses} misses`,
              'database',
            ),
          );
          for (const [type, c] of Object.entries(h.bcm)) {
            items.push(
              metric(
                `bcm-${type}`,
                `Cost ${type}`,
                `${c.calls} calls · ${c.cpuSeconds.toFixed(3)} s CPU · ${c.wallSeconds.toFixed(3)} s wall · ${c.bytes} B`,
                'credit-card',
              ),
            );
          }
        }
        return items;
      }
      case 'system': {
        const s = this.ctx.middleware.sampler.latest();
        const a = this.ctx.middleware.admission;
        return [
          metric('cpu', 'CPU', s.sampledAt ? `${s.cpuPercent.toFixed(0)}%` : 'sampling…', 'pulse'),
          metric('memory', 'Memory', s.sampledAt ? `${s.memoryPercent.toFixed(0)}%` : 'sampling…', 'server'),
          metric('python', 'Other Python processes', s.pythonProcesses >= 0 ? String(s.pythonProcesses) : 'not counted', 'symbol-misc'),
          // Shared: this window's own limit is only the slots it holds; the limit row says the rest.
          a.shared
            ? metric('admission', 'Running here', `${a.active}${a.paused ? ' (paused)' : ''}`, 'dashboard')
            : metric('admission', 'Running / limit', `${a.active} / ${a.limit}${a.paused ? ' (paused)' : ''}`, 'dashboard'),
          a.shared
            ? metric(
                'limit',
                'Concurrency limit',
                describeSharedLimit(a.shared, formatClock),
                a.shared.status === 'fallback' ? 'warning' : 'organization',
                describeSharedLimit(a.shared, formatClock),
              )
            : metric('limit', 'Concurrency limit', `${a.limit} (${a.mode})`, a.mode === 'adaptive' ? 'graph-line' : 'lock', a.limitReason || undefined),
          // The windows sharing the limit (read at most once per renewal period while this is shown).
          ...(a.shared?.status === 'shared'
            ? describeSharedHolders(a.shared).map((h, i) => metric(`holder-${i}`, h.label, h.value, h.self ? 'window' : 'remote'))
            : []),
          metric('queue', 'Queued HIGH / NORMAL / LOW', `${a.queued.HIGH} / ${a.queued.NORMAL} / ${a.queued.LOW}`, 'list-ordered'),
        ];
      }
      case 'rules':
        return this.ctx.rules.states().map((rule) => ({ kind: 'rule', rule }));
      case 'export':
        return this.exportRows();
    }
  }

  private exporting(): boolean {
    return Object.keys(this.ctx.exports.health()).length > 0;
  }

  /** The control endpoint and each configured exporter's health; none when nothing is configured. */
  private exportRows(): Node[] {
    const rows: Node[] = [];
    const url = this.ctx.controlServer.url;
    if (url)
      rows.push(
        metric(
          'controlServer',
          'Control endpoint',
          url,
          'plug',
          'The seed\'s control endpoint (aios.controlServer): the token is copied by "AIOS: Copy Control Endpoint Token"',
        ),
      );
    const health = this.ctx.exports.health();
    const names: Record<string, string> = { otlpMetrics: 'OTLP metrics', otlpLogs: 'OTLP logs', prometheus: 'Prometheus', http: 'Telemetry endpoint' };
    for (const [key, h] of Object.entries(health) as [string, ExporterHealthReport | undefined][]) {
      if (!h) continue;
      const last = h.lastSuccess ? `ok ${formatClock(Date.parse(h.lastSuccess))}` : 'nothing sent yet';
      const value = `${last} · ${h.failures} failures · ${h.dropped} dropped${h.queued ? ` · ${h.queued} queued` : ''}`;
      const tip = `${names[key] ?? key} → ${h.target}\n${value}${h.lastError ? `\nlast error (${h.lastErrorAt ?? ''}): ${h.lastError}` : ''}`;
      rows.push(metric(`export-${key}`, names[key] ?? key, value, h.consecutiveFailures ? 'warning' : 'pass', tip));
    }
    return rows;
  }

  getTreeItem(node: Node): vscode.TreeItem {
    switch (node.kind) {
      case 'section': {
        const item = new vscode.TreeItem(
          node.label,
          node.id === 'overview' || node.id === 'types' ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed,
        );
        item.id = `section:${node.id}`;
        item.iconPath = new vscode.ThemeIcon(node.icon);
        return item;
      }
      case 'metric': {
        const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.None);
        item.id = `metric:${node.id}`;
        item.description = node.value;
        item.tooltip = node.tooltip ?? `${node.label}: ${node.value}`;
        // A screen reader hears the row as it reads, not the longer tooltip.
        item.accessibilityInformation = { label: `${node.label}: ${node.value}` };
        if (node.icon) item.iconPath = new vscode.ThemeIcon(node.icon);
        return item;
      }
      case 'type': {
        const s = node.stats;
        const item = new vscode.TreeItem(node.commandType, vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `type:${node.commandType}`;
        item.description = `${s.count} · avg ${ms(s.averageDurationMs)} · p95 ${ms(s.p95)}${s.errorCount ? ` · ${s.errorCount} errors` : ''}`;
        const md = new vscode.MarkdownString(`**${node.commandType}**\n\n| | |\n|---|---|\n`);
        md.appendMarkdown(`| Runs | ${s.count} (${s.successCount} ok, ${s.errorCount} errors, ${s.cancelledCount} cancelled, ${s.blockedCount} blocked) |\n`);
        md.appendMarkdown(`| Duration | avg ${ms(s.averageDurationMs)} · p50 ${ms(s.p50)} · p95 ${ms(s.p95)} · p99 ${ms(s.p99)} |\n`);
        md.appendMarkdown(`| Throttled | ${s.throttledCount} |\n| Last run | ${s.lastExecuted ?? 'never'} |`);
        item.tooltip = md;
        item.iconPath = new vscode.ThemeIcon(s.errorCount > 0 ? 'warning' : 'symbol-event');
        item.contextValue = 'aiosCommandType';
        return item;
      }
      case 'rule': {
        const r = node.rule;
        const item = new vscode.TreeItem(r.name, vscode.TreeItemCollapsibleState.None);
        item.id = `rule:${r.index}:${r.name}`;
        item.description = describeRule(r);
        const md = new vscode.MarkdownString(`**${r.name}** (${r.status})\n\n`);
        if (r.problem) md.appendText(r.problem);
        else {
          md.appendMarkdown(`| | |\n|---|---|\n| When | ${r.condition} |\n| Then | ${r.then ?? '—'} |\n| Restore | ${r.restore ?? '—'} |\n`);
          md.appendMarkdown(`| Fired | ${r.firedCount} time${r.firedCount === 1 ? '' : 's'}${r.lastFiredAt ? `, last ${r.lastFiredAt}` : ''} |\n`);
          if (r.lastRestoredAt) md.appendMarkdown(`| Restored | ${r.lastRestoredAt} |\n`);
          if (r.lastError) md.appendMarkdown(`| Last error | ${r.lastError.replace(/\|/g, '\\|')} (${r.lastErrorAt ?? ''}) |\n`);
        }
        item.tooltip = md;
        item.iconPath =
          r.status === 'invalid'
            ? new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'))
            : r.actionRunning
              ? new vscode.ThemeIcon('sync~spin')
              : r.status === 'firing'
                ? new vscode.ThemeIcon('flame', new vscode.ThemeColor('charts.yellow'))
                : new vscode.ThemeIcon(r.lastError ? 'warning' : r.status === 'disabled' ? 'circle-slash' : 'law');
        return item;
      }
      case 'flight': {
        const f = node.flight;
        const item = new vscode.TreeItem(f.commandType, vscode.TreeItemCollapsibleState.None);
        item.id = `flight:${f.commandId}`;
        item.description = describeFlight(f);
        item.tooltip = `${f.commandType} (${f.commandId}): ${describeFlight(f)}. Cancel it with the button on the right.`;
        item.iconPath = new vscode.ThemeIcon(f.stage === 'running' ? 'sync~spin' : 'watch');
        item.contextValue = 'aiosFlight';
        return item;
      }
      case 'event': {
        const e = node.event;
        const time = e.timestamp.slice(11, 23);
        const item = new vscode.TreeItem(`${e.eventType} ${e.commandType}`, vscode.TreeItemCollapsibleState.None);
        item.id = `event:${node.parent}:${e.commandId}:${e.eventType}:${e.timestamp}`;
        const why = e.metadata?.reason ?? e.metadata?.code;
        const reason = typeof why === 'string' ? ` · ${why}` : '';
        item.description = `${time}${e.durationMs !== undefined ? ` · ${ms(e.durationMs)}` : ''}${reason}`;
        const [icon, color] = EVENT_ICONS[e.eventType];
        item.iconPath = new vscode.ThemeIcon(icon, new vscode.ThemeColor(color));
        item.tooltip = new vscode.MarkdownString().appendCodeblock(JSON.stringify(e, null, 2), 'json');
        item.contextValue = 'aiosEvent';
        return item;
      }
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
    clearInterval(this.ticker);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

function metric(id: string, label: string, value: string, icon?: string, tooltip?: string): Node {
  return { kind: 'metric', id, label, value, icon, tooltip };
}

/** "Copy Event JSON" on an event row. */
export async function copyEventJson(node: unknown): Promise<void> {
  if (!isNode(node) || node.kind !== 'event') return;
  await vscode.env.clipboard.writeText(JSON.stringify(node.event, null, 2));
  void vscode.window.setStatusBarMessage('AIOS: event JSON copied', 2000);
}

/**
 * What "Run Again" on a row reruns: the command with the parameters it ran with (an event), or the newest
 * parameters of its type (a command type), from the in-memory RecentRequests. `parameters` is undefined when
 * they are not known (the command never reached its executor, or it was forgotten): the caller then asks.
 */
export function rerunTarget(
  node: unknown,
  recent: RecentRequests,
): { commandType: string; priority: Priority; parameters?: Readonly<Record<string, unknown>> } | undefined {
  if (!isNode(node)) return undefined;
  if (node.kind === 'event') {
    const known = recent.get(node.event.commandId);
    return { commandType: node.event.commandType, priority: node.event.priority, parameters: known?.parameters };
  }
  if (node.kind === 'type') {
    const last = recent.lastOfType(node.commandType);
    return { commandType: node.commandType, priority: last?.priority ?? 'NORMAL', parameters: last?.parameters };
  }
  return undefined;
}

/** A rule's state in a few words: armed · 45.2%, holding 4/10 s, firing since …, cooling down 42 s. */
function describeRule(r: RuleState): string {
  const secs = (ms: number | null) => Math.floor((ms ?? 0) / 1000);
  switch (r.status) {
    case 'armed':
      return `armed · ${r.lastValueText}`;
    case 'holding':
      return `holding ${secs(r.forMs)}/${r.forSeconds ?? 0} s · ${r.lastValueText}`;
    case 'firing':
      return `firing since ${r.lastFiredAt ? formatClock(Date.parse(r.lastFiredAt)) : '?'} · ${r.lastValueText}`;
    case 'clearing':
      return `clearing ${secs(r.forMs)}/${r.forSeconds ?? 0} s · ${r.lastValueText}`;
    case 'cooling':
      return `cooling down ${secs(r.cooldownRemainingMs)} s`;
    case 'disabled':
      return 'disabled';
    case 'invalid':
      return 'invalid';
  }
}

/** The command in flight a row stands for (the tree's inline Cancel). */
export function flightOf(node: unknown): InFlightCommand | undefined {
  return isNode(node) && node.kind === 'flight' ? node.flight : undefined;
}

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && typeof (v as { kind?: unknown }).kind === 'string';
}
