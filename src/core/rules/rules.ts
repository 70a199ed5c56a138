// Remediation rules (setting aios.rules): "when a metric has been above/below a threshold for N seconds, do
// this; when it has been clear for N seconds, undo it; then wait before firing again". Rules are data; the
// engine reads a MetricReader on the sampler's tick (about once a second, never on the command path) and acts
// through injected functions: the control plane, the middleware's limits, a notification, the log. It never
// throws into the sampler, and one bad rule (or one failing action) leaves the others running.
import type { Clock } from '../clock';
import { CONFIG_NUMBER_RULES, show } from '../config';
import { Listeners } from '../listeners';
import { METRICS, type MetricName, type MetricReader, type MetricValues } from './metrics';
import type { Sampler } from '../system';
import { RULE_PREFIX, type Disposable } from '../types';

// ---- the rule language ------------------------------------------------------------------------------------

/** The control plane's operations (src/python/protocol.ts CONTROL_OPERATIONS; a unit test keeps them equal). */
export const RULE_CONTROL_OPERATIONS = ['UPDATE_LOG_LEVEL', 'FLUSH_CACHE', 'RELOAD_CONFIG', 'HEALTH_OVERRIDE', 'BCM_RESET', 'CUSTOM_COMMAND'] as const;
export type RuleControlOperation = (typeof RULE_CONTROL_OPERATIONS)[number];

/** Middleware settings a rule may change (their ranges are the settings' own, CONFIG_NUMBER_RULES). */
export const RULE_LIMIT_KEYS = ['maxConcurrency', 'baseDelayMs', 'maxDelayMs', 'cpuThreshold', 'maxQueueSize', 'agingMs'] as const;
export type RuleLimitKey = (typeof RULE_LIMIT_KEYS)[number];
export type RuleLimits = Partial<Record<RuleLimitKey, number>>;

/** Thresholds each metric accepts. errorRate is a fraction (0.1 = 10 %), like the stats' successRate. */
export const METRIC_BOUNDS: Readonly<Record<MetricName, { min: number; max: number; unit: string }>> = Object.freeze({
  cpuPercent: { min: 0, max: 100, unit: 'percent' },
  memoryPercent: { min: 0, max: 100, unit: 'percent' },
  queueDepth: { min: 0, max: 1_000_000, unit: 'commands waiting' },
  throttledPerMinute: { min: 0, max: 1_000_000, unit: 'throttled commands in the last 60 s' },
  errorRate: { min: 0, max: 1, unit: 'fraction of ended commands, 0.1 = 10 %' },
  p95Ms: { min: 0, max: 3_600_000, unit: 'milliseconds, over the last 60 s' },
});

export const RULE_DEFAULTS = Object.freeze({ forSeconds: 10, cooldownSeconds: 60 });
export const RULE_BOUNDS = Object.freeze({ forSeconds: { min: 0, max: 3600 }, cooldownSeconds: { min: 0, max: 86_400 } });
export const MAX_RULES = 100;
const MAX_MESSAGE = 1000;
/** A rule's name is part of its records' command type, RULE:<name>: the characters a command type allows. */
const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const HEALTH_VALUES = ['healthy', 'unhealthy', 'clear'];

export interface RuleControlCall {
  operation: RuleControlOperation;
  value?: string;
  parameters?: Record<string, unknown>;
}

export type RuleAction = { kind: 'control'; control: RuleControlCall } | { kind: 'limits'; limits: RuleLimits } | { kind: 'notify'; message: string };

export interface Rule {
  name: string;
  /** Place in the setting's list, 0-based. */
  index: number;
  enabled: boolean;
  metric: MetricName;
  direction: 'above' | 'below';
  threshold: number;
  /** The rule counts as clear once the metric is at or past this (at or below for `above`, at or above for
   *  `below`); defaults to the threshold. A margin (above 90, clearAt 80) keeps a value near the threshold
   *  from restoring and firing in turn. */
  clearAt: number;
  forSeconds: number;
  cooldownSeconds: number;
  then: RuleAction;
  restore?: RuleAction;
}

export interface InvalidRule {
  index: number;
  /** The name it was given, or `#<index>` when it has none. */
  name: string;
  problem: string;
}

export interface ParsedRules {
  rules: Rule[];
  invalid: InvalidRule[];
  /** One message per bad rule (or for the whole setting), naming it and what is wrong. */
  problems: string[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function unknownKeys(o: Record<string, unknown>, known: readonly string[], where: string, out: string[]): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) out.push(`${where}${k} is not a rule field (known: ${known.join(', ')})`);
}

function numberIn(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
}

