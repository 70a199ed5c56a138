import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../../src/core/clock';
import { CONFIG_NUMBER_RULES } from '../../../../src/core/config';
import { functionExecutor } from '../../../../src/core/execution/executors';
import { METRICS, MetricSource, type MetricName, type MetricValues } from '../../../../src/core/rules/metrics';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import {
  METRIC_BOUNDS,
  RULE_CONTROL_OPERATIONS,
  RULE_DEFAULTS,
  RULE_LIMIT_KEYS,
  RuleEngine,
  parseRules,
  type RuleActions,
  type RuleControlCall,
  type RuleLimits,
  type RuleRecord,
  type RuleState,
} from '../../../../src/core/rules';
import { StaticSampler } from '../../../../src/core/system/sampler';
import { CONTROL_PREFIX, type CommandResult, type Executor } from '../../../../src/core/types';
import { CONTROL_OPERATIONS } from '../../../../src/python/protocol';
import { tick } from '../helpers';
import { world } from '../metricWorld';
import { record } from '../../../reliability/table';

interface Calls {
  control: (RuleControlCall & { source: string })[];
  limits: RuleLimits[];
  notify: [string, string][];
  log: [string, string][];
  records: RuleRecord[];
}

/** An engine ticked by a StaticSampler, with recording actions; `actions` overrides some of them. */
function harness(rules: unknown, metrics: { read(): MetricValues }, clock: ManualClock, actions: Partial<RuleActions> = {}) {
  const calls: Calls = { control: [], limits: [], notify: [], log: [], records: [] };
  const ticks = new StaticSampler();
  const engine = new RuleEngine({
    metrics,
    clock,
    ticks,
    rules,
    record: (r) => calls.records.push(r),
    actions: {
      control: (call) => {
        calls.control.push(call);
        return Promise.resolve({ success: true, commandId: `ctl-${calls.control.length}` });
      },
      setLimits: (l) => void calls.limits.push(l),
      notify: (m, s) => void calls.notify.push([m, s]),
      log: (level, m) => void calls.log.push([level, m]),
      ...actions,
    },
  });
  /** One sampler tick a second later; lets the actions' promises settle. */
  const second = async (): Promise<RuleState[]> => {
    clock.advance(1000);
    ticks.set({ sampledAt: clock.now() });
    await tick();
    return engine.states();
  };
  return { engine, calls, ticks, second };
}

/** A metric reader whose values the test sets. */
function fixed(values: Partial<Record<MetricName, number>> = {}) {
  const v: Record<string, number | undefined> = { ...values };
  return {
    v,
    read: () => Object.fromEntries(METRICS.map((m) => [m, v[m]])) as MetricValues,
  };
}

const cpuRule = (over: Record<string, unknown> = {}) => ({
  name: 'cpu-high',
  when: { metric: 'cpuPercent', above: 90, forSeconds: 3 },
  then: { control: { operation: 'CUSTOM_COMMAND', parameters: { command: 'reduce_complexity', arguments: { factor: 0.5 } } } },
  restore: { control: { operation: 'CUSTOM_COMMAND', parameters: { command: 'reduce_complexity', arguments: { factor: 1 } } } },
  cooldownSeconds: 20,
  ...over,
});

/**
 * Each metric driven through its real source (a StaticSampler, an admission state, a real Telemetry's events):
 * `high()` and `low()` are called once a second and push the metric over or under the rule's threshold.
 */
const DRIVERS: Record<MetricName, { threshold: number; high: (w: ReturnType<typeof world>) => void; low: (w: ReturnType<typeof world>) => void }> = {
  cpuPercent: { threshold: 90, high: (w) => w.sampler.set({ cpuPercent: 97, sampledAt: 1 }), low: (w) => w.sampler.set({ cpuPercent: 40, sampledAt: 1 }) },
  memoryPercent: {
    threshold: 80,
    high: (w) => w.sampler.set({ memoryPercent: 91, sampledAt: 1 }),
    low: (w) => w.sampler.set({ memoryPercent: 50, sampledAt: 1 }),
  },
  queueDepth: {
    threshold: 10,
    high: (w) => void (w.admission.queued = { HIGH: 0, NORMAL: 25, LOW: 3 }),
    low: (w) => void (w.admission.queued = { HIGH: 0, NORMAL: 1, LOW: 0 }),
  },
  // Two throttled commands a second: over 10 after 6 s; falls back once they leave the 60 s window.
  throttledPerMinute: { threshold: 10, high: (w) => (w.emit('THROTTLE'), void w.emit('THROTTLE')), low: () => undefined },
  errorRate: {
    threshold: 0.3,
    high: (w) => (w.emit('ERROR', 'ECHO', 5, { code: 'executor_error' }), void w.emit('COMPLETE', 'ECHO', 5)),
    low: (w) => {
      for (let i = 0; i < 10; i++) w.emit('COMPLETE', 'ECHO', 5);
    },
  },
  p95Ms: {
    threshold: 500,
    high: (w) => void w.emit('COMPLETE', 'ECHO', 2000),
    low: (w) => {
      for (let i = 0; i < 40; i++) w.emit('COMPLETE', 'ECHO', 20);
    },
  },
};

