// The metrics panel's browser code: counters, service state, per-source and per-type tables and uPlot charts,
// fed by validated `snapshot` messages from the host (which applies the source filter). Loaded in <head> under a nonce CSP so its first act, the
// securitypolicyviolation listener, is in place before anything else can violate the policy.
import 'uplot/dist/uPlot.min.css'; // esbuild emits it as dist/webview/main.css, linked by the host
import uPlot from 'uplot';
import { withAlpha } from './color';
import { formatAxis, formatClock, formatCount, formatDuration, formatMs, formatPercent, formatRate, formatRatio } from './format';
import { MetricsHistory, type HistoryState, type SeriesKey } from './history';
import { isPanelCommand, parseHostMessage, parseSnapshot, type MetricsSnapshot, type PanelCommand } from './protocol';
import { connectHost } from './transport';
import { Commands } from '../shared/ids';

/** What survives a hide/show or a window reload (the serializer revives the panel, getState() this). */
interface PersistedState {
  v: 1;
  history: HistoryState;
  last?: MetricsSnapshot;
  commands?: PanelCommand[];
}

// Diagnostics on <html> data attributes: tests (and curious users in the webview devtools) read them.
const diag = document.documentElement.dataset;
diag.cspViolations = '0';
diag.snapshotsReceived = '0';
diag.rejectedMessages = '0';
document.addEventListener('securitypolicyviolation', (e) => {
  diag.cspViolations = String(Number(diag.cspViolations) + 1);
  console.warn(`AIOS metrics: CSP blocked ${e.blockedURI || 'inline content'} (${e.violatedDirective})`);
});

// VS Code's webview API in the panel; an SSE stream and fetch in the browser dashboard (./transport).
const vscode = connectHost<PersistedState>();

// ---- counters -------------------------------------------------------------------------------------------

type CounterKey =
  | 'totalCommands'
  | 'successfulCommands'
  | 'failedCommands'
  | 'successRate'
  | 'throughput'
  | 'averageDurationMs'
  | 'p50'
  | 'p95'
  | 'p99'
  | 'throttledCommands'
  | 'cancelledCommands'
  | 'blockedCommands'
  | 'refusedCommands'
  | 'active'
  | 'limit'
  | 'queued'
  | 'lastDelayMs'
  | 'cpuPercent'
  | 'memoryPercent'
  | 'pythonProcesses';

interface CounterDef {
  key: CounterKey;
  label: string;
  /** The raw number (null: unknown) and its text. */
  read(s: MetricsSnapshot, h: MetricsHistory): { value: number | null; text: string; hint?: string };
}

const n = (value: number | null, text: (v: number) => string) => ({ value, text: value === null ? '—' : text(value) });

const COUNTERS: CounterDef[] = [
  { key: 'totalCommands', label: 'Commands', read: (s) => n(s.overall.totalCommands, formatCount) },
  { key: 'successfulCommands', label: 'Succeeded', read: (s) => n(s.overall.successfulCommands, formatCount) },
  { key: 'failedCommands', label: 'Failed', read: (s) => n(s.overall.failedCommands, formatCount) },
  {
    key: 'successRate',
    label: 'Success rate',
    read: (s) => n(s.overall.successfulCommands + s.overall.failedCommands > 0 ? s.overall.successRate : null, formatRatio),
  },
  { key: 'throughput', label: 'Throughput', read: (_s, h) => n(h.latest('throughput'), formatRate) },
  { key: 'averageDurationMs', label: 'Average latency', read: (s) => n(s.overall.averageDurationMs, formatMs) },
  { key: 'p50', label: 'p50 latency', read: (s) => n(s.latency.p50, formatMs) },
  { key: 'p95', label: 'p95 latency', read: (s) => n(s.latency.p95, formatMs) },
  { key: 'p99', label: 'p99 latency', read: (s) => n(s.latency.p99, formatMs) },
  { key: 'throttledCommands', label: 'Throttled', read: (s) => n(s.overall.throttledCommands, formatCount) },
  { key: 'cancelledCommands', label: 'Cancelled', read: (s) => n(s.overall.cancelledCommands, formatCount) },
  { key: 'blockedCommands', label: 'Blocked', read: (s) => n(s.overall.blockedCommands, formatCount) },
  {
    key: 'refusedCommands',
    label: 'Refused',
    read: (s) => ({
      ...n(s.overall.refusedCommands ?? null, formatCount),
      hint: 'never ran: invalid, blocked, queue full or unknown to the service; counted among Failed',
    }),
  },
  {
    key: 'active',
    label: 'Running',
    read: (s) => ({
      value: s.admission.active,
      text: `${formatCount(s.admission.active)} / ${formatCount(s.admission.limit)}`,
      hint: `running / concurrency limit${s.admission.mode ? ` (${s.admission.mode})` : ''}`,
    }),
  },
  {
    key: 'queued',
    label: 'Queued',
    read: (s) => {
      const q = s.admission.queued;
      return { value: q.HIGH + q.NORMAL + q.LOW, text: formatCount(q.HIGH + q.NORMAL + q.LOW), hint: `HIGH ${q.HIGH} · NORMAL ${q.NORMAL} · LOW ${q.LOW}` };
    },
  },
  { key: 'lastDelayMs', label: 'Last throttle delay', read: (s) => n(s.admission.lastDelayMs, formatMs) },
  { key: 'cpuPercent', label: 'CPU', read: (s) => n(s.system ? s.system.cpuPercent : null, formatPercent) },
  { key: 'memoryPercent', label: 'Memory', read: (s) => n(s.system ? s.system.memoryPercent : null, formatPercent) },
  {
    key: 'pythonProcesses',
    label: 'Other Python processes',
    read: (s) => n(s.system && s.system.pythonProcesses >= 0 ? s.system.pythonProcesses : null, formatCount),
  },
];