function parseAction(v: unknown, where: string, out: string[]): RuleAction | undefined {
  if (!isRecord(v)) {
    out.push(`${where} must be one of {"control": {...}}, {"limits": {...}}, {"notify": "message"} (got ${show(v)})`);
    return undefined;
  }
  const kinds = ['control', 'limits', 'notify'].filter((k) => k in v);
  if (kinds.length !== 1 || Object.keys(v).length !== 1) {
    out.push(`${where} must have exactly one of control, limits, notify (got ${Object.keys(v).join(', ') || 'none'})`);
    return undefined;
  }
  if ('notify' in v) {
    const m = v.notify;
    if (typeof m !== 'string' || m.trim() === '' || m.length > MAX_MESSAGE) {
      out.push(`${where}.notify must be a message of 1 to ${MAX_MESSAGE} characters (got ${show(m)})`);
      return undefined;
    }
    return { kind: 'notify', message: m };
  }
  if ('limits' in v) {
    const l = v.limits;
    if (!isRecord(l) || Object.keys(l).length === 0) {
      out.push(`${where}.limits must be an object with at least one of ${RULE_LIMIT_KEYS.join(', ')} (got ${show(l)})`);
      return undefined;
    }
    const limits: RuleLimits = {};
    const before = out.length;
    for (const [k, n] of Object.entries(l)) {
      if (!(RULE_LIMIT_KEYS as readonly string[]).includes(k)) {
        out.push(`${where}.limits.${k} is not a setting a rule may change (one of ${RULE_LIMIT_KEYS.join(', ')})`);
        continue;
      }
      const r = CONFIG_NUMBER_RULES[k];
      if (!numberIn(n, r.min, r.max) || (r.integer && !Number.isInteger(n))) {
        out.push(`${where}.limits.${k} must be ${r.integer ? 'an integer' : 'a number'} from ${r.min} to ${r.max}, as aios.${k} (got ${show(n)})`);
        continue;
      }
      limits[k as RuleLimitKey] = n;
    }
    return out.length === before ? { kind: 'limits', limits } : undefined;
  }
  const c = v.control;
  if (!isRecord(c)) {
    out.push(`${where}.control must be an object like {"operation": "CUSTOM_COMMAND", "parameters": {...}} (got ${show(c)})`);
    return undefined;
  }
  const before = out.length;
  unknownKeys(c, ['operation', 'value', 'parameters'], `${where}.control.`, out);
  const op = c.operation;
  if (typeof op !== 'string' || !(RULE_CONTROL_OPERATIONS as readonly string[]).includes(op)) {
    out.push(`${where}.control.operation must be one of ${RULE_CONTROL_OPERATIONS.join(', ')} (got ${show(op)})`);
    return undefined;
  }
  if (c.value !== undefined && typeof c.value !== 'string') out.push(`${where}.control.value must be a string (got ${show(c.value)})`);
  if (c.parameters !== undefined && !isRecord(c.parameters)) out.push(`${where}.control.parameters must be an object (got ${show(c.parameters)})`);
  const value = typeof c.value === 'string' ? c.value : undefined;
  const parameters = isRecord(c.parameters) ? c.parameters : undefined;
  if (op === 'CUSTOM_COMMAND') {
    const name = parameters?.command ?? value;
    if (typeof name !== 'string' || name === '') out.push(`${where}.control needs parameters.command, the control command to run (e.g. "reduce_complexity")`);
    if (parameters?.arguments !== undefined && !isRecord(parameters.arguments))
      out.push(`${where}.control.parameters.arguments must be an object (got ${show(parameters.arguments)})`);
  } else if (op === 'UPDATE_LOG_LEVEL' && (value === undefined || value === '')) {
    out.push(`${where}.control.value must name the log level for UPDATE_LOG_LEVEL (e.g. "WARNING")`);
  } else if (op === 'HEALTH_OVERRIDE' && !HEALTH_VALUES.includes(value?.trim().toLowerCase() ?? '')) {
    out.push(`${where}.control.value must be one of ${HEALTH_VALUES.join(', ')} for HEALTH_OVERRIDE (got ${show(c.value)})`);
  }
  if (out.length !== before) return undefined;
  const control: RuleControlCall = { operation: op as RuleControlOperation };
  if (value !== undefined) control.value = value;
  if (parameters !== undefined) control.parameters = parameters;
  return { kind: 'control', control };
}

