// The telemetry tree in the AIOS activity-bar container. It must not fight the user while commands flow:
// - only what changed is refreshed (`onDidChangeTreeData` with the section or command type whose rows or
//   description differ from what was last shown), and nothing at all when nothing changed; a type whose
//   figures moved is refreshed alone, not Command Types (a refreshed element re-renders every row under it,
//   and a click on an inline action that straddles the re-render is lost);
// - every row has a stable `id` (an event row's is its place in its list, see eventRowId), and rows keep their
//   place: the sections are always in the same order (In Flight is there from the first command on,
//   collapsed; it lists the commands in flight for a second or more, see LISTED_AFTER_MS), Command Types in
//   the order the types were first seen, Recent Events and a type's events oldest first with new ones joining
//   at the bottom (the window is cut back only every few dozen events, see stableTail);
// - while a row of Recent Events (or of a type's events) is selected, that list is held as it is, so Run Again
//   or the context menu act on the row the user chose; the view's title says when (Recent Events' header says
//   how, in words that never change: a refreshed header re-renders every row under it, the selected row's Run
//   Again with them, just as the user reaches for it);
// - a row refreshed on its own with an inline action (a command type's Run Again, a flight's Cancel) is
//   re-rendered at most every ROW_RENDER_MS while it changes at every check, and not for TOUCHED_HOLD_MS after it
//   is selected or the pointer rests on it (VS Code then asks resolveTreeItem for its tooltip). A re-render
//   rebuilds the row's actions, so a click that straddles it is lost, and disposes the row's tooltip, shown or
//   pending: a busy type re-rendered at every check could neither be read by hovering nor clicked reliably;
// - nothing is revealed or focused by the tree itself;
// - the work is coalesced: signals (stats at most every 250 ms, the service, rules, the endpoint, the limit)
//   mark it dirty, one check runs at most every 500 ms and only while the view is visible, and a 1 s check
//   runs only while something shown moves by itself (In Flight's counts, CPU, rules' values, exporters' health).
// Figures are by source (SOURCE_KINDS): Overview is the headline (every source but terminal commands, which
// AIOS only observes), By Source has each source's own, and the source filter ("AIOS: Filter Telemetry by
// Source…", the view's title and the Overview header say it is on) narrows Overview, By Source, Command Types, Control
// Operations and the event lists; In Flight, Service and System always show the whole middleware. A command
// type that never ran (every command refused: invalid, blocked, unknown) gets no row of its own: the one
// "Refused" row at the bottom of Command Types lists the newest of them.
// Empty (and so showing its welcome view) until the first command.
import * as vscode from 'vscode';
import { predictionText } from './predictionText';
import type { RecentRequests } from '../commands/recentRequests';
import {
  CONTROL_PREFIX,
  countsAsCommand,
  hasStarted,
  SOURCE_LABELS,
  sourceKindOf,
  type EventType,
  type InFlightCommand,
  type Priority,
  type SourceKind,
  type TelemetryEvent,
  type TypeStatsReport,
} from '../core';
import type { AiosContext } from '../context';
import { describeSharedHolders, describeSharedLimit } from './indicatorModel';
import { describeLoad, stableTail, stateWord } from './treeOrder';
import { describeSourceStats, ms, partitionTypes, pct } from './sourceModel';
import type { TelemetrySourceFilter } from './sourceFilter';
import type { RuleState } from '../core/rules';
import type { ExporterHealthReport } from '../export';
import { formatClock, formatDuration } from '../webview/format';

/** The part of the extension's services this file uses. */
export type TreeHost = Pick<AiosContext, 'controlServer' | 'exports' | 'learning' | 'middleware' | 'rules' | 'supervisor'>;

const REFRESH_DEBOUNCE_MS = 500;
/** The view's name in package.json. */
const VIEW_TITLE = 'Telemetry';
const TICK_MS = 1000;
/** A type's events: the newest 10, cut back from 20. */
const EVENTS_PER_TYPE: [number, number] = [10, 20];
/** Recent Events: the newest 50, cut back from 100. */
const RECENT_EVENTS: [number, number] = [50, 100];
/** In Flight lists the oldest this many; a last row counts the rest. */
const FLIGHT_ROWS = 50;
/**
 * In Flight lists (and its header counts) the commands in flight this long or longer, the ones a person can
 * act on; the status bar counts every one. Refreshing the section re-renders every row in it, and at 1,000
 * commands/s the short ones come and go at every check: listed, they rebuilt a long command's inline Cancel
 * twice a second, and a click that straddled that was lost.
 */
