// Where a command came from: one closed vocabulary of source kinds, the same words in requests, events,
// stats, reports, exporters and docs. Every place that submits a command names its kind (and, where it has
// one, a caller: the extension id of an API caller, the `source` an HTTP client gave); events carry both on
// every event of a command, START to COMPLETE/ERROR/CANCEL, so a reader needs no join.
import { CONTROL_PREFIX, RULE_PREFIX } from '../types';

/**
 * - palette: a person in VS Code: the Command Palette, the tree's Run Again, the parameters editor;
 * - api: another extension (the typed API, or executeCommand('aios.runCommand', …));
 * - task: a VS Code task of type `aios`;
 * - batch: a line of "AIOS: Run Batch…";
 * - cli: `aios run` / `aios control` in a terminal (admitted like any command);
 * - endpoint: the HTTP control endpoint (and the browser dashboard it serves);
 * - terminal: a command typed in a terminal, recorded through shell integration (observed, never run by AIOS);
 * - other: no source, or one that names no kind (events written before sources were kept);
 * - control: a control-plane operation (CONTROL:*), whoever asked: they are never counted as commands;
 * - rule: a remediation rule's record (RULE:*), never counted as a command either.
 * Shell command types are an executor, not a source: they carry the source of whoever ran them.
 */
export const SOURCE_KINDS = ['palette', 'api', 'task', 'batch', 'cli', 'endpoint', 'terminal', 'other', 'control', 'rule'] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** The kinds whose events are commands (every kind but control operations and rule records). */
export const COMMAND_SOURCE_KINDS: readonly SourceKind[] = SOURCE_KINDS.filter((k) => k !== 'control' && k !== 'rule');

/**
 * The kinds in the headline figures (Commands, Success rate, latency): what the middleware itself ran or
 * refused. Terminal commands are only observed (no slot, no policy that can stop them, the program is the
 * user's): they have their figures under their own source and move none of the headline ones.
 */
export const HEADLINE_SOURCE_KINDS: readonly SourceKind[] = COMMAND_SOURCE_KINDS.filter((k) => k !== 'terminal');

/** How a person reads each kind (tree rows, the filter's pick, the panel). */
export const SOURCE_LABELS: Readonly<Record<SourceKind, string>> = {
  palette: 'Palette and tree',
  api: 'Other extensions (API)',
  task: 'Tasks',
  batch: 'Batches',
  cli: '`aios` in a terminal',
  endpoint: 'HTTP control endpoint',
  terminal: 'Typed in a terminal (recorded)',
  other: 'Other or unknown',
  control: 'Control operations',
  rule: 'Rules',
};

/** Index of each kind in SOURCE_KINDS (no prototype: `SOURCE_INDEX[anyString]` is a number or undefined). */
export const SOURCE_INDEX: Readonly<Record<string, number | undefined>> = Object.assign(
  Object.create(null) as Record<string, number>,
  Object.fromEntries(SOURCE_KINDS.map((k, i) => [k, i])),
);

const HEADLINE = new Set<string>(HEADLINE_SOURCE_KINDS);

export function isSourceKind(v: unknown): v is SourceKind {
  return typeof v === 'string' && SOURCE_INDEX[v] !== undefined;
}

/** Whether a kind counts in the headline figures (see HEADLINE_SOURCE_KINDS). */
export function inHeadline(kind: SourceKind): boolean {
  return HEADLINE.has(kind);
}

/** Commands only: control operations (CONTROL:*) and rule records (RULE:*) are never counted as commands. */
export function countsAsCommand(commandType: string): boolean {
  return !commandType.startsWith(CONTROL_PREFIX) && !commandType.startsWith(RULE_PREFIX);
}

export interface CommandSource {
  readonly kind: SourceKind;
  /** Who, within the kind: an API caller's extension id, an HTTP client's own `source`, who asked for a control operation. */
  readonly caller?: string;
}

/**
 * A command's source as its events carry it: the kind, the caller, and the constant metadata `{source,
 * caller}` that START and COMPLETE reuse when there is nothing else to say (its JSON is then written once).
 */