function parseRule(v: unknown, index: number, names: Set<string>, out: string[]): Rule | undefined {
  if (!isRecord(v)) {
    out.push(`must be an object like {"name": ..., "when": {...}, "then": {...}} (got ${show(v)})`);
    return undefined;
  }
  unknownKeys(v, ['name', 'enabled', 'when', 'then', 'restore', 'cooldownSeconds'], '', out);
  const name = v.name;
  if (typeof name !== 'string' || !RULE_NAME.test(name)) {
    out.push(`name must be 1-64 letters, digits and _ . -, starting with a letter or digit (got ${show(name)})`);
  } else if (names.has(name)) {
    out.push(`name ${show(name)} is already used by an earlier rule`);
  }
  if (v.enabled !== undefined && typeof v.enabled !== 'boolean') out.push(`enabled must be true or false (got ${show(v.enabled)})`);
  const cooldownSeconds = v.cooldownSeconds ?? RULE_DEFAULTS.cooldownSeconds;
  const cb = RULE_BOUNDS.cooldownSeconds;
  if (!numberIn(cooldownSeconds, cb.min, cb.max)) out.push(`cooldownSeconds must be a number from ${cb.min} to ${cb.max} (got ${show(v.cooldownSeconds)})`);

  const when = v.when;
  let metric: MetricName | undefined;
  let direction: 'above' | 'below' | undefined;
  let threshold: number | undefined;
  let clearAt: number | undefined;
  let forSeconds: unknown;
  if (!isRecord(when)) {
    out.push(`when must be an object like {"metric": "cpuPercent", "above": 90, "forSeconds": 10} (got ${show(when)})`);
  } else {
    unknownKeys(when, ['metric', 'above', 'below', 'clearAt', 'forSeconds'], 'when.', out);
    if (typeof when.metric !== 'string' || !(METRICS as readonly string[]).includes(when.metric)) {
      out.push(`when.metric must be one of ${METRICS.join(', ')} (got ${show(when.metric)})`);
    } else {
      metric = when.metric as MetricName;
    }
    const hasAbove = when.above !== undefined;
    const hasBelow = when.below !== undefined;
    if (hasAbove === hasBelow) out.push(`when needs exactly one of above, below (got ${hasAbove ? 'both' : 'neither'})`);
    else direction = hasAbove ? 'above' : 'below';
    if (metric && direction) {
      const b = METRIC_BOUNDS[metric];
      const t = when[direction];
      if (!numberIn(t, b.min, b.max)) {
        const hint = metric === 'errorRate' && typeof t === 'number' && t > 1 ? `; for ${t} % write ${t / 100}` : '';
        out.push(`when.${direction} must be a number from ${b.min} to ${b.max} for ${metric} (${b.unit}) (got ${show(t)}${hint})`);
      } else {
        threshold = t;
        const c = when.clearAt ?? t;
        if (!numberIn(c, b.min, b.max)) out.push(`when.clearAt must be a number from ${b.min} to ${b.max} for ${metric} (got ${show(when.clearAt)})`);
        else if (direction === 'above' ? c > t : c < t)
          out.push(
            `when.clearAt (${c}) must be ${direction === 'above' ? 'at or below' : 'at or above'} when.${direction} (${t}): it is where the rule counts as clear again`,
          );
        else clearAt = c;
      }
    }
    forSeconds = when.forSeconds ?? RULE_DEFAULTS.forSeconds;
    const fb = RULE_BOUNDS.forSeconds;
    if (!numberIn(forSeconds, fb.min, fb.max)) out.push(`when.forSeconds must be a number from ${fb.min} to ${fb.max} (got ${show(when.forSeconds)})`);
  }
  if (v.then === undefined) out.push('then is missing: what the rule does when it fires');
  const then = v.then === undefined ? undefined : parseAction(v.then, 'then', out);
  const restore = v.restore === undefined ? undefined : parseAction(v.restore, 'restore', out);
  if (out.length > 0 || !metric || !direction || threshold === undefined || clearAt === undefined || !then) return undefined;
  names.add(name as string);
  return {
    name: name as string,
    index,
    enabled: v.enabled !== false,
    metric,
    direction,
    threshold,
    clearAt,
    forSeconds: forSeconds as number,
    cooldownSeconds: cooldownSeconds as number,
    then,
    ...(restore ? { restore } : {}),
  };
}