describe('RuleEngine: each metric through hold, fire, restore and cooldown', () => {
  for (const metric of METRICS) {
    it(metric, async () => {
      const clock = new ManualClock();
      const w = world(clock);
      const source = new MetricSource({ sampler: w.sampler, telemetry: w.telemetry, admission: () => w.admission, clock });
      const d = DRIVERS[metric];
      const forSeconds = 3;
      const cooldownSeconds = 20;
      const rule = {
        name: `${metric}-rule`,
        when: { metric, above: d.threshold, forSeconds },
        then: { notify: '{rule}: {metric} is {value}, over {threshold}' },
        restore: { limits: { maxConcurrency: 4 } },
        cooldownSeconds,
      };
      const { calls, second } = harness([rule], source, clock);
      const trace: { t: number; state: RuleState }[] = [];
      const step = async (drive: 'high' | 'low') => {
        d[drive](w);
        const [state] = await second();
        trace.push({ t: clock.now() / 1000, state });
        return state;
      };
      const held = (s: RuleState) => s.lastValue !== null && s.lastValue > d.threshold;

      // Hold, then fire exactly forSeconds after the first tick that saw the condition.
      let s = await step('high');
      for (let i = 0; i < 120 && s.status !== 'firing'; i++) s = await step('high');
      assert.equal(s.status, 'firing', `${metric} never fired: ${JSON.stringify(trace.at(-1))}`);
      const firstHeld = trace.findIndex((x) => held(x.state));
      const fired = trace.length - 1;
      assert.equal(fired - firstHeld, forSeconds, 'fires when the condition has held for forSeconds');
      trace.slice(firstHeld, fired).forEach((x, i) => assert.deepEqual([x.state.status, x.state.forMs], ['holding', i * 1000]));
      for (const x of trace.slice(0, firstHeld)) assert.equal(x.state.status, 'armed');
      assert.equal(calls.notify.length, 1);
      assert.match(calls.notify[0][0], new RegExp(`^${metric}-rule: ${metric} is .+, over `));
      assert.equal(calls.notify[0][1], 'warning');

      // Still over: it stays firing and does not act again.
      for (let i = 0; i < 5; i++) assert.equal((await step('high')).status, 'firing');
      assert.equal(calls.notify.length, 1);

      // Clear: restore exactly forSeconds after the first clear tick.
      const clearFrom = trace.length;
      for (let i = 0; i < 200 && s.status !== 'cooling'; i++) s = await step('low');
      assert.equal(s.status, 'cooling', `${metric} never restored`);
      const firstClear = trace.findIndex((x, i) => i >= clearFrom && !held(x.state));
      const restored = trace.length - 1;
      assert.equal(restored - firstClear, forSeconds, 'restores when the condition has been clear for forSeconds');
      trace.slice(firstClear, restored).forEach((x, i) => assert.deepEqual([x.state.status, x.state.forMs], ['clearing', i * 1000]));
      assert.deepEqual(calls.limits, [{ maxConcurrency: 4 }]);
      assert.equal(s.cooldownRemainingMs, cooldownSeconds * 1000);

      // Over again at once: the cooldown holds it back; it fires at its end (it has held long enough by then).
      const againFrom = trace.length;
      for (let i = 0; i < 120 && s.status !== 'firing'; i++) s = await step('high');
      assert.equal(s.status, 'firing');
      const refired = trace.length - 1;
      const heldAgain = trace.findIndex((x, i) => i >= againFrom && held(x.state));
      assert.equal(refired, Math.max(restored + cooldownSeconds, heldAgain + forSeconds), 'not before the cooldown ends nor before forSeconds of holding');
      for (const x of trace.slice(againFrom, refired)) assert.ok(['cooling', 'armed', 'holding'].includes(x.state.status));
      assert.equal(calls.notify.length, 2);
      assert.equal(s.firedCount, 2);

      // Recorded: fire, restore, fire; each a RULE:<name> COMPLETE with what the rule saw.
      assert.deepEqual(
        calls.records.map((r) => [r.eventType, r.commandType, r.metadata.action, r.metadata.effect]),
        [
          ['COMPLETE', `RULE:${metric}-rule`, 'fire', 'notify'],
          ['COMPLETE', `RULE:${metric}-rule`, 'restore', 'limits'],
          ['COMPLETE', `RULE:${metric}-rule`, 'fire', 'notify'],
        ],
      );
      const first = calls.records[0].metadata;
      assert.equal(first.metric, metric);
      assert.equal(first.threshold, d.threshold);
      assert.equal(first.value, trace[fired].state.lastValue);
      assert.ok(first.value! > d.threshold);
      assert.equal(calls.records[1].metadata.value, trace[restored].state.lastValue);
      assert.ok(calls.log.some(([level, m]) => level === 'info' && m.startsWith(`Rule "${metric}-rule" fired`)));
      source.dispose();
    });
  }
});

