// The metrics panel's message protocol, shared by the extension host (src/views/metricsPanel.ts) and the
// webview (src/webview/main.ts). Types and pure validators only: no `vscode`, no DOM, so both bundles and
// plain-Node unit tests can import it. Every message crossing the boundary goes through a parse* function:
// the other side may be an older build (a restored panel), a bug, or a hostile page, and a malformed
// message must be dropped with a warning, never thrown into the UI.

import { Commands } from '../shared/ids';

export type ServiceStatus = 'starting' | 'healthy' | 'unhealthy' | 'stopped' | 'crashed';
export const SERVICE_STATUSES: readonly ServiceStatus[] = ['starting', 'healthy', 'unhealthy', 'stopped', 'crashed'];

export interface OverallSnapshot {
  totalCommands: number;
  successfulCommands: number;
  failedCommands: number;
  /** 0..1 */
  successRate: number;
  averageDurationMs: number;
  throttledCommands: number;
  cancelledCommands: number;
  blockedCommands: number;
  /** Never ran (invalid, blocked, queue full, unknown type): part of failedCommands. Absent from older hosts. */
  refusedCommands?: number;
}

/** One source kind's figures (the host's SOURCE_KINDS: palette, api, task, batch, cli, endpoint, terminal, other, control). */
export interface SourceSnapshot {
  source: string;
  count: number;
  /** 0..1 */
  successRate: number;
  errorCount: number;
  refusedCount: number;
  cancelledCount: number;
  p95: number;
}

export interface TypeSnapshot {
  commandType: string;
  count: number;
  averageDurationMs: number;
  p95: number;
  errorCount: number;
  /** ISO 8601 */
  lastExecuted?: string;
}

export interface MetricsSnapshot {
  /** Epoch ms when the snapshot was taken. */
  at: number;
  /** The sources shown while the source filter is on (absent: all; the overall figures are then the headline,
   *  every source but commands typed in a terminal). */
  sources?: string[];
  overall: OverallSnapshot;
  /** Per source seen (within the filter). Absent from older hosts. */
  bySource?: SourceSnapshot[];
  /** Milliseconds, over all command types. */
  latency: { p50: number; p95: number; p99: number };
  admission: {
    active: number;
    limit: number;
    queued: { HIGH: number; NORMAL: number; LOW: number };
    paused: boolean;
    lastDelayMs: number;
    /** Who sets the limit: fixed (aios.maxConcurrency), adaptive (follows latency) or shared (with other windows). */
    mode?: string;
  };
  /** null while the sampler is off or has not measured yet. pythonProcesses is -1 when not counted. */
  system: { cpuPercent: number; memoryPercent: number; pythonProcesses: number } | null;
  /** downSince: epoch ms since when the service has not been running (while it is down). */
  service: { status: ServiceStatus; pid?: number; logLevel?: string; uptimeS?: number; downSince?: number; detail?: string };
  perType: TypeSnapshot[];
}

/**
 * Commands the webview may ask the host to run (its buttons). Anything else is refused on both sides;
 * the host also shows only the ones that are registered at the time (see InitMessage.commands).
 */
export const PANEL_COMMANDS = [
  Commands.pauseAdmission,
  Commands.resumeAdmission,
  Commands.restartPythonService,
  Commands.showTelemetry,
  Commands.filterTelemetryBySource,
  Commands.showOutput,
] as const;
export type PanelCommand = (typeof PANEL_COMMANDS)[number];

export const isPanelCommand = (v: unknown): v is PanelCommand => typeof v === 'string' && (PANEL_COMMANDS as readonly string[]).includes(v);

/** Host → webview. `init` answers every `ready` (the webview is recreated whenever it is shown again). */
/** `history`: the host's own chart history (HistoryState rows), so the charts start from what already happened. */
export type InitMessage = { type: 'init'; commands: PanelCommand[]; history?: { v: 1; rows: (number | null)[][] } };
export type SnapshotMessage = { type: 'snapshot'; snapshot: MetricsSnapshot };
export type HostMessage = InitMessage | SnapshotMessage;

/** Webview → host. */
export type ReadyMessage = { type: 'ready' };
export type RunCommandMessage = { type: 'runCommand'; command: PanelCommand };
export type WebviewMessage = ReadyMessage | RunCommandMessage;

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Bounds that keep a bad snapshot from making the webview build a huge table or string. */
export const MAX_PER_TYPE = 1000;
export const MAX_SOURCES = 16;
/** A chart history the host may send: five minutes at one point a second, with room to spare. */
export const MAX_HISTORY_ROWS = 2000;
const MAX_STRING = 500;

// A tiny validator toolkit: each check returns an error path or undefined, so the first problem is reported
// precisely (e.g. "snapshot.admission.queued.LOW: expected a finite number ≥ 0").
type Check = (v: unknown, path: string) => string | undefined;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const num =
  (min = -Infinity, max = Infinity): Check =>
  (v, path) =>
    typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max
      ? undefined
      : `${path}: expected a finite number${min > -Infinity ? ` ≥ ${min}` : ''}${max < Infinity ? ` ≤ ${max}` : ''}`;