/** Checks the setting's list rule by rule: a bad rule is reported (by index and name) and left out; the others stand. */
export function parseRules(input: unknown, setting = 'aios.rules'): ParsedRules {
  const result: ParsedRules = { rules: [], invalid: [], problems: [] };
  if (input === undefined || input === null) return result;
  if (!Array.isArray(input)) {
    result.problems.push(`${setting} must be a list of rules (got ${show(input)}); no rule is active`);
    return result;
  }
  if (input.length > MAX_RULES) {
    result.problems.push(`${setting} may hold at most ${MAX_RULES} rules (got ${input.length}); no rule is active`);
    return result;
  }
  const names = new Set<string>();
  input.forEach((raw, index) => {
    const out: string[] = [];
    const rule = parseRule(raw, index, names, out);
    if (rule) {
      result.rules.push(rule);
      return;
    }
    const given = isRecord(raw) && typeof raw.name === 'string' && raw.name !== '' ? raw.name.slice(0, 64) : undefined;
    const problem = out.join('; ');
    result.invalid.push({ index, name: given ?? `#${index}`, problem });
    result.problems.push(`${setting}[${index}]${given ? ` ${show(given)}` : ''}: ${problem}; this rule is not active, the others are`);
  });
  return result;
}

// ---- formatting -------------------------------------------------------------------------------------------

/** A metric's value as people read it: 93.2%, 12.5% (errorRate), 350 ms, 12. */
export function formatMetric(metric: MetricName, value: number | undefined): string {
  if (value === undefined) return 'no data';
  switch (metric) {
    case 'cpuPercent':
    case 'memoryPercent':
      return `${round(value, 1)}%`;
    case 'errorRate':
      return `${round(value * 100, 1)}%`;
    case 'p95Ms':
      return `${round(value, 1)} ms`;
    default:
      return String(round(value, 1));
  }
}

const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** "cpuPercent > 90% for 10 s, clear at <= 80%" */
export function describeCondition(r: Rule): string {
  const op = r.direction === 'above' ? '>' : '<';
  const clear = r.clearAt === r.threshold ? '' : `, clear at ${r.direction === 'above' ? '<=' : '>='} ${formatMetric(r.metric, r.clearAt)}`;
  return `${r.metric} ${op} ${formatMetric(r.metric, r.threshold)} for ${r.forSeconds} s${clear}`;
}

/** "CUSTOM_COMMAND reduce_complexity {"factor":0.5}", "limits {"maxConcurrency":2}", "notify" */
export function describeAction(a: RuleAction | undefined): string {
  if (!a) return 'nothing';
  if (a.kind === 'notify') return 'notify';
  if (a.kind === 'limits') return `limits ${JSON.stringify(a.limits)}`;
  const { operation, value, parameters } = a.control;
  if (operation === 'CUSTOM_COMMAND') {
    const name = typeof parameters?.command === 'string' ? parameters.command : value;
    return `CUSTOM_COMMAND ${name}${parameters?.arguments !== undefined ? ` ${JSON.stringify(parameters.arguments)}` : ''}`;
  }
  return `${operation}${value !== undefined ? ` ${value}` : ''}${parameters && Object.keys(parameters).length ? ` ${JSON.stringify(parameters)}` : ''}`;
}

// ---- the engine -------------------------------------------------------------------------------------------

export type RuleLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** What rules act through; each is the extension's own path (the control plane goes through the pipeline). */
export interface RuleActions {
  /** A control-plane operation. A result with `success: false` (a CommandResult) or a rejection is a failure. */
  control(call: RuleControlCall & { source: string }): Promise<unknown>;
  /** Middleware settings (Middleware.updateConfig): returned problems are a failure. */
  setLimits(limits: RuleLimits): readonly string[] | void;
  /** Shows a message; must not wait for the user (the engine does not await it). */
  notify(message: string, severity: 'warning' | 'info'): void;
  log(level: RuleLogLevel, message: string): void;
}

/**
 * A rule's firing or restore as a telemetry event: command type `RULE:<name>`, COMPLETE when its action
 * succeeded (or it had none), ERROR when it failed (metadata.code 'rule_action_failed'). The core's stats count
 * RULE:* in their own per-type entry only, so rules never move the commands' (or control operations') figures.
 */
export interface RuleRecord {
  eventType: 'COMPLETE' | 'ERROR';
  commandType: string;
  priority: 'HIGH';
  /** How long the action took. */
  durationMs: number;
  metadata: RuleEventMetadata;
}

/** A type, not an interface, so it is a Record<string, unknown> for TelemetryEvent.metadata. */
export type RuleEventMetadata = {
  rule: string;
  action: 'fire' | 'restore';
  /** Why: the condition held / cleared, or the rule was changed, disabled or removed while firing. */
  reason: 'condition' | 'rule changed';
  metric: MetricName;
  /** The metric when the rule fired or cleared; null when there was no data (which counts as clear). */
  value: number | null;
  threshold: number;
  clearAt: number;
  direction: 'above' | 'below';
  forSeconds: number;
  /** What it did: the action's kind, 'none' for a restore the rule does not have. */
  effect: 'control' | 'limits' | 'notify' | 'none';
  /** describeAction(): e.g. "CUSTOM_COMMAND reduce_complexity {"factor":0.5}". */
  detail: string;
  /** The control operation's own commandId (its CONTROL:* events), when it returned one. */
  controlCommandId?: string;
  code?: 'rule_action_failed';
  message?: string;
};