describe('RuleEngine: the rule language', () => {
  it('a "below" rule, a clear margin, and no data counting as clear', async () => {
    const clock = new ManualClock();
    const m = fixed({ cpuPercent: 50 });
    const { calls, second } = harness(
      [{ name: 'idle', when: { metric: 'cpuPercent', below: 10, clearAt: 30, forSeconds: 0 }, then: { notify: 'idle' }, restore: { notify: 'busy' } }],
      m,
      clock,
    );
    assert.equal((await second())[0].status, 'armed');
    m.v.cpuPercent = 5;
    assert.equal((await second())[0].status, 'firing', 'forSeconds 0: fires on the first tick');
    m.v.cpuPercent = 20; // over the threshold but not past the clear margin
    assert.equal((await second())[0].status, 'firing');
    assert.equal((await second())[0].status, 'firing');
    m.v.cpuPercent = undefined; // no data counts as clear
    const [s] = await second();
    assert.equal(s.status, 'cooling');
    assert.equal(s.lastValueText, 'no data');
    assert.deepEqual(
      [s.condition, s.then, s.restore, s.forSeconds, s.cooldownSeconds],
      ['cpuPercent < 10% for 0 s, clear at >= 30%', 'notify', 'notify', 0, RULE_DEFAULTS.cooldownSeconds],
    );
    assert.deepEqual(calls.notify, [
      ['idle', 'warning'],
      ['busy', 'info'],
    ]);
    assert.equal(calls.records[1].metadata.value, null);
  });

  it('a bad rule among good ones: each problem names the rule and what is wrong; the good ones run', async () => {
    const clock = new ManualClock();
    const m = fixed({ cpuPercent: 95, errorRate: 0.5, queueDepth: 0 });
    const rules = [
      cpuRule({ when: { metric: 'cpuPercent', above: 90, forSeconds: 0 } }),
      { name: 'typo', when: { metric: 'cpu', above: 90 }, then: { notify: 'x' } },
      'not a rule',
      { name: 'cpu-high', when: { metric: 'cpuPercent', above: 80 }, then: { notify: 'dup' } },
      { name: 'percent', when: { metric: 'errorRate', above: 10 }, then: { notify: 'x' } },
      { name: 'margin', when: { metric: 'cpuPercent', above: 90, clearAt: 95 }, then: { notify: 'x' } },
      { name: 'restroe', when: { metric: 'queueDepth', above: 5 }, then: { notify: 'x' }, restroe: { notify: 'y' } },
      { name: 'two', when: { metric: 'queueDepth', above: 5, below: 1 }, then: { notify: 'x', limits: { maxConcurrency: 2 } } },
      { name: 'limits', when: { metric: 'queueDepth', above: 5 }, then: { limits: { maxConcurrency: 0, maxParameterBytes: 1 } } },
      { name: 'op', when: { metric: 'queueDepth', above: 5 }, then: { control: { operation: 'SHUTDOWN' } } },
      { name: 'custom', when: { metric: 'queueDepth', above: 5 }, then: { control: { operation: 'CUSTOM_COMMAND', parameters: {} } } },
      { name: 'no-then', when: { metric: 'queueDepth', above: 5 } },
      { name: 'errors-high', when: { metric: 'errorRate', above: 0.2, forSeconds: 0 }, then: { notify: 'errors at {value}' } },
    ];
    const { engine, calls, second } = harness([], m, clock);
    const problems = engine.setRules(rules);
    const expected: [number, RegExp][] = [
      [1, /^aios\.rules\[1\] "typo": when\.metric must be one of cpuPercent, .*p95Ms \(got "cpu"\); this rule is not active, the others are$/],
      [2, /^aios\.rules\[2\]: must be an object/],
      [3, /^aios\.rules\[3\] "cpu-high": name "cpu-high" is already used by an earlier rule/],
      [4, /^aios\.rules\[4\] "percent": when\.above must be a number from 0 to 1 for errorRate .*\(got 10; for 10 % write 0\.1\)/],
      [5, /^aios\.rules\[5\] "margin": when\.clearAt \(95\) must be at or below when\.above \(90\)/],
      [6, /^aios\.rules\[6\] "restroe": restroe is not a rule field/],
      [7, /^aios\.rules\[7\] "two": when needs exactly one of above, below \(got both\); then must have exactly one of control, limits, notify/],
      [
        8,
        /^aios\.rules\[8\] "limits": then\.limits\.maxConcurrency must be an integer from 1 to 256.*; then\.limits\.maxParameterBytes is not a setting a rule may change/,
      ],
      [9, /^aios\.rules\[9\] "op": then\.control\.operation must be one of UPDATE_LOG_LEVEL, .*CUSTOM_COMMAND \(got "SHUTDOWN"\)/],
      [10, /^aios\.rules\[10\] "custom": then\.control needs parameters\.command/],
      [11, /^aios\.rules\[11\] "no-then": then is missing/],
    ];
    assert.equal(problems.length, expected.length, problems.join('\n'));
    expected.forEach(([, re], i) => assert.match(problems[i], re));

    const states = await second();
    assert.deepEqual(
      states.map((s) => [s.index, s.name, s.status]),
      [
        [0, 'cpu-high', 'firing'],
        [1, 'typo', 'invalid'],
        [2, '#2', 'invalid'],
        [3, 'cpu-high', 'invalid'],
        [4, 'percent', 'invalid'],
        [5, 'margin', 'invalid'],
        [6, 'restroe', 'invalid'],
        [7, 'two', 'invalid'],
        [8, 'limits', 'invalid'],
        [9, 'op', 'invalid'],
        [10, 'custom', 'invalid'],
        [11, 'no-then', 'invalid'],
        [12, 'errors-high', 'firing'],
      ],
    );
    assert.match(states[1].problem!, /when\.metric must be one of/);
    assert.equal(calls.control.length, 1);
    assert.deepEqual(calls.notify, [['errors at 50%', 'warning']]);
  });

  it('a table of malformed rules (beside a good one): one message each, naming the rule and the field; the good one loads', () => {
    const when = { metric: 'queueDepth', above: 5 };
    const cases: [unknown, RegExp][] = [
      [null, /^aios\.rules\[1\]: must be an object like \{"name": \.\.\., "when": \{\.\.\.\}, "then": \{\.\.\.\}\} \(got null\)/],
      [[cpuRule()], /^aios\.rules\[1\]: must be an object/],
      [{ name: 7, when, then: { notify: 'x' } }, /^aios\.rules\[1\]: name must be 1-64 letters/],
      [{ name: 'has space', when, then: { notify: 'x' } }, /^aios\.rules\[1\] "has space": name must be 1-64 letters/],
      [{ name: 'r', enabled: 'yes', when, then: { notify: 'x' } }, /^aios\.rules\[1\] "r": enabled must be true or false \(got "yes"\)/],
      [{ name: 'r', cooldownSeconds: -1, when, then: { notify: 'x' } }, /^aios\.rules\[1\] "r": cooldownSeconds must be a number from 0 to 86400 \(got -1\)/],
      [{ name: 'r', when: 'cpu > 90', then: { notify: 'x' } }, /^aios\.rules\[1\] "r": when must be an object like/],
      [
        { name: 'r', when: { ...when, forSeconds: 'ten' }, then: { notify: 'x' } },
        /^aios\.rules\[1\] "r": when\.forSeconds must be a number from 0 to 3600 \(got "ten"\)/,
      ],
      [{ name: 'r', when, then: { notify: '' } }, /^aios\.rules\[1\] "r": then\.notify must be a message of 1 to 1000 characters/],
      [{ name: 'r', when, then: { limits: {} } }, /^aios\.rules\[1\] "r": then\.limits must be an object with at least one of/],
      [{ name: 'r', when, then: 'notify me' }, /^aios\.rules\[1\] "r": then must be one of \{"control": \{\.\.\.\}\}/],
      [{ name: 'r', when, then: { control: { operation: 'UPDATE_LOG_LEVEL' } } }, /then\.control\.value must name the log level for UPDATE_LOG_LEVEL/],
      [
        { name: 'r', when, then: { control: { operation: 'HEALTH_OVERRIDE', value: 'sick' } } },
        /then\.control\.value must be one of healthy, unhealthy, clear/,
      ],
      [{ name: 'r', when, then: { control: { operation: 'FLUSH_CACHE', value: 3 } } }, /then\.control\.value must be a string \(got 3\)/],
      [
        { name: 'r', when, then: { control: { operation: 'CUSTOM_COMMAND', parameters: { command: 'x', arguments: [1] } } } },
        /then\.control\.parameters\.arguments must be an object \(got \[1\]\)/,
      ],
      [
        { name: 'r', when, then: { notify: 'x' }, restore: { notify: 'y', limits: { agingMs: 0 } } },
        /restore must have exactly one of control, limits, notify/,
      ],
      [
        JSON.parse('{"name": "r", "when": {"metric": "queueDepth", "above": 5}, "then": {"notify": "x"}, "__proto__": {"enabled": false}}'),
        /__proto__ is not a rule field/,
      ],
    ];
    for (const [bad, re] of cases) {
      const { rules, problems } = parseRules([cpuRule(), bad]);
      assert.deepEqual(
        rules.map((r) => r.name),
        ['cpu-high'],
        JSON.stringify(bad),
      );
      assert.equal(problems.length, 1, `${JSON.stringify(bad)}: ${problems.join(' | ')}`);
      assert.match(problems[0], re);
      assert.ok(problems[0].endsWith('; this rule is not active, the others are'), problems[0]);
    }
    record({
      property: 'malformed aios.rules',
      tried: `${cases.length} bad rules (shapes, names, every field, every action kind, __proto__), each beside a good one`,
      held: `${cases.length} of ${cases.length}: one message naming the rule and the field; the good rule loaded every time`,
    });
  });

  it('the setting itself may be wrong: then no rule is active and the message says so', () => {
    assert.deepEqual(parseRules({ name: 'x' }).problems, ['aios.rules must be a list of rules (got {"name":"x"}); no rule is active']);
    assert.match(parseRules(new Array(101).fill(cpuRule())).problems[0], /at most 100 rules \(got 101\)/);
    assert.deepEqual(parseRules(undefined), { rules: [], invalid: [], problems: [] });
  });

  it('defaults: forSeconds 10, cooldownSeconds 60, clearAt = the threshold, enabled', () => {
    const { rules } = parseRules([{ name: 'q', when: { metric: 'queueDepth', above: 3 }, then: { notify: 'q' } }]);
    assert.equal(rules[0].forSeconds, RULE_DEFAULTS.forSeconds);
    assert.equal(rules[0].cooldownSeconds, RULE_DEFAULTS.cooldownSeconds);
    assert.equal(rules[0].clearAt, 3);
    assert.equal(rules[0].enabled, true);
  });
});