// ---- charts ---------------------------------------------------------------------------------------------

/** VS Code's chart palette tokens (--vscode-charts-*), which every theme, high contrast included, defines. */
type Hue = 'blue' | 'red' | 'green' | 'yellow' | 'orange' | 'purple' | 'foreground';

interface ChartDef {
  id: string;
  title: string;
  unit: string;
  series: { key: SeriesKey; label: string; hue: Hue; dash?: number[] }[];
  format(v: number): string;
  /** Fixed y range (percentages); otherwise 0..max. */
  percent?: boolean;
  /** Text when the chart has no values at all. */
  empty(s: MetricsSnapshot | undefined): string;
}

const noCommandsYet = () => 'No commands yet';
const CHARTS: ChartDef[] = [
  {
    id: 'throughput',
    title: 'Throughput',
    unit: 'commands per second',
    format: formatRate,
    empty: () => 'Collecting a second sample…',
    series: [
      { key: 'throughput', label: 'completed', hue: 'blue' },
      { key: 'errorRate', label: 'failed', hue: 'red' },
    ],
  },
  {
    id: 'latency',
    title: 'Latency percentiles',
    unit: 'milliseconds',
    format: formatMs,
    empty: noCommandsYet,
    series: [
      { key: 'p50', label: 'p50', hue: 'green' },
      { key: 'p95', label: 'p95', hue: 'yellow' },
      { key: 'p99', label: 'p99', hue: 'red' },
    ],
  },
  {
    id: 'queue',
    title: 'Queue depth',
    unit: 'commands',
    format: formatCount,
    empty: noCommandsYet,
    series: [
      { key: 'queuedHigh', label: 'HIGH', hue: 'red' },
      { key: 'queuedNormal', label: 'NORMAL', hue: 'blue' },
      { key: 'queuedLow', label: 'LOW', hue: 'purple' },
      { key: 'active', label: 'running', hue: 'green', dash: [4, 3] },
      { key: 'limit', label: 'limit', hue: 'foreground', dash: [2, 4] },
    ],
  },
  {
    id: 'throttle',
    title: 'Throttle delay',
    unit: 'milliseconds',
    format: formatMs,
    empty: noCommandsYet,
    series: [{ key: 'delayMs', label: 'last delay', hue: 'orange' }],
  },
  {
    id: 'system',
    title: 'CPU and memory',
    unit: 'percent',
    format: formatPercent,
    percent: true,
    empty: (s) => (s && !s.system ? 'System sampling is off' : 'Waiting for the sampler…'),
    series: [
      { key: 'cpuPercent', label: 'CPU', hue: 'blue' },
      { key: 'memoryPercent', label: 'memory', hue: 'purple' },
    ],
  },
  {
    id: 'success',
    title: 'Success rate',
    unit: 'percent',
    format: formatPercent,
    percent: true,
    empty: noCommandsYet,
    series: [{ key: 'successPercent', label: 'success', hue: 'green' }],
  },
];

