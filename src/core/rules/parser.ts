// The rule language of aios.rules: its vocabulary, the parser that turns a setting's value into rules or
// readable problems, and the text that describes a rule (logs, the tree). No state: the engine is engine.ts.
import { CONFIG_NUMBER_RULES, show } from '../config';
import { METRICS, type MetricName } from './metrics';
import { HEALTH_OVERRIDE_VALUES } from '../types';

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
export const MAX_MESSAGE = 1000;
/** A rule's name is part of its records' command type, RULE:<name>: the characters a command type allows. */
const RULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

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

/** A field name as written, cut to 64 characters. */
const fieldName = (k: string): string => (k.length > 64 ? `${k.slice(0, 64)}…` : k);

function unknownKeys(o: Record<string, unknown>, known: readonly string[], where: string, out: string[]): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) out.push(`${where}${fieldName(k)} is not a rule field (known: ${known.join(', ')})`);
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
    out.push(`${where} must have exactly one of control, limits, notify (got ${Object.keys(v).slice(0, 8).map(fieldName).join(', ') || 'none'})`);
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
        out.push(`${where}.limits.${fieldName(k)} is not a setting a rule may change (one of ${RULE_LIMIT_KEYS.join(', ')})`);
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
  } else if (op === 'HEALTH_OVERRIDE' && !(HEALTH_OVERRIDE_VALUES as readonly string[]).includes(value?.trim().toLowerCase() ?? '')) {
    out.push(`${where}.control.value must be one of ${HEALTH_OVERRIDE_VALUES.join(', ')} for HEALTH_OVERRIDE (got ${show(c.value)})`);
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
