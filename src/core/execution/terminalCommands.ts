// Commands people type in terminals, recorded as telemetry (`TERMINAL:<program>`, START then COMPLETE or
// ERROR with durationMs and the exit code). They already run when we hear of them, so they take no
// admission slot and cannot be stopped: the security policy only warns. Plain Node, no vscode.
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { compileGlob, type GlobMatcher } from '../pipeline';
import type { SourceKind } from '../telemetry';
import type { EventType, Priority } from '../types';

export const TERMINAL_PREFIX = 'TERMINAL:';
/** The source kind of what is typed in a terminal (SOURCE_KINDS): observed, never run by AIOS. */
const TERMINAL_SOURCE: SourceKind = 'terminal';
/** Open recordings at most (a terminal that never reports an end must not grow memory). */
export const MAX_OPEN_RECORDINGS = 1000;

/** What the recorder needs of telemetry: the pipeline's own `Telemetry.emit`. */
export type EmitFn = (
  eventType: EventType,
  commandId: string,
  commandType: string,
  priority: Priority,
  durationMs: number | undefined,
  metadata: Readonly<Record<string, unknown>> | undefined,
  timed?: boolean,
) => unknown;

const ENV_ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;
const WRAPPERS = new Set(['sudo', 'env', 'time', 'nohup', 'command', 'exec', 'builtin', 'nice', '&', '.']);

/** Splits off the first words of a command line, honouring simple quotes (enough to find the program). */
function words(commandLine: string, max: number): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (const m of commandLine.matchAll(re)) {
    out.push(m[1] ?? m[2] ?? m[3]);
    if (out.length >= max) break;
  }
  return out;
}

/**
 * The program a command line runs, as a command-type-safe name: the first word after environment
 * assignments and wrappers like `sudo`, its folder and a Windows extension dropped, other characters
 * replaced by `_`. `unknown` when there is none.
 */
export function programOf(commandLine: string): string {
  for (const w of words(commandLine, 16)) {
    if (ENV_ASSIGNMENT.test(w) || WRAPPERS.has(w)) continue;
    if (w.startsWith('-')) continue; // a wrapper's option (`nice -n 5 make`)
    let name = basename(w.replace(/\\/g, '/')).replace(/\.(exe|cmd|bat|com|ps1)$/i, '');
    name = name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '');
    if (name) return name.slice(0, 100);
  }
  return 'unknown';
}

export function terminalCommandType(commandLine: string): string {
  return `${TERMINAL_PREFIX}${programOf(commandLine)}`;
}

type Matcher = GlobMatcher;

const compile = (patterns: readonly string[]): Matcher[] => patterns.map(compileGlob);

export interface TerminalPolicy {
  denyPatterns: readonly string[];
  allowPatterns: readonly string[];
}

export interface TerminalRecorderOptions {
  emit: EmitFn;
  policy: () => TerminalPolicy;
  /** Keep the whole command line in telemetry (off by default: it may hold secrets). */
  recordCommandLines: () => boolean;
  now?: () => number;
}

export interface TerminalRecording {
  readonly commandId: string;
  readonly commandType: string;
  /** Set when the policy would have refused it: a warning for the user (it cannot be stopped). */
  readonly warning?: string;
  /** Records COMPLETE (exit code 0) or ERROR (any other code, or none reported). */
  end(exitCode: number | undefined): void;
  /** Records ERROR: the command's end will never be known (its terminal closed). */
  abandon(reason: string): void;
}

export class TerminalRecorder {
  private readonly idPrefix = `term-${randomBytes(3).toString('hex')}`;
  private counter = 0;
  private readonly open = new Set<TerminalRecording>();
  private policyKey = '';
  private deny: Matcher[] = [];
  private allow: Matcher[] = [];
  private readonly now: () => number;

  constructor(private readonly opts: TerminalRecorderOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  get openCount(): number {
    return this.open.size;
  }

  /** The policy's verdict on a command line: undefined when allowed, else a sentence naming the pattern. */
  check(commandLine: string, commandType = terminalCommandType(commandLine)): string | undefined {
    const p = this.opts.policy();
    const key = `${p.denyPatterns.join('\n')}\0${p.allowPatterns.join('\n')}`;
    if (key !== this.policyKey) {
      this.policyKey = key;
      this.deny = compile(p.denyPatterns);
      this.allow = compile(p.allowPatterns);
    }
    const denied = this.deny.find((m) => m.test(commandType) || m.test(commandLine));
    if (denied) return `matches the deny pattern '${denied.pattern}' (setting aios.security.denyPatterns)`;
    if (this.allow.length && !this.allow.some((m) => m.test(commandType))) {
      return `matches none of the allow patterns ${JSON.stringify(p.allowPatterns)} (setting aios.security.allowPatterns)`;
    }
    return undefined;
  }

  /** A command started in a terminal: records START and returns its recording. */
  start(commandLine: string, meta: { terminal?: string; confidence?: string } = {}): TerminalRecording {
    // Bounded: the oldest open recording is given up rather than letting a silent terminal grow memory.
    if (this.open.size >= MAX_OPEN_RECORDINGS) this.open.values().next().value?.abandon('too many terminal commands without an end');
    const commandType = terminalCommandType(commandLine);
    const commandId = `${this.idPrefix}-${(++this.counter).toString(36)}`;
    const verdict = this.check(commandLine, commandType);
    const t0 = this.now();
    const metadata: Record<string, unknown> = { source: TERMINAL_SOURCE };
    if (meta.terminal !== undefined) metadata.terminal = meta.terminal;
    if (this.opts.recordCommandLines()) metadata.commandLine = commandLine.slice(0, 4000);
    if (meta.confidence !== undefined) metadata.confidence = meta.confidence;
    if (verdict) metadata.policy = verdict;
    this.opts.emit('START', commandId, commandType, 'NORMAL', undefined, metadata);
    let ended = false;
    const finish = (eventType: EventType, data: Record<string, unknown>) => {
      if (ended) return;
      ended = true;
      this.open.delete(recording);
      // The source on the end too: a reader of the end alone (stats, exporters) attributes it without its START.
      this.opts.emit(eventType, commandId, commandType, 'NORMAL', this.now() - t0, { ...data, source: TERMINAL_SOURCE }, true);
    };
    const recording: TerminalRecording = {
      commandId,
      commandType,
      ...(verdict
        ? {
            warning: `The terminal command '${shorten(commandLine)}' ${verdict}. AIOS cannot stop commands typed in a terminal; it only records them.`,
          }
        : {}),
      end: (exitCode) => {
        if (exitCode === 0) finish('COMPLETE', { exitCode: 0 });
        else if (exitCode === undefined) finish('ERROR', { code: 'exit_unknown', message: 'The shell did not report an exit code' });
        else finish('ERROR', { code: 'exit_code', message: `exited with code ${exitCode}`, exitCode });
      },
      abandon: (reason) => finish('ERROR', { code: 'abandoned', message: reason }),
    };
    this.open.add(recording);
    return recording;
  }
}

function shorten(s: string): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > 80 ? `${one.slice(0, 77)}…` : one;
}
