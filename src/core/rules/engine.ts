// Remediation rules (setting aios.rules): "when a metric has been above/below a threshold for N seconds, do
// this; when it has been clear for N seconds, undo it; then wait before firing again". Rules are data; the
// engine reads a MetricReader on the sampler's tick (about once a second, never on the command path) and acts
// through injected functions: the control plane, the middleware's limits, a notification, the log. It never
// throws into the sampler, and one bad rule (or one failing action) leaves the others running.
import type { Clock } from '../clock';
import { show } from '../config';
import { Listeners } from '../listeners';
import type { MetricName, MetricReader, MetricValues } from './metrics';
import type { Sampler } from '../system';
import { RULE_PREFIX, type Disposable } from '../types';
import {
  describeAction,
  describeCondition,
  formatMetric,
  MAX_MESSAGE,
  parseRules,
  type InvalidRule,
  type Rule,
  type RuleAction,
  type RuleControlCall,
  type RuleLimits,
} from './parser';

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