/**
 * - armed: watching; the condition does not hold.
 * - holding: the condition holds, for less than forSeconds so far.
 * - firing: it fired; its `then` is in force.
 * - clearing: firing, and the condition has been clear for less than forSeconds so far.
 * - cooling: restored (or its action failed); it may not fire again before cooldownSeconds have passed.
 * - disabled: "enabled": false. invalid: the rule has a problem (see `problem`).
 */
export type RuleStatus = 'armed' | 'holding' | 'firing' | 'clearing' | 'cooling' | 'disabled' | 'invalid';

/** What the tree shows of one rule, in the setting's order. */
export interface RuleState {
  name: string;
  index: number;
  status: RuleStatus;
  /** describeCondition(), '' for an invalid rule. */
  condition: string;
  metric?: MetricName;
  forSeconds?: number;
  cooldownSeconds?: number;
  then?: string;
  restore?: string;
  /** The metric at the last tick; null before the first tick or when there was no data. */
  lastValue: number | null;
  /** formatMetric(metric, lastValue). */
  lastValueText: string;
  /** holding: how long the condition has held; clearing: how long it has been clear. */
  forMs: number | null;
  cooldownRemainingMs: number | null;
  /** Times it fired, failed fires included. */
  firedCount: number;
  /** ISO 8601 UTC. */
  lastFiredAt: string | null;
  lastRestoredAt: string | null;
  /** The last failure of an action (fire or restore); cleared by the next success of the same kind. */
  lastError: string | null;
  lastErrorAt: string | null;
  /** An action started and not yet settled. */
  actionRunning: 'fire' | 'restore' | null;
  /** invalid only: what is wrong. */
  problem?: string;
}

export interface RuleEngineOptions {
  metrics: MetricReader;
  clock: Clock;
  actions: RuleActions;
  /** Each firing and restore, as a telemetry event (see RuleRecord). */
  record?: (record: RuleRecord) => void;
  /** Each sample of this ticks the engine (e.g. the middleware's sampler); or call tick() yourself. */
  ticks?: Pick<Sampler, 'onSample'>;
  /** The setting's raw value; same as calling setRules(). */
  rules?: unknown;
  /** Named in problems: default 'aios.rules'. */
  setting?: string;
}

interface Runtime {
  rule: Rule;
  key: string;
  status: 'armed' | 'holding' | 'firing' | 'clearing' | 'cooling';
  heldSince: number | undefined;
  clearSince: number | undefined;
  cooldownUntil: number | undefined;
  /** After a failed restore: not before this (monotonic ms). */
  retryAt: number | undefined;
  lastValue: number | undefined;
  ticked: boolean;
  firedCount: number;
  lastFiredAt: number | undefined;
  lastRestoredAt: number | undefined;
  lastError: string | undefined;
  lastErrorAt: number | undefined;
  running: 'fire' | 'restore' | undefined;
  /** Changed or removed from the setting: once its action settles, restore if it fired, then forget it. */
  retired: boolean;
}

interface Outcome {
  ok: boolean;
  message?: string;
  controlCommandId?: string;
}

const ruleKey = (r: Rule): string => JSON.stringify({ ...r, index: undefined });

export class RuleEngine implements Disposable {
  private runtimes: Runtime[] = [];
  private invalid: InvalidRule[] = [];
  private disabled: Rule[] = [];
  private readonly changes = new Listeners<void>();
  private readonly subscription: Disposable | undefined;
  private disposed = false;
  private readFailing = false;
  private readonly setting: string;

  constructor(private readonly opts: RuleEngineOptions) {
    this.setting = opts.setting ?? 'aios.rules';
    if (opts.rules !== undefined) this.setRules(opts.rules);
    this.subscription = opts.ticks?.onSample(() => this.tick());
  }

  /**
   * Replaces the rules (the setting changed). Rules whose definition is unchanged keep their state; a changed,
   * disabled or removed rule that is firing runs its restore first. Returns one problem per bad rule.
   */
  setRules(input: unknown): string[] {
    const parsed = parseRules(input, this.setting);
    const old = new Map(this.runtimes.map((rt) => [rt.rule.name, rt]));
    const next: Runtime[] = [];
    this.disabled = [];
    for (const rule of parsed.rules) {
      if (!rule.enabled) {
        this.disabled.push(rule);
        continue;
      }
      const key = ruleKey(rule);
      const kept = old.get(rule.name);
      if (kept && kept.key === key) {
        kept.rule = rule; // the index may have moved
        old.delete(rule.name);
        next.push(kept);
      } else {
        next.push(newRuntime(rule, key));
      }
    }
    this.runtimes = next;
    this.invalid = parsed.invalid;
    for (const rt of old.values()) this.retire(rt);
    this.changed();
    return parsed.problems;
  }