const CHART_HEIGHT = 150;

const COMMAND_LABELS: Record<PanelCommand, string> = {
  [Commands.pauseAdmission]: 'Pause admission',
  [Commands.resumeAdmission]: 'Resume admission',
  [Commands.restartPythonService]: 'Restart service',
  [Commands.showTelemetry]: 'Show telemetry',
  [Commands.filterTelemetryBySource]: 'Filter by source…',
  [Commands.showOutput]: 'Show output',
};

// ---- state ------------------------------------------------------------------------------------------------

let history = new MetricsHistory();
let last: MetricsSnapshot | undefined;
let commands: PanelCommand[] = [];
restoreState();

function restoreState(): void {
  const state = vscode.getState() as Partial<PersistedState> | undefined;
  diag.restored = 'false';
  if (!state || state.v !== 1) return;
  history = MetricsHistory.fromState(state.history);
  history.prune(Date.now());
  const snap = parseSnapshot(state.last);
  if (snap.ok) last = snap.value;
  if (Array.isArray(state.commands)) commands = state.commands.filter(isPanelCommand);
  diag.restored = String(last !== undefined || history.length > 0);
}

function saveState(): void {
  vscode.setState({ v: 1, history: history.toState(), last, commands });
}

// ---- DOM ------------------------------------------------------------------------------------------------

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) if (v !== undefined) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const ui = {
  status: el('span', { class: 'status', role: 'status' }),
  serviceDetail: el('span', { class: 'service-detail' }),
  paused: el('span', { class: 'badge paused', hidden: '' }, 'Admission paused'),
  actions: el('div', { class: 'actions', role: 'toolbar', 'aria-label': 'Actions' }),
  waiting: el('p', { class: 'empty-state', id: 'waiting' }, 'Waiting for the first metrics from the AIOS middleware…'),
  scope: el('p', { class: 'scope', id: 'scope', 'data-sources': '' }),
  bySourceBody: el('tbody'),
  counters: new Map<CounterKey, HTMLElement>(),
  charts: new Map<string, { fig: HTMLElement; plot: HTMLElement; empty: HTMLElement; chart?: uPlot; width: number }>(),
  perTypeBody: el('tbody'),
  perTypeEmpty: el('p', { class: 'empty-state' }, 'No commands yet.'),
  updated: el('span'),
};

function buildDom(): void {
  const header = el(
    'header',
    { class: 'header' },
    el('h1', {}, 'AIOS Metrics'),
    el('span', { class: 'service', 'data-status': 'unknown' }, el('span', { class: 'dot', 'aria-hidden': 'true' }), 'Service ', ui.status, ui.serviceDetail),
    ui.paused,
    ui.actions,
  );

  const list = el('dl', { class: 'counters' });
  for (const c of COUNTERS) {
    const dd = el('dd', { 'data-metric': c.key, 'data-value': '', id: `metric-${c.key}` }, '—');
    ui.counters.set(c.key, dd);
    list.append(el('div', { class: 'counter' }, el('dt', {}, c.label), dd));
  }

  const grid = el('div', { class: 'charts' });
  for (const def of CHARTS) {
    const titleId = `chart-${def.id}-title`;
    const plot = el('div', { class: 'plot', role: 'img', 'aria-labelledby': titleId });
    const empty = el('p', { class: 'chart-empty', hidden: '' });
    const fig = el(
      'figure',
      { class: 'chart', 'data-chart': def.id, 'data-points': '0' },
      el('figcaption', { id: titleId }, def.title, el('span', { class: 'unit' }, ` · ${def.unit}, last 5 minutes`)),
      plot,
      empty,
    );
    ui.charts.set(def.id, { fig, plot, empty, width: 0 });
    grid.append(fig);
  }

  const bySource = numbersTable(
    'per-type by-source',
    'Commands by source',
    ['Source', 'Count', 'Success', 'Failed', 'of them refused', 'Cancelled', 'p95'],
    ui.bySourceBody,
  );
  const table = numbersTable(
    'per-type',
    'Commands by type, most frequent first',
    ['Command type', 'Count', 'Errors', 'Average', 'p95', 'Last run'],
    ui.perTypeBody,
  );

  document.body.append(
    header,
    ui.scope,
    ui.waiting,
    el('section', { 'aria-labelledby': 'counters-h' }, el('h2', { id: 'counters-h' }, 'Counters'), list),
    el('section', { 'aria-labelledby': 'charts-h' }, el('h2', { id: 'charts-h' }, 'Charts'), grid),
    el('section', { 'aria-labelledby': 'sources-h' }, el('h2', { id: 'sources-h' }, 'By source'), bySource),
    el('section', { 'aria-labelledby': 'types-h' }, el('h2', { id: 'types-h' }, 'By command type'), table, ui.perTypeEmpty),
    el('footer', {}, ui.updated),
  );
  renderActions();
}

