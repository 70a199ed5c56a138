// The control state the user set on the running service, kept so a new process after a crash, a hang or a
// restart gets it back. Only operations that set lasting state are kept: UPDATE_LOG_LEVEL (per target, unless
// `persistent`: those are in the config file already), HEALTH_OVERRIDE (until it expires; 'clear' forgets it)
// and CUSTOM_COMMAND for commands the service marks replayable. FLUSH_CACHE, BCM_RESET and RELOAD_CONFIG are
// not: a new process starts with empty caches, zero counters and the config file. No `vscode` import.
import type { Clock } from '../core/clock';
import type { ControlOperation, ControlResult, HealthResult } from './protocol';

/** A control-plane operation as the extension makes it (palette, panel, rules, the endpoint, the API). */
export interface ControlCall {
  operation: ControlOperation;
  value?: string;
  parameters?: Record<string, unknown>;
  /** Who asked: 'command-palette', 'panel', an extension id… */
  source?: string;
}

export interface ReplayedCall {
  call: ControlCall;
  /** Short words for the log, e.g. "log level DEBUG", "health override unhealthy (42 s left)". */
  label: string;
}

export interface ReplayOutcome {
  applied: ReplayedCall[];
  failed: (ReplayedCall & { error: string })[];
  /** Health overrides that ran out meanwhile: not sent, and forgotten. */
  expired: ReplayedCall[];
}

export interface ControlStateOptions {
  clock: Pick<Clock, 'epochMs'>;
  /** Whether CUSTOM_COMMAND `command` is marked `replay: true` by the service (its aios/commands answer). */
  isReplayable(command: string): boolean;
}

/** The `source` of the calls replay() sends. */
export const REPLAY_SOURCE = 'restart-replay';

interface LevelEntry {
  seq: number;
  level: string;
}
interface CustomEntry {
  seq: number;
  arguments: Record<string, unknown>;
}
interface OverrideEntry {
  status: string;
  /** Epoch ms, or undefined for an override without a duration. */
  expiresAt: number | undefined;
}

const ROOT = '';

/** ControlState.toJSON(): the kept state in the order it is re-applied. */
export interface SavedControlState {
  version: 1;
  levels: { target: string; level: string }[];
  custom: { command: string; arguments: Record<string, unknown> }[];
  override: { status: string; expiresAt: number | null } | null;
}

export class ControlState {
  private seq = 0;
  /** Log levels by target module ('' = the service's own level). */
  private readonly levels = new Map<string, LevelEntry>();
  private readonly custom = new Map<string, CustomEntry>();
  private override: OverrideEntry | undefined;

  constructor(private readonly opts: ControlStateOptions) {}

  /** Nothing to re-apply. */
  get isEmpty(): boolean {
    return this.levels.size === 0 && this.custom.size === 0 && this.override === undefined;
  }

  /** Notes a control call that succeeded, with the service's reply. Calls that set no lasting state are ignored. */
  record(call: ControlCall, result: ControlResult): void {
    const params = call.parameters ?? {};
    switch (call.operation) {
      case 'UPDATE_LOG_LEVEL': {
        const detail = result.detail as { logLevel?: string; target?: string | null; persisted?: boolean } | undefined;
        const target = detail?.target ?? (typeof params.target_module === 'string' ? params.target_module : null) ?? ROOT;
        const level = detail?.logLevel ?? call.value?.toUpperCase();
        // A persistent level is in the config file, which the new process reads; an older run-time one is gone.
        if (detail?.persisted === true || params.persistent === true || !level) this.levels.delete(target);
        else this.levels.set(target, { seq: ++this.seq, level });
        break;
      }
      case 'HEALTH_OVERRIDE': {
        const detail = result.detail as { status?: string | null; expiresAt?: string | null } | undefined;
        const status = detail?.status ?? call.value?.trim().toLowerCase();
        if (!status || status === 'clear') {
          this.override = undefined;
          break;
        }
        this.override = { status, expiresAt: this.expiry(detail?.expiresAt, params.duration) };
        break;
      }
      case 'CUSTOM_COMMAND': {
        const command = typeof params.command === 'string' ? params.command : call.value;
        if (!command || !this.opts.isReplayable(command)) break;
        const args = params.arguments && typeof params.arguments === 'object' ? (params.arguments as Record<string, unknown>) : {};
        // The last arguments are what is in force; re-applied in the order of their last use.
        this.custom.set(command, { seq: ++this.seq, arguments: structuredClone(args) });
        break;
      }
      default:
        break;
    }
    if (result.state) this.observe(result.state);
  }

  /**
   * A state the service reported after the calls recorded so far (record() passes each reply's): a level kept
   * here that the service no longer has was replaced (RELOAD_CONFIG applying the file's levels, a handler
   * changing them) and is forgotten, as is an override no longer in force. Nothing is added from it. Do not
   * feed it a health answer that may have been sent before a control reply recorded since.
   */
  observe(state: HealthResult): void {
    for (const [target, entry] of this.levels) {
      const now = target === ROOT ? state.logLevel : state.loggers?.[target];
      if (now !== undefined && now !== entry.level) this.levels.delete(target);
    }
    if (this.override && state.overridden === false) this.override = undefined;
  }

  /** What is kept, as plain JSON (the extension keeps it in workspace state, so a window reload keeps it too). */
  toJSON(): SavedControlState {
    return {
      version: 1,
      levels: [...this.levels].sort((a, b) => a[1].seq - b[1].seq).map(([target, e]) => ({ target, level: e.level })),
      custom: [...this.custom].sort((a, b) => a[1].seq - b[1].seq).map(([command, e]) => ({ command, arguments: structuredClone(e.arguments) })),
      override: this.override ? { status: this.override.status, expiresAt: this.override.expiresAt ?? null } : null,
    };
  }