describe('RuleEngine: failing actions', () => {
  it('a failing fire is recorded as ERROR, shown in the state, cooled down, and fires again later', async () => {
    const clock = new ManualClock();
    const m = fixed({ cpuPercent: 95 });
    let fail = true;
    const { calls, second } = harness([cpuRule({ when: { metric: 'cpuPercent', above: 90, forSeconds: 0 }, cooldownSeconds: 5 })], m, clock, {
      control: (call) => {
        calls.control.push(call);
        return fail ? Promise.reject(new Error('the Python service is not running')) : Promise.resolve({ success: true, commandId: 'ok-1' });
      },
    });
    let [s] = await second();
    assert.equal(s.status, 'cooling');
    assert.equal(s.lastError, 'fire failed: the Python service is not running');
    assert.ok(s.lastErrorAt);
    assert.equal(calls.records[0].eventType, 'ERROR');
    assert.equal(calls.records[0].metadata.code, 'rule_action_failed');
    assert.equal(calls.records[0].metadata.message, 'the Python service is not running');
    assert.ok(
      calls.log.some(
        ([level, msg]) => level === 'warn' && /"cpu-high": its fire action \(CUSTOM_COMMAND reduce_complexity \{"factor":0\.5\}\) failed/.test(msg),
      ),
    );
    for (let i = 0; i < 4; i++) assert.equal((await second())[0].status, 'cooling');
    assert.equal(calls.control.length, 1, 'nothing to restore, no retry during the cooldown');
    fail = false;
    [s] = await second();
    assert.equal(s.status, 'firing');
    assert.equal(s.lastError, null, 'a success clears the error');
    assert.equal(calls.control.length, 2);
    assert.equal(calls.records[1].metadata.controlCommandId, 'ok-1');
  });

  it('a CommandResult with success false is a failure; its code and message are kept', async () => {
    const clock = new ManualClock();
    const { calls, second } = harness([cpuRule({ when: { metric: 'cpuPercent', above: 90, forSeconds: 0 } })], fixed({ cpuPercent: 99 }), clock, {
      control: () =>
        Promise.resolve({
          commandId: 'x-1',
          commandType: `${CONTROL_PREFIX}CUSTOM_COMMAND`,
          success: false,
          error: { code: 'unknown_control', message: 'Unknown control command "reduce_complexity"' },
          durationMs: 1,
          throttled: false,
          delayMs: 0,
        } satisfies CommandResult),
    });
    const [s] = await second();
    assert.equal(s.lastError, 'fire failed: unknown_control: Unknown control command "reduce_complexity"');
    assert.equal(calls.records[0].metadata.controlCommandId, 'x-1');
  });

  it('a failing restore keeps the rule firing and retries after the cooldown while still clear', async () => {
    const clock = new ManualClock();
    const m = fixed({ queueDepth: 50 });
    let problems = ['aios.maxConcurrency must be an integer from 1 to 256'];
    const { calls, second } = harness(
      [
        {
          name: 'q',
          when: { metric: 'queueDepth', above: 10, forSeconds: 0 },
          then: { notify: 'q' },
          restore: { limits: { maxConcurrency: 4 } },
          cooldownSeconds: 3,
        },
      ],
      m,
      clock,
      {
        setLimits: (l) => {
          calls.limits.push(l);
          return problems;
        },
      },
    );
    assert.equal((await second())[0].status, 'firing');
    m.v.queueDepth = 0;
    let [s] = await second();
    assert.equal(s.status, 'clearing');
    assert.equal(s.lastError, 'restore failed: aios.maxConcurrency must be an integer from 1 to 256');
    assert.equal(calls.records[1].eventType, 'ERROR');
    assert.equal((await second())[0].status, 'clearing');
    assert.equal((await second())[0].status, 'clearing');
    assert.equal(calls.limits.length, 1, 'no retry before the cooldown');
    problems = [];
    [s] = await second();
    assert.equal(s.status, 'cooling');
    assert.equal(s.lastError, null);
    assert.equal(calls.limits.length, 2);
    assert.ok(s.lastRestoredAt);
  });

  it('a notify or setLimits that throws, a record sink that throws, metrics that throw: reported, never thrown into the sampler', async () => {
    const clock = new ManualClock();
    const m = fixed({ cpuPercent: 95 });
    let broken = false;
    const calls: [string, string][] = [];
    const ticks = new StaticSampler();
    const engine = new RuleEngine({
      clock,
      ticks,
      metrics: {
        read: () => {
          if (broken) throw new Error('sampler gone');
          return m.read();
        },
      },
      record: () => {
        throw new Error('disk full');
      },
      rules: [
        { name: 'n', when: { metric: 'cpuPercent', above: 90, forSeconds: 0 }, then: { notify: 'hot' } },
        { name: 'l', when: { metric: 'cpuPercent', above: 90, forSeconds: 0 }, then: { limits: { maxConcurrency: 2 } } },
      ],
      actions: {
        control: () => Promise.resolve(),
        setLimits: () => {
          throw new Error('middleware closed');
        },
        notify: () => {
          throw new Error('no window');
        },
        log: (level, msg) => void calls.push([level, msg]),
      },
    });
    ticks.set({});
    await tick();
    const states = engine.states();
    assert.equal(states[0].lastError, 'fire failed: no window');
    assert.equal(states[1].lastError, 'fire failed: middleware closed');
    assert.ok(calls.some(([, msg]) => msg === 'Rule "n": could not record its fire: disk full'));
    broken = true;
    assert.doesNotThrow(() => ticks.set({}));
    assert.doesNotThrow(() => ticks.set({}));
    assert.equal(calls.filter(([, msg]) => msg.startsWith('Rules: could not read the metrics: sampler gone;')).length, 1, 'logged once, not every tick');
    broken = false;
    ticks.set({});
    assert.equal(calls.at(-1)![1], 'Rules: the metrics can be read again');
    engine.dispose();
  });
});