const count = num(0);
const bool: Check = (v, path) => (typeof v === 'boolean' ? undefined : `${path}: expected a boolean`);
const str: Check = (v, path) =>
  typeof v === 'string' && v.length <= MAX_STRING ? undefined : `${path}: expected a string of at most ${MAX_STRING} characters`;
const oneOf =
  (values: readonly string[]): Check =>
  (v, path) =>
    typeof v === 'string' && values.includes(v) ? undefined : `${path}: expected one of ${values.join(', ')}`;
const optional =
  (check: Check): Check =>
  (v, path) =>
    v === undefined ? undefined : check(v, path);

function object(shape: Record<string, Check>): Check {
  return (v, path) => {
    if (!isRecord(v)) return `${path}: expected an object`;
    for (const [key, check] of Object.entries(shape)) {
      const err = check(v[key], `${path}.${key}`);
      if (err) return err;
    }
    return undefined;
  };
}

function arrayOf(item: Check, max: number): Check {
  return (v, path) => {
    if (!Array.isArray(v)) return `${path}: expected an array`;
    if (v.length > max) return `${path}: more than ${max} entries`;
    for (let i = 0; i < v.length; i++) {
      const err = item(v[i], `${path}[${i}]`);
      if (err) return err;
    }
    return undefined;
  };
}

const nullable =
  (check: Check): Check =>
  (v, path) =>
    v === null ? undefined : check(v, path);

const checkSnapshot: Check = object({
  at: count,
  sources: optional(arrayOf(str, MAX_SOURCES)),
  bySource: optional(
    arrayOf(object({ source: str, count, successRate: num(0, 1), errorCount: count, refusedCount: count, cancelledCount: count, p95: count }), MAX_SOURCES),
  ),
  overall: object({
    totalCommands: count,
    successfulCommands: count,
    failedCommands: count,
    successRate: num(0, 1),
    averageDurationMs: count,
    throttledCommands: count,
    cancelledCommands: count,
    blockedCommands: count,
    refusedCommands: optional(count),
  }),
  latency: object({ p50: count, p95: count, p99: count }),
  admission: object({
    active: count,
    limit: count,
    queued: object({ HIGH: count, NORMAL: count, LOW: count }),
    paused: bool,
    lastDelayMs: count,
    mode: optional(str),
  }),
  system: nullable(object({ cpuPercent: num(0, 100), memoryPercent: num(0, 100), pythonProcesses: num(-1) })),
  service: object({
    status: oneOf(SERVICE_STATUSES),
    pid: optional(count),
    logLevel: optional(str),
    uptimeS: optional(count),
    downSince: optional(count),
    detail: optional(str),
  }),
  perType: arrayOf(
    object({
      commandType: str,
      count,
      averageDurationMs: count,
      p95: count,
      errorCount: count,
      lastExecuted: optional(str),
    }),
    MAX_PER_TYPE,
  ),
});

export function parseSnapshot(v: unknown, path = 'snapshot'): Parsed<MetricsSnapshot> {
  const error = checkSnapshot(v, path);
  return error ? { ok: false, error } : { ok: true, value: v as MetricsSnapshot };
}

export function parseHostMessage(v: unknown): Parsed<HostMessage> {
  if (!isRecord(v)) return { ok: false, error: 'message: expected an object' };
  switch (v.type) {
    case 'snapshot': {
      const s = parseSnapshot(v.snapshot);
      return s.ok ? { ok: true, value: { type: 'snapshot', snapshot: s.value } } : s;
    }
    case 'init': {
      const err = arrayOf((c, p) => (isPanelCommand(c) ? undefined : `${p}: not an allowed command`), PANEL_COMMANDS.length)(v.commands, 'init.commands');
      if (err) return { ok: false, error: err };
      const history = v.history;
      if (history !== undefined) {
        // Rows are checked one by one where they are used (MetricsHistory.fromState skips bad ones); here, the shape and a bound.
        const rows = isRecord(history) ? history.rows : undefined;
        if (!isRecord(history) || history.v !== 1 || !Array.isArray(rows) || rows.length > MAX_HISTORY_ROWS) {
          return { ok: false, error: `init.history: expected {v: 1, rows: [...]} with at most ${MAX_HISTORY_ROWS} rows` };
        }
        return { ok: true, value: { type: 'init', commands: v.commands as PanelCommand[], history: history as InitMessage['history'] } };
      }
      return { ok: true, value: { type: 'init', commands: v.commands as PanelCommand[] } };
    }
    default:
      return { ok: false, error: `message.type: unknown host message type ${JSON.stringify(String(v.type)).slice(0, 60)}` };
  }
}

export function parseWebviewMessage(v: unknown): Parsed<WebviewMessage> {
  if (!isRecord(v)) return { ok: false, error: 'message: expected an object' };
  switch (v.type) {
    case 'ready':
      return { ok: true, value: { type: 'ready' } };
    case 'runCommand':
      return isPanelCommand(v.command)
        ? { ok: true, value: { type: 'runCommand', command: v.command } }
        : { ok: false, error: `runCommand.command: ${JSON.stringify(String(v.command)).slice(0, 80)} is not an allowed command` };
    default:
      return { ok: false, error: `message.type: unknown webview message type ${JSON.stringify(String(v.type)).slice(0, 60)}` };
  }
}