/** A table of rows named in their first column, numbers in the others. */
function numbersTable(className: string, caption: string, headings: string[], body: HTMLElement): HTMLTableElement {
  return el(
    'table',
    { class: className },
    el('caption', { class: 'visually-hidden' }, caption),
    el('thead', {}, el('tr', {}, ...headings.map((h, i) => el('th', { scope: 'col', class: i > 0 ? 'num' : '' }, h)))),
    body,
  );
}

function setText(node: HTMLElement, text: string): void {
  if (node.textContent !== text) node.textContent = text;
}

function renderSnapshot(s: MetricsSnapshot): void {
  ui.waiting.hidden = true;
  for (const c of COUNTERS) {
    const node = ui.counters.get(c.key) as HTMLElement;
    const { value, text, hint } = c.read(s, history);
    setText(node, text);
    node.dataset.value = value === null ? '' : String(value);
    if (hint) node.title = hint;
  }

  const service = ui.status.parentElement as HTMLElement;
  service.dataset.status = s.service.status;
  setText(ui.status, s.service.status);
  const details = [
    s.service.pid !== undefined ? `pid ${s.service.pid}` : '',
    s.service.uptimeS !== undefined ? `up ${formatDuration(s.service.uptimeS)}` : '',
    s.service.downSince !== undefined ? `down since ${formatClock(s.service.downSince)}` : '',
    s.service.logLevel ? `log ${s.service.logLevel}` : '',
  ].filter(Boolean);
  setText(ui.serviceDetail, details.length ? ` · ${details.join(' · ')}` : '');
  service.title = s.service.detail ?? '';
  ui.paused.hidden = !s.admission.paused;
  renderActions();

  // Which sources the figures cover: a filter is said at the top, so nobody reads filtered figures as all.
  const sources = s.sources?.join(', ') ?? '';
  ui.scope.dataset.sources = sources;
  setText(
    ui.scope,
    s.sources
      ? `Sources: ${sources || 'none'}: the counters, charts and tables show these only (AIOS: Filter Telemetry by Source…).`
      : 'All sources. Commands typed in a terminal are only recorded: they show under their source, not in the counters; control operations are never commands.',
  );
  ui.bySourceBody.replaceChildren(
    ...(s.bySource ?? []).map((r) =>
      el(
        'tr',
        { 'data-source': r.source },
        el('th', { scope: 'row' }, r.source),
        el('td', { class: 'num' }, formatCount(r.count)),
        el('td', { class: 'num' }, r.count > r.cancelledCount ? formatRatio(r.successRate) : '—'),
        el('td', { class: r.errorCount > 0 ? 'num errors' : 'num' }, formatCount(r.errorCount)),
        el('td', { class: 'num' }, formatCount(r.refusedCount)),
        el('td', { class: 'num' }, formatCount(r.cancelledCount)),
        el('td', { class: 'num' }, formatMs(r.p95)),
      ),
    ),
  );

  const rows = [...s.perType].sort((a, b) => b.count - a.count).slice(0, 50);
  ui.perTypeBody.replaceChildren(
    ...rows.map((t) =>
      el(
        'tr',
        {},
        el('th', { scope: 'row' }, t.commandType),
        el('td', { class: 'num' }, formatCount(t.count)),
        el('td', { class: t.errorCount > 0 ? 'num errors' : 'num' }, formatCount(t.errorCount)),
        el('td', { class: 'num' }, formatMs(t.averageDurationMs)),
        el('td', { class: 'num' }, formatMs(t.p95)),
        el('td', { class: 'num' }, lastRun(t.lastExecuted)),
      ),
    ),
  );
  ui.perTypeEmpty.hidden = rows.length > 0;
  (ui.perTypeBody.parentElement as HTMLElement).hidden = rows.length === 0;
  setText(ui.updated, `Updated ${formatClock(s.at)}`);
}