describe('RuleEngine: the setting changes', () => {
  it('an unchanged rule keeps its state; a removed or changed rule that is firing restores first', async () => {
    const clock = new ManualClock();
    const m = fixed({ cpuPercent: 95, queueDepth: 50 });
    const queue = {
      name: 'q',
      when: { metric: 'queueDepth', above: 10, forSeconds: 0 },
      then: { limits: { maxConcurrency: 8 } },
      restore: { limits: { maxConcurrency: 4 } },
    };
    const cpu = cpuRule({ when: { metric: 'cpuPercent', above: 90, forSeconds: 0 } });
    const { engine, calls, second } = harness([cpu, queue], m, clock);
    await second();
    assert.deepEqual(
      engine.states().map((s) => s.status),
      ['firing', 'firing'],
    );
    assert.deepEqual(engine.activeLimits(), { maxConcurrency: 8 });
    let changes = 0;
    engine.onDidChange(() => changes++);
    // The queue rule moves to the front unchanged; the CPU rule is switched off.
    engine.setRules([queue, { ...cpu, enabled: false }]);
    await tick();
    assert.ok(changes > 0);
    const states = engine.states();
    assert.deepEqual(
      states.map((s) => [s.index, s.name, s.status, s.firedCount]),
      [
        [0, 'q', 'firing', 1],
        [1, 'cpu-high', 'disabled', 0],
      ],
    );
    assert.deepEqual(
      calls.control.map((c) => c.parameters?.arguments),
      [{ factor: 0.5 }, { factor: 1 }],
      'the disabled rule restored',
    );
    assert.equal(calls.records.at(-1)!.metadata.reason, 'rule changed');
    assert.equal(calls.control[1].source, 'rule:cpu-high');
    // A changed threshold is a new rule: the old one restores, the new one starts armed.
    engine.setRules([{ ...queue, when: { ...queue.when, above: 100 } }]);
    await tick();
    assert.deepEqual(calls.limits.at(-1), { maxConcurrency: 4 });
    assert.equal(engine.states()[0].status, 'armed');
    assert.deepEqual(engine.activeLimits(), {});
  });

  it('a rule removed while its fire action is still running restores once that action succeeds', async () => {
    const clock = new ManualClock();
    let finish: (v: unknown) => void = () => undefined;
    const { engine, calls, second } = harness([cpuRule({ when: { metric: 'cpuPercent', above: 90, forSeconds: 0 } })], fixed({ cpuPercent: 95 }), clock, {
      control: (call) => {
        calls.control.push(call);
        return calls.control.length === 1 ? new Promise((r) => (finish = r)) : Promise.resolve({ success: true });
      },
    });
    const [s] = await second();
    assert.equal(s.actionRunning, 'fire');
    engine.setRules([]);
    assert.equal(calls.control.length, 1);
    finish({ success: true });
    await tick();
    assert.deepEqual(
      calls.control.map((c) => c.parameters?.arguments),
      [{ factor: 0.5 }, { factor: 1 }],
    );
    assert.deepEqual(engine.states(), []);
  });
});