  /** Evaluates every rule against the metrics now; called on each sample. Never throws. */
  tick(): void {
    if (this.disposed) return;
    let values: MetricValues;
    try {
      values = this.opts.metrics.read();
    } catch (e) {
      // Once until it works again, not once a second.
      if (!this.readFailing) this.log('warn', `Rules: could not read the metrics: ${errorMessage(e)}; no rule is evaluated until they can be read`);
      this.readFailing = true;
      return;
    }
    if (this.readFailing) this.log('info', 'Rules: the metrics can be read again');
    this.readFailing = false;
    const now = this.opts.clock.now();
    let transitions = false;
    for (const rt of this.runtimes) {
      try {
        if (this.step(rt, values[rt.rule.metric], now)) transitions = true;
      } catch (e) {
        this.log('error', `Rule ${show(rt.rule.name)}: ${errorMessage(e)}`);
      }
    }
    if (transitions) this.changed();
  }

  /** One rule at one tick; true when its status changed. */
  private step(rt: Runtime, value: number | undefined, now: number): boolean {
    const r = rt.rule;
    rt.lastValue = value;
    rt.ticked = true;
    if (rt.running) return false;
    const before = rt.status;
    const held = value !== undefined && (r.direction === 'above' ? value > r.threshold : value < r.threshold);
    const forMs = r.forSeconds * 1000;
    if (rt.status === 'firing' || rt.status === 'clearing') {
      // No data counts as clear: with no commands in the window there is no latency or error rate to remedy.
      const clear = value === undefined || (r.direction === 'above' ? value <= r.clearAt : value >= r.clearAt);
      rt.clearSince = clear ? (rt.clearSince ?? now) : undefined;
      if (clear && now - rt.clearSince! >= forMs && (rt.retryAt === undefined || now >= rt.retryAt)) {
        this.restore(rt, value, 'condition');
        return true;
      }
      rt.status = clear ? 'clearing' : 'firing';
      return rt.status !== before;
    }
    rt.heldSince = held ? (rt.heldSince ?? now) : undefined;
    const cooling = rt.cooldownUntil !== undefined && now < rt.cooldownUntil;
    if (!cooling) rt.cooldownUntil = undefined;
    if (held && !cooling && now - rt.heldSince! >= forMs) {
      this.fire(rt, value);
      return true;
    }
    rt.status = cooling ? 'cooling' : held ? 'holding' : 'armed';
    return rt.status !== before;
  }

  private fire(rt: Runtime, value: number): void {
    const r = rt.rule;
    rt.status = 'firing';
    rt.clearSince = undefined;
    rt.retryAt = undefined;
    rt.firedCount++;
    rt.lastFiredAt = this.opts.clock.epochMs();
    this.run(rt, 'fire', r.then, value, 'condition', (outcome) => {
      if (outcome.ok) {
        if (rt.retired) this.restore(rt, value, 'rule changed');
        return;
      }
      // Nothing took effect, so there is nothing to restore: cool down, then it may fire again.
      rt.status = 'cooling';
      rt.heldSince = undefined;
      rt.cooldownUntil = this.opts.clock.now() + r.cooldownSeconds * 1000;
    });
  }

  private restore(rt: Runtime, value: number | undefined, reason: RuleEventMetadata['reason']): void {
    const r = rt.rule;
    this.run(rt, 'restore', r.restore, value, reason, (outcome) => {
      rt.clearSince = undefined;
      if (!outcome.ok && !rt.retired) {
        // The rule's `then` is still in force: try again after the cooldown, if the condition is still clear.
        rt.status = 'clearing';
        rt.retryAt = this.opts.clock.now() + r.cooldownSeconds * 1000;
        return;
      }
      rt.status = 'cooling';
      rt.retryAt = undefined;
      rt.heldSince = undefined;
      rt.lastRestoredAt = this.opts.clock.epochMs();
      rt.cooldownUntil = this.opts.clock.now() + r.cooldownSeconds * 1000;
    });
  }

  /** A rule left the setting (or changed): undo what it did, now or once its running action settles. */
  private retire(rt: Runtime): void {
    rt.retired = true;
    if (rt.running === undefined && (rt.status === 'firing' || rt.status === 'clearing')) {
      this.log('info', `Rule ${show(rt.rule.name)} was changed or removed while firing: restoring`);
      this.restore(rt, rt.lastValue, 'rule changed');
    }
  }