export interface SourceTag extends CommandSource {
  readonly metadata: Readonly<Record<string, string>>;
}

/** A request's `source` is at most this long (the pipeline's validation); a caller is cut to fit after its kind. */
export const MAX_SOURCE_LENGTH = 128;
const CONTROL_CHARS = /\p{Cc}/gu;

/**
 * The `source` string a request carries: `kind`, or `kind:caller` (`api:publisher.name`, `endpoint:curl`).
 * The caller is someone else's text: control characters are dropped and it is cut to fit.
 */
export function sourceString(kind: SourceKind, caller?: unknown): string {
  if (typeof caller !== 'string') return kind;
  const clean = caller
    .replace(CONTROL_CHARS, '')
    .trim()
    .slice(0, MAX_SOURCE_LENGTH - kind.length - 1);
  return clean ? `${kind}:${clean}` : kind;
}

/** Names written before there were kinds (START's `source` until this version), and what they mean. */
const LEGACY: Readonly<Record<string, CommandSource | undefined>> = Object.assign(Object.create(null) as Record<string, CommandSource>, {
  'command-palette': { kind: 'palette' },
  'telemetry-tree': { kind: 'palette', caller: 'telemetry-tree' },
  'terminal-cli': { kind: 'cli' },
  http: { kind: 'endpoint' },
  dashboard: { kind: 'endpoint', caller: 'dashboard' },
});

/**
 * A request's `source` string as a kind and a caller: `kind` or `kind:caller` for the command kinds, the
 * names older versions wrote, and anything else as `other` with the text as its caller. `control` and `rule`
 * are never taken from a request's own words: they follow from the command type (commandSource).
 */
export function parseSource(raw: unknown): CommandSource {
  if (typeof raw !== 'string' || raw === '') return { kind: 'other' };
  const legacy = LEGACY[raw];
  if (legacy) return legacy;
  const colon = raw.indexOf(':');
  const head = colon < 0 ? raw : raw.slice(0, colon);
  if (isSourceKind(head) && head !== 'control' && head !== 'rule') {
    const caller = colon < 0 ? '' : raw.slice(colon + 1);
    return caller ? { kind: head, caller } : { kind: head };
  }
  return { kind: 'other', caller: raw };
}

/** The source of a command of `commandType` submitted with `raw`: control operations and rule records by their type. */
export function commandSource(commandType: string, raw: unknown): CommandSource {
  if (commandType.startsWith(CONTROL_PREFIX)) return typeof raw === 'string' && raw !== '' ? { kind: 'control', caller: raw } : { kind: 'control' };
  if (commandType.startsWith(RULE_PREFIX)) return { kind: 'rule' };
  return parseSource(raw);
}

/**
 * The kind of an event, without allocating: control operations and rule records by their type; else its
 * metadata's `source` when that is a kind (events of this version on), else what an older event says (a
 * START's old name; nothing on older ends: `other`).
 */
export function sourceKindOf(commandType: string, metadata: Readonly<Record<string, unknown>> | undefined): SourceKind {
  if (commandType.startsWith(CONTROL_PREFIX)) return 'control';
  if (commandType.startsWith(RULE_PREFIX)) return 'rule';
  const s = metadata?.source;
  if (typeof s === 'string' && SOURCE_INDEX[s] !== undefined) return s as SourceKind;
  return parseSource(s).kind;
}

/** An event's kind and caller, for readers of any version's events (see sourceKindOf). */
export function eventSource(e: { readonly commandType: string; readonly metadata?: Readonly<Record<string, unknown>> }): CommandSource {
  const m = e.metadata;
  const s = m?.source;
  const caller = m?.caller;
  // This version writes the kind and the caller apart; older events wrote one name on START only.
  if (isSourceKind(s) && (s === 'control') === e.commandType.startsWith(CONTROL_PREFIX)) {
    return typeof caller === 'string' ? { kind: s, caller } : { kind: s };
  }
  return commandSource(e.commandType, s);
}

/** `kind` or `kind (caller)`, for a person. */
export function describeSource(s: CommandSource): string {
  return s.caller ? `${s.kind} (${s.caller})` : s.kind;
}