describe('RuleEngine with a real middleware', () => {
  it('throttled commands drive throttledPerMinute over the threshold; the rule changes the limits and calls the control plane', async () => {
    const clock = new ManualClock();
    const sampler = new StaticSampler({ cpuPercent: 20, memoryPercent: 30, sampledAt: 1 });
    const m = createMiddleware({ sampler, clock, config: { maxConcurrency: 1, baseDelayMs: 50, maxDelayMs: 50 } });
    const release: (() => void)[] = [];
    const hold: Executor = () => new Promise<void>((r) => release.push(r));
    const source = new MetricSource({ sampler: m.sampler, telemetry: m.telemetry, admission: () => m.admission, clock });
    // The control plane as the extension has it: a CONTROL:* command through the same pipeline.
    const controlCalls: RuleControlCall[] = [];
    const control = (call: RuleControlCall & { source: string }) => {
      controlCalls.push(call);
      return m.execute(
        { commandType: `${CONTROL_PREFIX}${call.operation}`, priority: 'HIGH', parameters: call.parameters, source: call.source },
        functionExecutor({ [`${CONTROL_PREFIX}CUSTOM_COMMAND`]: (p) => ({ ok: true, detail: p }) }),
      );
    };
    const records: RuleRecord[] = [];
    const engine = new RuleEngine({
      metrics: source,
      clock,
      ticks: m.sampler,
      record: (r) => records.push(r),
      rules: [
        {
          name: 'throttling-high',
          when: { metric: 'throttledPerMinute', above: 10, forSeconds: 0 },
          then: { control: { operation: 'CUSTOM_COMMAND', parameters: { command: 'adjust_throttling', arguments: { new_max_concurrency: 4 } } } },
        },
        { name: 'widen', when: { metric: 'throttledPerMinute', above: 10, forSeconds: 0 }, then: { limits: { maxConcurrency: 16 } } },
      ],
      actions: { control, setLimits: (l) => m.updateConfig(l), notify: () => undefined, log: () => undefined },
    });
    const done: Promise<CommandResult>[] = [];
    done.push(m.execute({ commandType: 'SLOW' }, hold));
    for (let i = 0; i < 10; i++) done.push(m.execute({ commandType: 'SLOW' }, hold));
    await tick();
    sampler.set({ sampledAt: 2 });
    await tick();
    assert.equal(source.read().throttledPerMinute, 10);
    assert.equal(engine.states()[0].status, 'armed', '10 is not above 10');
    done.push(m.execute({ commandType: 'SLOW' }, hold));
    await tick();
    assert.equal(source.read().throttledPerMinute, 11);
    sampler.set({ sampledAt: 3 });
    await tick();
    assert.equal(m.config.maxConcurrency, 16, 'the limits action reached the middleware');
    assert.deepEqual(controlCalls, [
      { operation: 'CUSTOM_COMMAND', parameters: { command: 'adjust_throttling', arguments: { new_max_concurrency: 4 } }, source: 'rule:throttling-high' },
    ]);
    const [throttling, widen] = engine.states();
    assert.equal(throttling.status, 'firing');
    assert.equal(throttling.actionRunning, 'fire', 'its control operation waits for its backoff like any other');
    assert.equal(widen.status, 'firing');
    assert.equal(widen.actionRunning, null);
    clock.advance(100); // the backoff delays end; with the limit at 16 everything waiting starts
    await tick();
    await tick();
    assert.equal(engine.states()[0].actionRunning, null);
    assert.deepEqual(
      records.map((r) => [r.eventType, r.commandType, r.metadata.action, r.metadata.value]),
      [
        ['COMPLETE', 'RULE:widen', 'fire', 11],
        ['COMPLETE', 'RULE:throttling-high', 'fire', 11],
      ],
    );
    assert.match(records[1].metadata.controlCommandId!, /^[0-9a-f]{8}-/);
    // The control operation is counted as one, apart from the commands; its own THROTTLE is not a command's.
    const overall = m.telemetry.query('SUMMARY').overall;
    assert.equal(overall.controlOperations.count, 1);
    assert.equal(overall.throttledCommands, 11);
    assert.equal(source.read().throttledPerMinute, 11);
    assert.equal(m.admission.active, 12);
    for (const r of release) r();
    await Promise.all(done);
    engine.dispose();
    source.dispose();
    await m.close();
  });

  it("rule records in a real Telemetry: RULE:<name> events that move neither the commands' figures nor the metrics", async () => {
    const clock = new ManualClock();
    const w = world(clock);
    let id = 0;
    // The records go into the telemetry the way the extension wires them.
    const engine = new RuleEngine({
      metrics: w.source,
      clock,
      rules: [cpuRule({ name: 'cpu-real', when: { metric: 'cpuPercent', above: 90, forSeconds: 0 } })],
      record: (r) => w.telemetry.emit(r.eventType, `r-${++id}`, r.commandType, r.priority, r.durationMs, r.metadata),
      actions: { control: () => Promise.reject(new Error('down')), setLimits: () => undefined, notify: () => undefined, log: () => undefined },
    });
    w.emit('COMPLETE', 'ECHO', 10);
    w.sampler.set({ cpuPercent: 99, sampledAt: 1 });
    engine.tick();
    await tick();
    const events = w.telemetry.recentEvents().filter((e) => e.commandType === 'RULE:cpu-real');
    assert.equal(events.length, 1);
    assert.equal(events[0].eventType, 'ERROR');
    assert.equal(events[0].priority, 'HIGH');
    assert.deepEqual(
      { ...events[0].metadata },
      {
        rule: 'cpu-real',
        action: 'fire',
        reason: 'condition',
        metric: 'cpuPercent',
        value: 99,
        threshold: 90,
        clearAt: 90,
        direction: 'above',
        forSeconds: 0,
        effect: 'control',
        detail: 'CUSTOM_COMMAND reduce_complexity {"factor":0.5}',
        code: 'rule_action_failed',
        message: 'down',
      },
    );
    const overall = w.telemetry.query('SUMMARY').overall;
    assert.equal(overall.totalCommands, 1);
    assert.equal(overall.successRate, 1);
    assert.equal(overall.controlOperations.count, 0);
    assert.equal(w.telemetry.byType()['RULE:cpu-real'].errorCount, 1);
    assert.equal(w.source.read().errorRate, 0, 'a failed rule is not a failed command');
    engine.dispose();
  });
});