  /** Starts an action; records, logs and calls `then` when it settles. Never throws. */
  private run(
    rt: Runtime,
    kind: 'fire' | 'restore',
    action: RuleAction | undefined,
    value: number | undefined,
    reason: RuleEventMetadata['reason'],
    settled: (outcome: Outcome) => void,
  ): void {
    rt.running = kind;
    const started = this.opts.clock.now();
    const finish = (outcome: Outcome): void => {
      rt.running = undefined;
      if (this.disposed) return;
      const r = rt.rule;
      const durationMs = Math.max(0, this.opts.clock.now() - started);
      if (outcome.ok) {
        rt.lastError = undefined;
        rt.lastErrorAt = undefined;
      } else {
        rt.lastError = `${kind === 'fire' ? 'fire' : 'restore'} failed: ${outcome.message ?? 'unknown error'}`;
        rt.lastErrorAt = this.opts.clock.epochMs();
      }
      this.emitRecord(rt, kind, action, value, reason, durationMs, outcome);
      const what = `${describeCondition(r)}; now ${formatMetric(r.metric, value)}`;
      if (outcome.ok) {
        this.log('info', `Rule ${show(r.name)} ${kind === 'fire' ? 'fired' : 'restored'} (${what}): ${describeAction(action)}`);
      } else {
        const next = kind === 'fire' ? `it may fire again in ${r.cooldownSeconds} s` : `it tries again in ${r.cooldownSeconds} s if still clear`;
        this.log('warn', `Rule ${show(r.name)}: its ${kind} action (${describeAction(action)}) failed: ${outcome.message ?? 'unknown error'}; ${next}`);
      }
      try {
        settled(outcome);
      } finally {
        this.changed();
      }
    };
    let pending: Promise<Outcome>;
    try {
      pending = this.perform(rt.rule, action, value, kind);
    } catch (e) {
      pending = Promise.resolve({ ok: false, message: errorMessage(e) });
    }
    pending.then(finish, (e: unknown) => finish({ ok: false, message: errorMessage(e) }));
  }

  private perform(r: Rule, action: RuleAction | undefined, value: number | undefined, kind: 'fire' | 'restore'): Promise<Outcome> {
    if (!action) return Promise.resolve({ ok: true });
    switch (action.kind) {
      case 'notify': {
        const text = action.message
          .replaceAll('{rule}', r.name)
          .replaceAll('{metric}', r.metric)
          .replaceAll('{value}', formatMetric(r.metric, value))
          .replaceAll('{threshold}', formatMetric(r.metric, kind === 'fire' ? r.threshold : r.clearAt));
        this.opts.actions.notify(text, kind === 'fire' ? 'warning' : 'info');
        return Promise.resolve({ ok: true });
      }
      case 'limits': {
        const problems = this.opts.actions.setLimits({ ...action.limits });
        return Promise.resolve(problems && problems.length > 0 ? { ok: false, message: problems.join('; ') } : { ok: true });
      }
      case 'control':
        return this.opts.actions.control({ ...action.control, source: `rule:${r.name}` }).then(controlOutcome);
    }
  }

  private emitRecord(
    rt: Runtime,
    kind: 'fire' | 'restore',
    action: RuleAction | undefined,
    value: number | undefined,
    reason: RuleEventMetadata['reason'],
    durationMs: number,
    outcome: Outcome,
  ): void {
    if (!this.opts.record) return;
    const r = rt.rule;
    const metadata: RuleEventMetadata = {
      rule: r.name,
      action: kind,
      reason,
      metric: r.metric,
      value: value ?? null,
      threshold: r.threshold,
      clearAt: r.clearAt,
      direction: r.direction,
      forSeconds: r.forSeconds,
      effect: action ? action.kind : 'none',
      detail: describeAction(action),
    };
    if (outcome.controlCommandId !== undefined) metadata.controlCommandId = outcome.controlCommandId;
    if (!outcome.ok) {
      metadata.code = 'rule_action_failed';
      metadata.message = (outcome.message ?? 'unknown error').slice(0, MAX_MESSAGE);
    }
    try {
      this.opts.record({ eventType: outcome.ok ? 'COMPLETE' : 'ERROR', commandType: `${RULE_PREFIX}${r.name}`, priority: 'HIGH', durationMs, metadata });
    } catch (e) {
      this.log('warn', `Rule ${show(r.name)}: could not record its ${kind}: ${errorMessage(e)}`);
    }
  }