function lastRun(iso: string | undefined): string {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? formatClock(t) : '—';
}

let renderedPaused: boolean | undefined;
let renderedCommands = '';
function renderActions(): void {
  // Pause and resume are one toggle: show the one that applies now.
  const paused = last?.admission.paused ?? false;
  const visible = commands.filter((c) => (c === Commands.pauseAdmission ? !paused : c === Commands.resumeAdmission ? paused : true));
  if (renderedPaused === paused && renderedCommands === visible.join()) return;
  renderedPaused = paused;
  renderedCommands = visible.join();
  ui.actions.replaceChildren(
    ...visible.map((c) => {
      const b = el('button', { type: 'button', 'data-command': c }, COMMAND_LABELS[c]);
      b.addEventListener('click', () => vscode.postMessage({ type: 'runCommand', command: c }));
      return b;
    }),
  );
}

// ---- uPlot ------------------------------------------------------------------------------------------------

interface Theme {
  fg: string;
  grid: string;
  font: string;
  hue: Record<Hue, string>;
}

function readTheme(): Theme {
  const css = getComputedStyle(document.body);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  const dark = document.body.classList.contains('vscode-dark') || document.body.classList.contains('vscode-high-contrast');
  const fg = v('--vscode-charts-foreground', v('--vscode-foreground', dark ? '#cccccc' : '#333333'));
  diag.chartTheme = `${fg}|${v('--vscode-charts-blue', '')}`; // lets tests see that a theme change was picked up
  return {
    fg,
    // The grid token is drawn at full strength in some themes; fade it so the series stand out.
    grid: withAlpha(v('--vscode-charts-lines', dark ? '#cccccc' : '#333333'), 0.35),
    font: `11px ${v('--vscode-font-family', 'sans-serif')}`,
    hue: {
      foreground: fg,
      blue: v('--vscode-charts-blue', '#3794ff'),
      red: v('--vscode-charts-red', '#f14c4c'),
      green: v('--vscode-charts-green', '#89d185'),
      yellow: v('--vscode-charts-yellow', '#cca700'),
      orange: v('--vscode-charts-orange', '#d18616'),
      purple: v('--vscode-charts-purple', '#b180d7'),
    },
  };
}

const WINDOW_S = history.options.windowMs / 1000;
/** A young history is drawn over at least this much time, so a few points are not squeezed to one edge. */
const MIN_SPAN_S = 60;

// A 24-hour clock: "14:05:30" fits between grid lines where "02:05:30 PM" collides.
const timeTicks = (ticks: number[], incrS: number): string[] => ticks.map((t) => formatClock(t * 1000, incrS < 60));

function chartOptions(def: ChartDef, theme: Theme, width: number): uPlot.Options {
  const axis = (extra: Partial<uPlot.Axis>): uPlot.Axis => ({
    stroke: theme.fg,
    font: theme.font,
    grid: { stroke: theme.grid, width: 1 },
    ticks: { stroke: theme.grid, width: 1, size: 4 },
    ...extra,
  });
  return {
    width,
    height: CHART_HEIGHT,
    // Always the whole window, newest at the right edge, so a young history does not stretch across the chart.
    scales: {
      x: {
        time: true,
        range: (_u, min, max) => {
          const end = max ?? Date.now() / 1000;
          return [end - Math.min(Math.max(end - (min ?? end), MIN_SPAN_S), WINDOW_S), end];
        },
      },
      y: { range: def.percent ? [0, 100] : (_u, _min, max) => [0, max > 0 ? max * 1.15 : 1] },
    },
    axes: [
      axis({ space: 70, values: (_u, ticks, _axis, _space, incr) => timeTicks(ticks, incr) }),
      axis({ size: 56, values: (_u, ticks) => ticks.map(formatAxis) }),
    ],
    series: [
      { label: 'at', value: (_u, t) => (t == null ? 'now' : formatClock(t * 1000)) },
      ...def.series.map((s): uPlot.Series => ({
        label: s.label,
        stroke: theme.hue[s.hue],
        width: 1.5,
        dash: s.dash,
        points: { show: false },
        spanGaps: false,
        value: (u, v, sidx, idx) => {
          // Pointer away from the chart: show the current value ("now") rather than a row of dashes.
          const shown = idx == null ? u.data[sidx].at(-1) : v;
          return shown == null ? '—' : def.format(shown);
        },
      })),
    ],
    cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6 } },
    legend: { live: true },
  };
}