const LISTED_AFTER_MS = 1000;
/** The Refused row lists the newest this many types that never ran; a first row counts the rest. */
const REFUSED_ROWS = 20;
/**
 * A row with inline actions whose content keeps changing (a change seen again within BUSY_GAP_MS) is
 * re-rendered at most this often: a pointer that comes to rest on it then sees its tooltip (after VS Code's
 * hover delay, 0.5 s on Linux and Windows, 1.5 s on macOS) in most cases, and a click (~0.1 s from press to
 * release) almost never meets a re-render. A change after a quiet spell (a command run by hand) shows at once.
 */
const ROW_RENDER_MS = 5000;
const BUSY_GAP_MS = 1000;
/** How long a row is kept as it is once selected or pointed at: time to read its tooltip and reach its action. */
const TOUCHED_HOLD_MS = 10_000;

const SOURCE_ICONS: Record<SourceKind, string> = {
  palette: 'window',
  api: 'extensions',
  task: 'tasklist',
  batch: 'list-flat',
  cli: 'terminal',
  endpoint: 'globe',
  terminal: 'terminal-bash',
  other: 'question',
  control: 'settings-gear',
  rule: 'law',
};

const EVENT_ICONS: Record<EventType, [string, string]> = {
  START: ['play', 'charts.blue'],
  COMPLETE: ['pass', 'testing.iconPassed'],
  ERROR: ['error', 'testing.iconFailed'],
  THROTTLE: ['watch', 'charts.yellow'],
  CANCEL: ['circle-slash', 'disabledForeground'],
};

type SectionId = 'running' | 'overview' | 'sources' | 'types' | 'control' | 'events' | 'service' | 'system' | 'rules' | 'export';

interface SectionNode {
  kind: 'section';
  id: SectionId;
  label: string;
  icon: string;
  description?: string;
}
interface TypeNode {
  kind: 'type';
  commandType: string;
  stats: TypeStatsReport;
}
/** The one row under Command Types for the types that never ran. */
interface RefusedNode {
  kind: 'refused';
  types: [string, TypeStatsReport][];
}
type Node =
  | SectionNode
  | RefusedNode
  | { kind: 'metric'; id: string; label: string; value: string; icon?: string; tooltip?: string }
  | TypeNode
  /** `list`: the key of the list it is in ('events', 'type:<commandType>'); `slot`: its place there (see eventRowId). */
  | { kind: 'event'; event: TelemetryEvent; list: string; slot: number }
  | { kind: 'flight'; flight: InFlightCommand }
  | { kind: 'rule'; rule: RuleState };

const SECTIONS: Record<SectionId, [string, string]> = {
  running: ['In Flight', 'sync'],
  overview: ['Overview', 'dashboard'],
  sources: ['By Source', 'references'],
  types: ['Command Types', 'symbol-event'],
  control: ['Control Operations', 'settings-gear'],
  events: ['Recent Events', 'history'],
  service: ['Service', 'server-process'],
  system: ['System', 'pulse'],
  rules: ['Rules', 'law'],
  export: ['Export', 'cloud-upload'],
};
/** Sections whose rows move without an event (the service's times, samples, rules' values, exporters' health). */
const MOVING: ReadonlySet<SectionId> = new Set(['service', 'system', 'rules', 'export']);

/** What a list of rows shows: their ids, labels and descriptions (a tooltip alone changing does not count). */
function signature(nodes: readonly Node[]): string {
  let s = '';
  for (const n of nodes) s += `${nodeId(n)}\u0000${nodeText(n)}\u0001`;
  return s;
}

/**
 * What a section's refresh depends on. Command Types and Control Operations: only which rows and in what order;
 * a type whose figures moved is refreshed alone, since refreshing the section re-renders every row in it and
 * a click on a row's inline action (Run Again) that straddles the re-render is lost.
 */
function sectionSignature(id: SectionId, rows: readonly Node[]): string {
  return rowsAlone(id) ? rows.map(nodeId).join('\u0001') : signature(rows);
}

/**
 * The sections whose rows carry inline actions under load (a command type's Run Again, a flight's Cancel):
 * each row is refreshed on its own when its text changes, the section only when rows come or go.
 */
function rowsAlone(id: SectionId): boolean {
  return id === 'types' || id === 'control' || id === 'running';
}

/**
 * An event row is named by its place in its list, not by its event. Under load a refresh replaces every
 * event shown, and VS Code forgets the names it no longer shows as soon as it asks for the new rows; a click
 * on a row still on screen but already replaced then selected nothing (the extension host drops a selection
 * it cannot name), so the list was not held. Named by place, the click selects the row at that place, and
 * the list is held with what VS Code shows there once the refresh in flight lands.
 */