  /** Every rule in the setting's order, bad and disabled ones included. */
  states(): RuleState[] {
    const now = this.opts.clock.now();
    const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString());
    const out: RuleState[] = [];
    for (const rt of this.runtimes) {
      const r = rt.rule;
      const since = rt.status === 'holding' ? rt.heldSince : rt.status === 'clearing' ? rt.clearSince : undefined;
      out.push({
        ...ruleFacts(r),
        status: rt.status,
        lastValue: rt.lastValue ?? null,
        lastValueText: rt.ticked ? formatMetric(r.metric, rt.lastValue) : 'not measured yet',
        forMs: since === undefined ? null : now - since,
        cooldownRemainingMs: rt.status === 'cooling' && rt.cooldownUntil !== undefined ? Math.max(0, rt.cooldownUntil - now) : null,
        firedCount: rt.firedCount,
        lastFiredAt: iso(rt.lastFiredAt),
        lastRestoredAt: iso(rt.lastRestoredAt),
        lastError: rt.lastError ?? null,
        lastErrorAt: iso(rt.lastErrorAt),
        actionRunning: rt.running ?? null,
      });
    }
    for (const r of this.disabled) {
      out.push({ ...ruleFacts(r), ...IDLE, status: 'disabled', lastValueText: 'disabled' });
    }
    for (const bad of this.invalid) {
      out.push({ name: bad.name, index: bad.index, status: 'invalid', condition: '', ...IDLE, lastValueText: 'invalid', problem: bad.problem });
    }
    return out.sort((a, b) => a.index - b.index);
  }

  /**
   * The limits of the rules now firing, merged in the setting's order: re-apply them over the user's settings
   * when those are re-read (else a settings change would silently undo a firing rule's limits).
   */
  activeLimits(): RuleLimits {
    const out: RuleLimits = {};
    for (const rt of this.runtimes) {
      if ((rt.status === 'firing' || rt.status === 'clearing') && rt.running !== 'fire' && rt.rule.then.kind === 'limits')
        Object.assign(out, rt.rule.then.limits);
    }
    return out;
  }

  /** Fires after each change of status, action start or end, and setRules(); not for a new value alone. */
  onDidChange(listener: () => void): Disposable {
    return this.changes.add(listener);
  }

  dispose(): void {
    this.disposed = true;
    this.subscription?.dispose();
    this.changes.clear();
  }

  private changed(): void {
    if (!this.disposed) this.changes.fire();
  }

  private log(level: RuleLogLevel, message: string): void {
    try {
      this.opts.actions.log(level, message);
    } catch {
      // A broken log must not stop the rules.
    }
  }
}

const IDLE = {
  lastValue: null,
  forMs: null,
  cooldownRemainingMs: null,
  firedCount: 0,
  lastFiredAt: null,
  lastRestoredAt: null,
  lastError: null,
  lastErrorAt: null,
  actionRunning: null,
} as const;

function ruleFacts(r: Rule): Pick<RuleState, 'name' | 'index' | 'condition' | 'metric' | 'forSeconds' | 'cooldownSeconds' | 'then' | 'restore'> {
  return {
    name: r.name,
    index: r.index,
    condition: describeCondition(r),
    metric: r.metric,
    forSeconds: r.forSeconds,
    cooldownSeconds: r.cooldownSeconds,
    then: describeAction(r.then),
    ...(r.restore ? { restore: describeAction(r.restore) } : {}),
  };
}

function newRuntime(rule: Rule, key: string): Runtime {
  return {
    rule,
    key,
    status: 'armed',
    heldSince: undefined,
    clearSince: undefined,
    cooldownUntil: undefined,
    retryAt: undefined,
    lastValue: undefined,
    ticked: false,
    firedCount: 0,
    lastFiredAt: undefined,
    lastRestoredAt: undefined,
    lastError: undefined,
    lastErrorAt: undefined,
    running: undefined,
    retired: false,
  };
}

/** A control call's result: a CommandResult with success false (the pipeline's answer) is a failure. */
function controlOutcome(result: unknown): Outcome {
  if (typeof result !== 'object' || result === null) return { ok: true };
  const r = result as { success?: unknown; commandId?: unknown; error?: { code?: unknown; message?: unknown } };
  const controlCommandId = typeof r.commandId === 'string' ? r.commandId : undefined;
  if (r.success === false) {
    const code = typeof r.error?.code === 'string' ? `${r.error.code}: ` : '';
    const message = typeof r.error?.message === 'string' ? r.error.message : 'the control operation failed';
    return { ok: false, message: `${code}${message}`, ...(controlCommandId ? { controlCommandId } : {}) };
  }
  return { ok: true, ...(controlCommandId ? { controlCommandId } : {}) };
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : typeof e === 'string' ? e : show(e);
}