function chartData(def: ChartDef): uPlot.AlignedData {
  return history.columns(def.series.map((s) => s.key));
}

// Read in start(): this script runs in <head>, before <body> exists.
let theme: Theme;

function renderCharts(): void {
  for (const def of CHARTS) {
    const c = ui.charts.get(def.id)!;
    const data = chartData(def);
    const hasValues = data.slice(1).some((col) => col.some((v) => v !== null && v !== undefined));
    c.fig.dataset.points = String(data[0].length);
    c.empty.hidden = hasValues;
    if (!hasValues) setText(c.empty, def.empty(last));
    const width = Math.floor(c.plot.clientWidth);
    if (width <= 0) continue; // not laid out yet: the ResizeObserver creates it
    if (!c.chart) {
      c.chart = new uPlot(chartOptions(def, theme, width), data, c.plot);
      c.width = width;
    } else {
      c.chart.setData(data);
    }
    const summary = def.series.map((s) => {
      const v = history.latest(s.key);
      return `${s.label} ${v === null ? 'no data' : def.format(v)}`;
    });
    c.plot.setAttribute('aria-label', `${def.title} over the last 5 minutes; now: ${summary.join(', ')}`);
  }
}

function rebuildCharts(): void {
  theme = readTheme();
  for (const c of ui.charts.values()) {
    c.chart?.destroy();
    c.chart = undefined;
  }
  renderCharts();
}

const resize = new ResizeObserver(() => {
  for (const c of ui.charts.values()) {
    const width = Math.floor(c.plot.clientWidth);
    if (width <= 0 || width === c.width) continue;
    if (!c.chart) {
      renderCharts(); // first layout: create the charts that waited for a width
      return;
    }
    c.width = width;
    c.chart.setSize({ width, height: CHART_HEIGHT });
  }
});

// VS Code swaps the body class (vscode-light / vscode-dark / vscode-high-contrast[-light]) and rewrites the
// --vscode-* variables on <html> when the theme changes: canvases do not follow CSS, so rebuild them.
let themeFrame = 0;
const onThemeChange = () => {
  cancelAnimationFrame(themeFrame);
  themeFrame = requestAnimationFrame(rebuildCharts);
};

// ---- messages -------------------------------------------------------------------------------------------

function reject(error: string): void {
  diag.rejectedMessages = String(Number(diag.rejectedMessages) + 1);
  console.warn(`AIOS metrics: ignored a malformed message (${error})`);
}

vscode.onMessage((data) => {
  const parsed = parseHostMessage(data);
  if (!parsed.ok) return reject(parsed.error);
  try {
    const msg = parsed.value;
    if (msg.type === 'init') {
      commands = msg.commands;
      if (msg.history) {
        // The host samples from activation on, hidden panel or not: its points replace ours where both have them.
        history = history.mergedWith(MetricsHistory.fromState(msg.history));
        history.prune(Date.now());
        // For tests and a look in the devtools: where the charts begin.
        diag.historyFrom = String(history.columns([])[0][0] ?? '');
        renderCharts();
      }
      renderActions();
      saveState();
      return;
    }
    diag.snapshotsReceived = String(Number(diag.snapshotsReceived) + 1);
    last = msg.snapshot;
    const chartsChanged = history.push(msg.snapshot);
    renderSnapshot(msg.snapshot);
    if (chartsChanged) {
      renderCharts();
      saveState();
    }
  } catch (err) {
    // A rendering bug must not take the panel down: keep the last good screen and say why in the devtools.
    console.error('AIOS metrics: failed to render a snapshot', err);
  }
});

function start(): void {
  theme = readTheme();
  buildDom();
  if (last) renderSnapshot(last);
  renderCharts();
  for (const c of ui.charts.values()) resize.observe(c.plot);
  const themeObserver = new MutationObserver(onThemeChange);
  themeObserver.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  themeObserver.observe(document.documentElement, { attributes: true, attributeFilter: ['style'] });
  vscode.postMessage({ type: 'ready' });
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