function eventRowId(n: Extract<Node, { kind: 'event' }>): string {
  return `event:${n.list}#${n.slot}`;
}

function nodeId(n: Node): string {
  switch (n.kind) {
    case 'section':
      return `section:${n.id}`;
    case 'metric':
      return `metric:${n.id}`;
    case 'type':
      return `type:${n.commandType}`;
    case 'refused':
      return 'refused';
    case 'event':
      return `event:${n.list}:${n.event.commandId}:${n.event.eventType}:${n.event.timestamp}`;
    case 'flight':
      return `flight:${n.flight.commandId}`;
    case 'rule':
      return `rule:${n.rule.index}:${n.rule.name}`;
  }
}

function nodeText(n: Node): string {
  switch (n.kind) {
    case 'section':
      return `${n.label}\u0000${n.description ?? ''}`;
    case 'metric':
      return `${n.label}\u0000${n.value}\u0000${n.icon ?? ''}`;
    case 'type':
      return typeDescription(n.stats);
    case 'refused':
      return refusedDescription(n);
    case 'event':
      return '';
    case 'flight':
      return describeFlightRow(n.flight);
    case 'rule':
      return `${describeRule(n.rule)}\u0000${n.rule.status}\u0000${n.rule.actionRunning ? 1 : 0}`;
  }
}

function typeDescription(s: TypeStatsReport): string {
  return `${s.count} · avg ${ms(s.averageDurationMs)} · p95 ${ms(s.p95)}${s.errorCount ? ` · ${s.errorCount} errors` : ''}`;
}

/** A command type's tooltip: its figures in full. */
function typeTooltip(commandType: string, s: TypeStatsReport): vscode.MarkdownString {
  const md = new vscode.MarkdownString(`**${commandType}**\n\n| | |\n|---|---|\n`);
  md.appendMarkdown(
    `| Runs | ${s.count} (${s.successCount} ok, ${s.errorCount} errors, ${s.cancelledCount} cancelled, ${s.blockedCount} blocked, ${s.refusedCount} refused) |\n`,
  );
  md.appendMarkdown(`| From | ${s.sources.join(', ')} |\n`);
  md.appendMarkdown(`| Duration | avg ${ms(s.averageDurationMs)} · p50 ${ms(s.p50)} · p95 ${ms(s.p95)} · p99 ${ms(s.p99)} |\n`);
  md.appendMarkdown(`| Throttled | ${s.throttledCount} |\n| Last run | ${s.lastExecuted ?? 'never'} |`);
  return md;
}

function refusedDescription(n: RefusedNode): string {
  const commands = n.types.reduce((sum, [, s]) => sum + s.count, 0);
  return `${n.types.length} type${n.types.length === 1 ? '' : 's'} · ${commands} command${commands === 1 ? '' : 's'}`;
}