  /**
   * Takes back what toJSON() gave (an earlier extension host's state), over nothing: call it before anything is
   * recorded. Anything malformed is left out and named in the returned list; an override that has run out is
   * dropped.
   */
  restore(saved: unknown): string[] {
    const problems: string[] = [];
    if (saved === undefined || saved === null) return problems;
    const s = saved as Partial<SavedControlState>;
    if (typeof saved !== 'object' || s.version !== 1) return ['the saved control state has an unknown format; starting without it'];
    for (const e of Array.isArray(s.levels) ? s.levels : []) {
      if (e && typeof e.target === 'string' && typeof e.level === 'string' && /^[A-Z]+$/.test(e.level)) this.levels.set(e.target, { seq: ++this.seq, level: e.level });
      else problems.push(`a saved log level is malformed: ${JSON.stringify(e)}`);
    }
    for (const e of Array.isArray(s.custom) ? s.custom : []) {
      if (e && typeof e.command === 'string' && e.arguments && typeof e.arguments === 'object' && !Array.isArray(e.arguments)) {
        this.custom.set(e.command, { seq: ++this.seq, arguments: structuredClone(e.arguments) });
      } else problems.push(`a saved control command is malformed: ${JSON.stringify(e)}`);
    }
    const o = s.override;
    if (o && typeof o.status === 'string' && (o.expiresAt === null || typeof o.expiresAt === 'number')) {
      const override = { status: o.status, expiresAt: o.expiresAt ?? undefined };
      if (!this.hasExpired(override)) this.override = override;
    } else if (o) problems.push(`the saved health override is malformed: ${JSON.stringify(o)}`);
    return problems;
  }

  /** Forgets everything (a fresh restart). */
  forget(): void {
    this.levels.clear();
    this.custom.clear();
    this.override = undefined;
  }

  /**
   * The calls that bring a new process to the kept state, in the order they are sent: the service's log level,
   * the module levels, the custom commands (in the order of their last use), then the health override (last,
   * with only the time it had left, so the service's health reads right once everything else is in place).
   */
  calls(): ReplayedCall[] {
    const out: ReplayedCall[] = [];
    const root = this.levels.get(ROOT);
    if (root) out.push({ call: { operation: 'UPDATE_LOG_LEVEL', value: root.level, parameters: {} }, label: `log level ${root.level}` });
    for (const [target, entry] of [...this.levels].filter(([t]) => t !== ROOT).sort((a, b) => a[1].seq - b[1].seq)) {
      out.push({
        call: { operation: 'UPDATE_LOG_LEVEL', value: entry.level, parameters: { target_module: target } },
        label: `log level of ${target} ${entry.level}`,
      });
    }
    for (const [command, entry] of [...this.custom].sort((a, b) => a[1].seq - b[1].seq)) {
      out.push({ call: { operation: 'CUSTOM_COMMAND', parameters: { command, arguments: structuredClone(entry.arguments) } }, label: command });
    }
    const override = this.override;
    if (override && !this.hasExpired(override)) {
      if (override.expiresAt === undefined) {
        out.push({ call: { operation: 'HEALTH_OVERRIDE', value: override.status, parameters: {} }, label: `health override ${override.status}` });
      } else {
        // Seconds, as the service takes them; at least a millisecond so an override about to end is still valid.
        const left = Math.max(0.001, Math.round(override.expiresAt - this.opts.clock.epochMs()) / 1000);
        out.push({
          call: { operation: 'HEALTH_OVERRIDE', value: override.status, parameters: { duration: left } },
          label: `health override ${override.status} (${Math.ceil(left)} s left)`,
        });
      }
    }
    return out.map((c) => ({ ...c, call: { ...c.call, source: REPLAY_SOURCE } }));
  }

  /**
   * Re-applies the kept state through `send`, one call at a time, in calls() order. A failed call is reported
   * and kept (the next new process tries it again; a fresh restart forgets it); an override that expired
   * meanwhile is dropped. Never rejects.
   */
  async replay(send: (call: ControlCall) => Promise<unknown>): Promise<ReplayOutcome> {
    const outcome: ReplayOutcome = { applied: [], failed: [], expired: [] };
    if (this.override && this.hasExpired(this.override)) {
      outcome.expired.push({ call: { operation: 'HEALTH_OVERRIDE', value: this.override.status, source: REPLAY_SOURCE }, label: `health override ${this.override.status}` });
      this.override = undefined;
    }
    for (const item of this.calls()) {
      try {
        await send(item.call);
        outcome.applied.push(item);
      } catch (err) {
        outcome.failed.push({ ...item, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return outcome;
  }

  private hasExpired(override: OverrideEntry): boolean {
    return override.expiresAt !== undefined && override.expiresAt <= this.opts.clock.epochMs();
  }

  private expiry(iso: string | null | undefined, duration: unknown): number | undefined {
    const fromService = iso ? Date.parse(iso) : NaN;
    if (Number.isFinite(fromService)) return fromService;
    return typeof duration === 'number' && duration > 0 ? this.opts.clock.epochMs() + duration * 1000 : undefined;
  }
}

/** One log line for a replay, or undefined when there was nothing to re-apply. */
export function describeReplay(outcome: ReplayOutcome): string | undefined {
  const parts: string[] = [];
  if (outcome.applied.length) parts.push(`re-applied ${outcome.applied.map((c) => c.label).join(', ')}`);
  if (outcome.failed.length) parts.push(`could not re-apply ${outcome.failed.map((c) => `${c.label} (${c.error})`).join(', ')}`);
  if (outcome.expired.length) parts.push(`${outcome.expired.map((c) => c.label).join(', ')} had expired`);
  return parts.length ? `Control state for the new Python service: ${parts.join('; ')}` : undefined;
}