describe('aios.rules in package.json', () => {
  // The nearest package.json above this bundle (out/test/unit/…, or out/test/reliability/ when the reliability tier runs it).
  let root = __dirname;
  while (!existsSync(join(root, 'package.json')) && dirname(root) !== root) root = dirname(root);
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const setting = manifest.contributes.configuration.properties['aios.rules'];
  const item = setting.items;

  it('names the metrics, operations and limits the code accepts, with the same bounds and defaults', () => {
    assert.deepEqual(item.properties.when.properties.metric.enum, [...METRICS]);
    assert.equal(item.properties.when.properties.metric.enumDescriptions.length, METRICS.length);
    assert.deepEqual([...RULE_CONTROL_OPERATIONS], [...CONTROL_OPERATIONS], "the control plane's operations");
    assert.equal(item.properties.when.properties.forSeconds.default, RULE_DEFAULTS.forSeconds);
    assert.equal(item.properties.cooldownSeconds.default, RULE_DEFAULTS.cooldownSeconds);
    for (const key of ['then', 'restore']) {
      const [control, limits] = item.properties[key].oneOf;
      assert.deepEqual(control.properties.control.properties.operation.enum, [...RULE_CONTROL_OPERATIONS]);
      assert.deepEqual(Object.keys(limits.properties.limits.properties), [...RULE_LIMIT_KEYS]);
      for (const k of RULE_LIMIT_KEYS) {
        const p = limits.properties.limits.properties[k];
        const r = CONFIG_NUMBER_RULES[k];
        assert.deepEqual([p.type, p.minimum, p.maximum], [r.integer ? 'integer' : 'number', r.min, r.max], `${key}.limits.${k}`);
      }
    }
    const [percent, rate] = item.properties.when.allOf;
    assert.deepEqual(percent.if.properties.metric.enum, ['cpuPercent', 'memoryPercent']);
    assert.equal(percent.then.properties.above.maximum, METRIC_BOUNDS.cpuPercent.max);
    assert.equal(rate.then.properties.above.maximum, METRIC_BOUNDS.errorRate.max);
    assert.equal(setting.maxItems, 100);
  });

  it('its snippets (the PowerShell tool examples) are valid rules', () => {
    const bodies = (item.defaultSnippets as { body: unknown }[]).map((s) => s.body);
    assert.equal(bodies.length, 2);
    const parsed = parseRules(bodies);
    assert.deepEqual(parsed.problems, []);
    assert.deepEqual(
      parsed.rules.map((r) => [r.name, r.metric, r.threshold]),
      [
        ['cpu-high', 'cpuPercent', 90],
        ['throttling-high', 'throttledPerMinute', 10],
      ],
    );
  });
});