function describeElapsed(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/**
 * A flight row says since when, not for how long: it changes only when its stage does. A row whose elapsed
 * time ticked was re-rendered every second, and a click on its inline Cancel that straddled that was lost.
 * The time so far and the forecast are in its tooltip, worked out when the pointer rests on the row.
 */
function describeFlightRow(f: InFlightCommand): string {
  // The state and its clock first: a narrow side bar cuts the end off.
  return `${stateWord(f.stage)} since ${formatClock(flightSince(f))} · ${f.priority}${f.source ? ` · from ${f.source}` : ''}`;
}

/** Since when it is in its stage: running (or waiting for the service) since it started, queued since submitted. */
function flightSince(f: InFlightCommand): number {
  return hasStarted(f.stage) ? (f.startedAt ?? f.submittedAt) : f.submittedAt;
}

export class TelemetryTreeProvider implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<Node | Node[] | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly disposables: vscode.Disposable[] = [];
  private view: vscode.TreeView<Node> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly ticker: NodeJS.Timeout;
  /** Something may have changed since the last check. */
  private dirty = false;
  /** Changed while hidden: check when shown. */
  private stale = false;
  /** The same node objects every time, so a refresh can name them. */
  private readonly sections = new Map<SectionId, SectionNode>();
  private readonly types = new Map<string, TypeNode>();
  /** What VS Code was last given, by key ('root', a section id, 'type:<commandType>'). */
  private readonly shown = new Map<string, string>();
  /** The rows last given for a key, returned again while that list is held. */
  private readonly lastChildren = new Map<string, Node[]>();
  /** The first event each event list showed (stableTail keeps it in place). */
  private readonly firstShown = new Map<string, TelemetryEvent>();
  /** Keys whose rows VS Code shows (it asked for them and they were not collapsed since). */
  private readonly expanded = new Set<string>();
  /** Event lists held while one of their rows is selected ('events', 'type:<commandType>'). */
  private held = new Set<string>();
  /** Rows with inline actions, by key: kept until (TOUCHED_HOLD_MS), last re-rendered at, a change last seen at. */
  private readonly touchedUntil = new Map<string, number>();
  private readonly renderedAt = new Map<string, number>();
  private readonly changeSeenAt = new Map<string, number>();
  /** A check due when the first kept row may catch up. */
  private catchUp: { at: number; timer: NodeJS.Timeout } | undefined;
  /** Counts of the refreshes sent, for tests: how many whole-tree refreshes and how many element ones. */
  readonly refreshes = { whole: 0, elements: 0 };

  /** The Refused row (the same object every time). */
  private readonly refused: RefusedNode = { kind: 'refused', types: [] };

  constructor(
    private readonly ctx: TreeHost,
    private readonly sourceFilter: TelemetrySourceFilter,
  ) {
    for (const [id, [label, icon]] of Object.entries(SECTIONS) as [SectionId, [string, string]][]) this.sections.set(id, { kind: 'section', id, label, icon });
    // Said once and for good: a header that changed at each selection would re-render the rows under it.
    this.sections.get('events')!.description = 'select a row to hold the list';
    const changed = () => this.schedule();
    this.disposables.push(
      this.emitter,
      // A new filter changes most rows: the whole tree again, and the view's title says what is shown.
      sourceFilter.onDidChange(() => {
        this.describeTitle();
        this.refreshNow();
      }),
      // At most every 250 ms while events flow: nothing here runs per event.
      ctx.middleware.telemetry.onStatsChanged(changed),
      ctx.supervisor.onDidChangeState(changed),
      ctx.rules.onDidChange(changed),
      ctx.controlServer.onDidChange(changed),
      ctx.middleware.onLimitChange(changed),
    );
    // Queued commands emit nothing until they start, and times, samples and rules move on their own: look once
    // a second while such a section shows (or In Flight's header counts something), and refresh only a change.
    this.ticker = setInterval(() => {
      if (this.view && !this.view.visible) return;
      const a = this.ctx.middleware.admission;
      const moving = [...this.expanded].some((k) => MOVING.has(k as SectionId));
      if (moving || a.active > 0 || a.queued.HIGH + a.queued.NORMAL + a.queued.LOW > 0) this.schedule();
    }, TICK_MS);
  }

  attach(view: vscode.TreeView<Node>): void {
    this.view = view;
    this.describeTitle();
    this.disposables.push(
      view.onDidChangeVisibility((e) => {
        // Caught up at once, not a debounce later: a row clicked right after the view opens must not move.
        if (e.visible && this.stale) this.catchUpNow();
      }),
      view.onDidExpandElement((e) => this.expanded.add(keyOf(e.element))),
      view.onDidCollapseElement((e) => this.expanded.delete(keyOf(e.element))),
      view.onDidChangeSelection((e) => {
        for (const n of e.selection) this.touch(n);
        if (this.noteHeld(e.selection)) this.schedule(true);
      }),
    );
  }

  /**
   * The view's title says a filter is on, so nobody forgets it ("AIOS: Telemetry · source: terminal"), and which
   * list is held ("· Recent Events held while a row is selected"). The title, not the description: VS Code shows
   * no description for a view alone in its container, as this one is; and setting it re-renders no row.
   */
  private describeTitle(): void {
    if (!this.view) return;
    const on = this.sourceFilter.description;
    const held = [...this.held].map((list) => (list === 'events' ? 'Recent Events' : `${list.slice('type:'.length)} events`));
    const title = `${VIEW_TITLE}${on === undefined ? '' : ` · source: ${on}`}${held.length ? ` · ${held.join(', ')} held while a row is selected` : ''}`;
    if (this.view.title !== title) this.view.title = title;
  }

  /** Coalesced: one check at most every REFRESH_DEBOUNCE_MS, none while the view is hidden. */
  schedule(dirty = true): void {
    if (dirty) this.dirty = true;
    if (this.view && !this.view.visible) {
      this.stale = true;
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.stale = false;
      this.check();
    }, REFRESH_DEBOUNCE_MS);
  }

  /** A check now (the view was shown while stale), instead of the one scheduled. */
  private catchUpNow(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stale = false;
    this.check();
  }

  /** The Refresh button: everything again. */
  refreshNow(): void {
    this.shown.clear();
    this.refreshes.whole++;
    this.emitter.fire(undefined);
  }

  /** Compares what would show with what VS Code was given; refreshes only the parts that differ. */
  private check(): void {
    if (this.view && this.noteHeld(this.view.selection)) this.dirty = true;
    if (!this.dirty) return;
    this.dirty = false;
    const root = this.rootSections();
    if (this.rootIds(root) !== this.shown.get('rootIds')) {
      this.refreshNow();
      return;
    }
    const changed: Node[] = [];
    const now = Date.now();
    // Bounded by the rows of the last seconds.
    for (const [key, until] of this.touchedUntil) if (until <= now) this.touchedUntil.delete(key);
    for (const [key, at] of this.renderedAt) if (at <= now - ROW_RENDER_MS) this.renderedAt.delete(key);
    for (const [key, at] of this.changeSeenAt) if (at <= now - BUSY_GAP_MS) this.changeSeenAt.delete(key);
    for (const section of root as SectionNode[]) {
      const headerChanged = `${section.description ?? ''}` !== (this.shown.get(`header:${section.id}`) ?? '');
      if (
        headerChanged ||
        (this.expanded.has(section.id) && !this.held.has(section.id) && sectionSignature(section.id, this.children(section)) !== this.shown.get(section.id))
      ) {
        // VS Code asks getTreeItem again for a refreshed element, not the root's children: note its header here.
        this.shown.set(`header:${section.id}`, section.description ?? '');
        changed.push(section);
        continue;
      }
      if (rowsAlone(section.id) && this.expanded.has(section.id)) {
        for (const t of this.children(section)) {
          const key = keyOf(t);
          const item = nodeText(t);
          const rows = this.expanded.has(key) && !this.held.has(key) ? signature(this.children(t)) : this.shown.get(key);
          if (item !== this.shown.get(`item:${key}`) || rows !== this.shown.get(key)) {
            const kept = this.keptUntil(key, now);
            if (kept > now) {
              this.catchUpAt(kept); // compared again then
              continue;
            }
            this.shown.set(`item:${key}`, item);
            if (hasInlineActions(t)) this.renderedAt.set(key, now);
            changed.push(t);
          }
        }
      }
    }
    if (changed.length) {
      this.refreshes.elements += changed.length;
      this.emitter.fire(changed);
    }
  }

  /**
   * Which event lists are held, from what is selected; whether that changed. Also read at every check, from
   * `view.selection`: a click that lands while a refresh of its list is in flight names a row the extension host
   * has just forgotten, so its selection event comes empty and is not sent again; once the refresh has landed,
   * `view.selection` names the row.
   */
  private noteHeld(selection: readonly Node[]): boolean {
    const held = new Set<string>();
    for (const n of selection) if (n.kind === 'event') held.add(n.list);
    const released = [...this.held].some((k) => !held.has(k));
    const changed = released || [...held].some((k) => !this.held.has(k));
    this.held = held;
    if (changed) this.describeTitle();
    // A released list catches up.
    if (released) this.dirty = true;
    return changed;
  }

  /** The row was selected or pointed at: kept as it is for TOUCHED_HOLD_MS, then it catches up. */
  private touch(node: Node): void {
    if (!hasInlineActions(node)) return;
    const key = keyOf(node);
    this.touchedUntil.set(key, Math.max(this.touchedUntil.get(key) ?? 0, Date.now() + TOUCHED_HOLD_MS));
  }

  /**
   * Until when a row whose content changed is kept as it is: while touched, and while busy (its last change was
   * seen less than BUSY_GAP_MS ago) until ROW_RENDER_MS after its last re-render. Notes the change as seen.
   */
  private keptUntil(key: string, now: number): number {
    const busy = now - (this.changeSeenAt.get(key) ?? -Infinity) < BUSY_GAP_MS;
    this.changeSeenAt.set(key, now);
    const rendered = this.renderedAt.get(key);
    return Math.max(this.touchedUntil.get(key) ?? 0, busy && rendered !== undefined ? rendered + ROW_RENDER_MS : 0);
  }

  /** One timer for the earliest kept row that has something to show: without it, a quiet tree would stay stale. */
  private catchUpAt(at: number): void {
    if (this.catchUp && this.catchUp.at <= at) return;
    if (this.catchUp) clearTimeout(this.catchUp.timer);
    this.catchUp = {
      at,
      timer: setTimeout(() => {
        this.catchUp = undefined;
        this.schedule();
      }, at - Date.now()),
    };
  }

  private rootIds(nodes: readonly Node[]): string {
    return nodes.map(nodeId).join(',');
  }

  /** The sections now, their headers up to date (the same objects every time). */
  private rootSections(): Node[] {
    const telemetry = this.ctx.middleware.telemetry;
    const all = telemetry.query('SUMMARY');
    const a = this.ctx.middleware.admission;
    const queued = a.queued.HIGH + a.queued.NORMAL + a.queued.LOW;
    // Whether anything happened at all (not under the filter: the sections do not come and go with it).
    if (Object.keys(all.bySource).length === 0 && telemetry.recentEvents().length === 0 && a.active === 0 && queued === 0) return []; // welcome view
    const ids: SectionId[] = ['running', 'overview', 'sources', 'types'];
    const filter = this.sourceFilter.filter;
    if (all.overall.controlOperations.count > 0 && (!filter || filter.has('control'))) ids.push('control');
    ids.push('events', 'service', 'system');
    if (this.ctx.rules.states().length) ids.push('rules');
    if (this.exportRows().length) ids.push('export');
    const running = this.sections.get('running')!;
    running.description = this.describeListed();
    // Said on the first figures too: a narrow side bar cuts the view's title short.
    const on = this.sourceFilter.description;
    this.sections.get('overview')!.description = on === undefined ? undefined : `source: ${on}`;
    return ids.map((id) => this.sections.get(id)!);
  }

  /** The commands In Flight lists are those submitted by then: in flight LISTED_AFTER_MS or longer. */
  private listedSince(): number {
    return Date.now() - LISTED_AFTER_MS;
  }

  /** "1 running · 0 queued, over 1 s" (the counts first: a narrow side bar cuts the end off); nothing while none is listed. */
  private describeListed(): string | undefined {
    const { running, queued } = this.ctx.middleware.countInFlight(this.listedSince());
    return running + queued === 0 ? undefined : `${describeLoad(running, queued)}, over ${LISTED_AFTER_MS / 1000} s`;
  }

  getChildren(node?: Node): Node[] {
    const key = node ? keyOf(node) : 'root';
    if (node) this.expanded.add(key);
    const rows = this.held.has(key) && this.lastChildren.has(key) ? this.lastChildren.get(key)! : node ? this.children(node) : this.rootSections();
    this.lastChildren.set(key, rows);
    this.shown.set(key, node?.kind === 'section' ? sectionSignature(node.id, rows) : signature(rows));
    if (!node) {
      this.shown.set('rootIds', this.rootIds(rows));
      for (const s of rows as SectionNode[]) this.shown.set(`header:${s.id}`, s.description ?? '');
    }
    if (node?.kind === 'section' && rowsAlone(node.id)) for (const t of rows) this.shown.set(`item:${keyOf(t)}`, nodeText(t));
    return rows;
  }

  private eventRows(list: string, events: TelemetryEvent[], [min, max]: [number, number]): Node[] {
    const tail = stableTail(events, this.firstShown.get(list), min, max);
    if (tail.length) this.firstShown.set(list, tail[0]);
    else this.firstShown.delete(list);
    return tail.map((event, slot) => ({ kind: 'event', event, list, slot }));
  }

  private children(node: Node): Node[] {
    const telemetry = this.ctx.middleware.telemetry;
    const filter = this.sourceFilter.filter;
    if (node.kind === 'type') {
      const events = this.filteredEvents().filter((e) => e.commandType === node.commandType);
      return this.eventRows(`type:${node.commandType}`, events, EVENTS_PER_TYPE);
    }
    if (node.kind === 'refused') return this.refusedRows(node);
    if (node.kind !== 'section') return [];
    switch (node.id) {
      case 'running': {
        // One cut-off for the rows and the count, so "… and N more" adds up with them.
        const since = this.listedSince();
        const flights = this.ctx.middleware.inFlight({ submittedBy: since, max: FLIGHT_ROWS });
        if (flights.length === 0)
          return [
            metric('no-flights', `Nothing in flight for ${LISTED_AFTER_MS / 1000} s or more`, '', 'check', 'The status bar counts every command in flight'),
          ];
        const rows: Node[] = flights.map((flight) => ({ kind: 'flight', flight }));
        if (flights.length === FLIGHT_ROWS) {
          const { running, queued } = this.ctx.middleware.countInFlight(since);
          if (running + queued > FLIGHT_ROWS) rows.push(metric('more-flights', `… and ${running + queued - FLIGHT_ROWS} more`, '', 'ellipsis'));
        }
        return rows;
      }
      case 'overview': {
        const report = telemetry.query('SUMMARY', filter);
        const o = report.overall;
        const c = o.controlOperations;
        const scope = filter ? 'of the sources the filter shows' : 'of every source but commands typed in a terminal (see By Source)';
        const rows = [
          metric('total', 'Commands', String(o.totalCommands), 'symbol-number', `Commands ${scope}; control operations are not commands`),
          metric('success', 'Success rate', pct(o.successRate), 'check', `Succeeded / (succeeded + failed), ${scope}; refused commands count as failed`),
          metric('average', 'Average duration', ms(o.averageDurationMs), 'clock'),
          metric('latency', 'Latency p50 / p95 / p99', `${ms(o.p50)} / ${ms(o.p95)} / ${ms(o.p99)}`, 'graph-line'),
          metric('failed', 'Failed', String(o.failedCommands), 'error'),
          metric(
            'refused',
            'Refused (never ran)',
            String(o.refusedCommands),
            'close',
            'Invalid, blocked by policy, queue full or unknown to the service: counted among Failed',
          ),
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
        // Without a filter the headline leaves terminal commands out: say so where the headline is.
        const t = filter ? undefined : report.bySource.terminal;
        if (t) {
          rows.push(
            metric(
              'terminal',
              'Typed in a terminal',
              `${t.count} · ${t.errorCount} non-zero · not in the figures above`,
              'terminal-bash',
              'Commands typed in a terminal are only recorded (AIOS does not run them); a non-zero exit is the program failing, not the middleware',
            ),
          );
        }
        return rows;
      }
      case 'sources': {
        const bySource = telemetry.query('SUMMARY', filter).bySource;
        return (Object.entries(bySource) as [SourceKind, NonNullable<(typeof bySource)[SourceKind]>][]).map(([kind, s]) =>
          metric(`source-${kind}`, kind, describeSourceStats(kind, s), SOURCE_ICONS[kind], `${SOURCE_LABELS[kind]}: ${describeSourceStats(kind, s)}`),
        );
      }
      case 'types': {
        // In the order the types were first shown (the stats keep insertion order, the tree its own nodes): a
        // new type joins at the bottom, a busy one does not climb over the others. Types that never ran
        // share the last row.
        const { ran, refused } = partitionTypes(telemetry.byType(filter), countsAsCommand);
        for (const [commandType, stats] of ran) this.typeNode(commandType, stats);
        const shown = new Set(ran.map(([t]) => t));
        const rows: Node[] = [...this.types.values()].filter((n) => shown.has(n.commandType));
        this.refused.types = refused;
        if (refused.length) rows.push(this.refused);
        return rows;
      }
      case 'control':
        return Object.entries(telemetry.byType(filter))
          .filter(([type]) => type.startsWith(CONTROL_PREFIX))
          .map(([commandType, stats]) => this.typeNode(commandType, stats));
      case 'events':
        return this.eventRows('events', this.filteredEvents(), RECENT_EVENTS);
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
          // The handlers' own models (ctx.models); each worker process holds its own, counted apart.
          const inWorkers = h.processWorkers?.models ? ` · ${h.processWorkers.models} in worker processes` : '';
          if (h.cache.models.entries || h.cache.models.loads || inWorkers)
            items.push(
              metric(
                'models',
                'Handler models',
                `${h.cache.models.entries} loaded · ${h.cache.models.hits} hits · ${h.cache.models.loads} loads${inWorkers}`,
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
          'The control endpoint (aios.controlServer): the token is copied by "AIOS: Copy Control Endpoint Token"',
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

  /** Recent events of the sources the filter shows. */
  private filteredEvents(): TelemetryEvent[] {
    const events = this.ctx.middleware.telemetry.recentEvents();
    const filter = this.sourceFilter.filter;
    return filter ? events.filter((e) => filter.has(sourceKindOf(e.commandType, e.metadata))) : events;
  }

  /** The newest REFUSED_ROWS types that never ran, each with why (its newest refusal still in Recent Events). */
  private refusedRows(node: RefusedNode): Node[] {
    const why = new Map<string, string>();
    for (const e of this.ctx.middleware.telemetry.recentEvents()) {
      if (e.eventType === 'ERROR' && typeof e.metadata?.code === 'string') why.set(e.commandType, e.metadata.code);
    }
    const rows: Node[] = [];
    if (node.types.length > REFUSED_ROWS) rows.push(metric('refused-more', `… and ${node.types.length - REFUSED_ROWS} older`, '', 'ellipsis'));
    for (const [type, s] of node.types.slice(-REFUSED_ROWS)) {
      const reason = why.get(type);
      rows.push(
        metric(
          `refused-${type}`,
          type,
          `${s.count}×${reason ? ` · ${reason}` : ''}`,
          'close',
          `${type}: ${s.count} refused, never ran${s.lastExecuted ? ` (last ${s.lastExecuted})` : ''}`,
        ),
      );
    }
    return rows;
  }

  private typeNode(commandType: string, stats: TypeStatsReport): TypeNode {
    let node = this.types.get(commandType);
    if (!node) this.types.set(commandType, (node = { kind: 'type', commandType, stats }));
    else node.stats = stats;
    return node;
  }

  /**
   * Called by VS Code when the pointer rests on a row (to show its tooltip): the row is kept as it is for a while
   * (see touch), and its tooltip is worked out as of now: a type's figures; a flight's time so far and forecast.
   */
  resolveTreeItem(item: vscode.TreeItem, node: Node): vscode.TreeItem {
    this.touch(node);
    if (node.kind === 'type') item.tooltip = typeTooltip(node.commandType, node.stats);
    if (node.kind !== 'flight') return item;
    const f = node.flight;
    const now = Date.now();
    const forecast = predictionText(this.ctx.learning, f.commandId);
    const state = `${stateWord(f.stage)} for ${describeElapsed(now - flightSince(f))} at ${formatClock(now)}`;
    item.tooltip = `${f.commandType} (${f.commandId}), ${f.priority}: ${state}${forecast ? `; ${forecast}` : ''}${f.source ? `; from ${f.source}` : ''}. Cancel it with the button on the right.`;
    return item;
  }

  getTreeItem(node: Node): vscode.TreeItem {
    switch (node.kind) {
      case 'section': {
        const item = new vscode.TreeItem(
          node.label,
          node.id === 'overview' || node.id === 'types' ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed,
        );
        item.id = `section:${node.id}`;
        item.description = node.description;
        if (node.id === 'running') {
          item.tooltip = `Commands in flight for ${LISTED_AFTER_MS / 1000} s or more, oldest first: the ones you can still cancel by hand (the status bar counts every one).`;
          // A string tooltip would otherwise be what a screen reader hears, without the counts.
          item.accessibilityInformation = { label: `${node.label}${node.description ? `, ${node.description}` : ''}` };
        }
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
        item.id = nodeId(node);
        item.description = typeDescription(s);
        // No tooltip here: resolveTreeItem makes it with the figures as of the moment the pointer rests on the row.
        item.iconPath = new vscode.ThemeIcon(s.errorCount > 0 ? 'warning' : 'symbol-event');
        item.contextValue = 'aiosCommandType';
        return item;
      }
      case 'refused': {
        const item = new vscode.TreeItem('Refused (never ran)', vscode.TreeItemCollapsibleState.Collapsed);
        item.id = 'refused';
        item.description = refusedDescription(node);
        item.accessibilityInformation = { label: `Refused (never ran): ${item.description}` };
        item.tooltip =
          'Command types whose every command was refused before it ran (invalid, blocked by policy, queue full, unknown to the service): a typo or a refusal, so no row of their own';
        item.iconPath = new vscode.ThemeIcon('close');
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
        item.description = describeFlightRow(f);
        // No tooltip here: resolveTreeItem works it out when the pointer rests on the row.
        item.iconPath = new vscode.ThemeIcon(f.stage === 'running' ? 'sync~spin' : 'watch');
        item.contextValue = 'aiosFlight';
        return item;
      }
      case 'event': {
        const e = node.event;
        const time = e.timestamp.slice(11, 23);
        const item = new vscode.TreeItem(`${e.eventType} ${e.commandType}`, vscode.TreeItemCollapsibleState.None);
        item.id = eventRowId(node);
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
    clearTimeout(this.catchUp?.timer);
    clearInterval(this.ticker);
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

/**
 * The rows refreshed one by one that carry inline actions (a type's Run Again, a flight's Cancel): see
 * ROW_RENDER_MS. Event rows carry Run Again too; they are held with their list while one is selected (noteHeld).
 */
function hasInlineActions(n: Node): boolean {
  return n.kind === 'type' || n.kind === 'flight';
}

/** The key a node's rows are known by: a section's id, 'type:<commandType>' or 'refused'. */
function keyOf(n: Node): string {
  return n.kind === 'section' ? n.id : n.kind === 'type' ? `type:${n.commandType}` : nodeId(n);
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
): { commandType: string; priority: Priority; parameters?: Readonly<Record<string, unknown>>; sources: readonly SourceKind[] } | undefined {
  if (!isNode(node)) return undefined;
  if (node.kind === 'event') {
    const known = recent.get(node.event.commandId);
    return {
      commandType: node.event.commandType,
      priority: node.event.priority,
      parameters: known?.parameters,
      sources: [sourceKindOf(node.event.commandType, node.event.metadata)],
    };
  }
  if (node.kind === 'type') {
    const last = recent.lastOfType(node.commandType);
    return { commandType: node.commandType, priority: last?.priority ?? 'NORMAL', parameters: last?.parameters, sources: node.stats.sources };
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
