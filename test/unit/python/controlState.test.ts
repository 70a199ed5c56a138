// ControlState: what it keeps of the control calls that succeeded, and how it re-applies them to a new process.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock';
import { ControlState, REPLAY_SOURCE, describeReplay, type ControlCall } from '../../../src/python/controlState';
import type { ControlResult, HealthResult } from '../../../src/python/protocol';

/** The parts of a health state ControlState reads; the rest does not matter here. */
function state(patch: Partial<HealthResult> = {}): HealthResult {
  return { logLevel: 'INFO', loggers: {}, overridden: false, overrideExpiresAt: null, status: 'healthy', ...patch } as HealthResult;
}

const reply = (detail?: unknown, s: HealthResult = state()): ControlResult => ({ ok: true, state: s, detail }) as ControlResult;

function store(replayable: string[] = ['reduce_complexity', 'set_mode']) {
  const clock = new ManualClock(0, Date.UTC(2026, 0, 1, 12, 0, 0));
  const cs = new ControlState({ clock, isReplayable: (c) => replayable.includes(c) });
  return { clock, cs };
}

/** replay() through a send that records the calls and fails those `fail` picks. */
async function replayed(cs: ControlState, fail: (c: ControlCall) => string | undefined = () => undefined) {
  const sent: ControlCall[] = [];
  const outcome = await cs.replay((call) => {
    sent.push(call);
    const why = fail(call);
    return why ? Promise.reject(new Error(why)) : Promise.resolve({ ok: true });
  });
  return { sent, outcome };
}

describe('ControlState', () => {
  it('starts empty and replays nothing', async () => {
    const { cs } = store();
    assert.equal(cs.isEmpty, true);
    const { sent, outcome } = await replayed(cs);
    assert.deepEqual(sent, []);
    assert.equal(describeReplay(outcome), undefined);
  });

  it('keeps the last log level per target; persistent ones are left to the config file', async () => {
    const { cs } = store();
    cs.record({ operation: 'UPDATE_LOG_LEVEL', value: 'debug' }, reply({ logLevel: 'DEBUG', target: null, persisted: false }, state({ logLevel: 'DEBUG' })));
    cs.record(
      { operation: 'UPDATE_LOG_LEVEL', value: 'WARNING', parameters: { target_module: 'handlers' } },
      reply({ logLevel: 'WARNING', target: 'handlers', persisted: false }, state({ logLevel: 'DEBUG', loggers: { handlers: 'WARNING' } })),
    );
    cs.record(
      { operation: 'UPDATE_LOG_LEVEL', value: 'ERROR', parameters: { target_module: 'handlers' } },
      reply({ logLevel: 'ERROR', target: 'handlers', persisted: false }, state({ logLevel: 'DEBUG', loggers: { handlers: 'ERROR' } })),
    );
    cs.record(
      { operation: 'UPDATE_LOG_LEVEL', value: 'INFO', parameters: { target_module: 'saved', persistent: true } },
      reply({ logLevel: 'INFO', target: 'saved', persisted: true }, state({ logLevel: 'DEBUG', loggers: { handlers: 'ERROR', saved: 'INFO' } })),
    );
    const { sent } = await replayed(cs);
    assert.deepEqual(sent, [
      { operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG', parameters: {}, source: REPLAY_SOURCE },
      { operation: 'UPDATE_LOG_LEVEL', value: 'ERROR', parameters: { target_module: 'handlers' }, source: REPLAY_SOURCE },
    ]);
  });

  it('a persistent level replaces a run-time one for the same target', async () => {
    const { cs } = store();
    cs.record({ operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG' }, reply({ logLevel: 'DEBUG', target: null, persisted: false }, state({ logLevel: 'DEBUG' })));
    cs.record(
      { operation: 'UPDATE_LOG_LEVEL', value: 'WARNING', parameters: { persistent: true } },
      reply({ logLevel: 'WARNING', target: null, persisted: true }, state({ logLevel: 'WARNING' })),
    );
    assert.equal(cs.isEmpty, true);
  });

  it('forgets a level the service no longer has (RELOAD_CONFIG applied the file’s)', () => {
    const { cs } = store();
    cs.record({ operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG' }, reply({ logLevel: 'DEBUG', target: null, persisted: false }, state({ logLevel: 'DEBUG' })));
    cs.record(
      { operation: 'UPDATE_LOG_LEVEL', value: 'ERROR', parameters: { target_module: 'a' } },
      reply({ logLevel: 'ERROR', target: 'a', persisted: false }, state({ logLevel: 'DEBUG', loggers: { a: 'ERROR' } })),
    );
    // The reloaded file sets logLevel but not loggers: the root level is the file's now, module a keeps ERROR.
    cs.record({ operation: 'RELOAD_CONFIG' }, reply({ configFile: null, handlersError: null }, state({ logLevel: 'WARNING', loggers: { a: 'ERROR' } })));
    assert.deepEqual(
      cs.calls().map((c) => c.label),
      ['log level of a ERROR'],
    );
  });

  it('re-applies a health override with only the time it had left, and forgets it once expired', async () => {
    const { cs, clock } = store();
    const expiresAt = new Date(clock.epochMs() + 60_000).toISOString();
    cs.record(
      { operation: 'HEALTH_OVERRIDE', value: 'unhealthy', parameters: { duration: 60 } },
      reply({ status: 'unhealthy', expiresAt }, state({ overridden: true, status: 'unhealthy' })),
    );
    clock.advance(42_500);
    const first = await replayed(cs);
    assert.deepEqual(first.sent, [{ operation: 'HEALTH_OVERRIDE', value: 'unhealthy', parameters: { duration: 17.5 }, source: REPLAY_SOURCE }]);
    assert.equal(describeReplay(first.outcome), 'Control state for the new Python service: re-applied health override unhealthy (18 s left)');

    clock.advance(20_000);
    const second = await replayed(cs);
    assert.deepEqual(second.sent, [], 'an expired override is not sent');
    assert.equal(describeReplay(second.outcome), 'Control state for the new Python service: health override unhealthy had expired');
    assert.equal(cs.isEmpty, true);
  });

  it('keeps an override without a duration until cleared; "clear" forgets it', async () => {
    const { cs, clock } = store();
    cs.record({ operation: 'HEALTH_OVERRIDE', value: 'unhealthy' }, reply({ status: 'unhealthy', expiresAt: null }, state({ overridden: true })));
    clock.advance(86_400_000);
    assert.deepEqual((await replayed(cs)).sent, [{ operation: 'HEALTH_OVERRIDE', value: 'unhealthy', parameters: {}, source: REPLAY_SOURCE }]);
    cs.record({ operation: 'HEALTH_OVERRIDE', value: 'clear' }, reply({ status: null, expiresAt: null }));
    assert.equal(cs.isEmpty, true);
  });

  it('computes the expiry from the duration when the reply has none', () => {
    const { cs, clock } = store();
    cs.record({ operation: 'HEALTH_OVERRIDE', value: 'healthy', parameters: { duration: 10 } }, { ok: true } as unknown as ControlResult);
    clock.advance(4000);
    assert.deepEqual(cs.calls()[0].call.parameters, { duration: 6 });
  });

  it('keeps only replayable custom commands, with their last arguments, in the order of their last use', async () => {
    const { cs } = store(['reduce_complexity', 'set_mode']);
    const custom = (command: string, args: Record<string, unknown>) =>
      cs.record({ operation: 'CUSTOM_COMMAND', parameters: { command, arguments: args } }, reply({ command, result: null }));
    custom('reduce_complexity', { factor: 0.5 });
    custom('set_mode', { mode: 'a' });
    custom('adjust_throttling', { new_max_concurrency: 2 }); // not replayable
    const args = { factor: 0.25 };
    custom('reduce_complexity', args);
    args.factor = 1; // the caller's object changing later does not change what is kept
    const { sent } = await replayed(cs);
    assert.deepEqual(
      sent.map((c) => c.parameters),
      [
        { command: 'set_mode', arguments: { mode: 'a' } },
        { command: 'reduce_complexity', arguments: { factor: 0.25 } },
      ],
    );
  });

  it('ignores operations that set no lasting state', () => {
    const { cs } = store();
    cs.record({ operation: 'FLUSH_CACHE', parameters: { cache_type: 'all' } }, reply({ flushed: {}, force: false }));
    cs.record({ operation: 'BCM_RESET' }, reply({ previous: {} }));
    cs.record({ operation: 'RELOAD_CONFIG' }, reply({ configFile: null, handlersError: null }));
    assert.equal(cs.isEmpty, true);
  });

  it('replays in order: service level, module levels, custom commands, health override last', async () => {
    const { cs } = store();
    cs.record({ operation: 'HEALTH_OVERRIDE', value: 'unhealthy' }, reply({ status: 'unhealthy', expiresAt: null }, state({ overridden: true })));
    cs.record({ operation: 'CUSTOM_COMMAND', parameters: { command: 'set_mode', arguments: {} } }, reply(undefined, state({ overridden: true })));
    cs.record(
      { operation: 'UPDATE_LOG_LEVEL', value: 'ERROR', parameters: { target_module: 'm' } },
      reply({ logLevel: 'ERROR', target: 'm', persisted: false }, state({ overridden: true, loggers: { m: 'ERROR' } })),
    );
    cs.record({ operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG' }, reply({ logLevel: 'DEBUG', target: null, persisted: false }, state({ overridden: true, logLevel: 'DEBUG' })));
    const { sent } = await replayed(cs);
    assert.deepEqual(
      sent.map((c) => `${c.operation} ${c.value ?? (c.parameters as { command: string }).command}`),
      ['UPDATE_LOG_LEVEL DEBUG', 'UPDATE_LOG_LEVEL ERROR', 'CUSTOM_COMMAND set_mode', 'HEALTH_OVERRIDE unhealthy'],
    );
  });

  it('reports what failed, goes on with the rest, and keeps the failed ones for the next process', async () => {
    const { cs } = store();
    cs.record({ operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG' }, reply({ logLevel: 'DEBUG', target: null, persisted: false }, state({ logLevel: 'DEBUG' })));
    cs.record({ operation: 'CUSTOM_COMMAND', parameters: { command: 'set_mode', arguments: { mode: 'b' } } }, reply(undefined, state({ logLevel: 'DEBUG' })));
    const { sent, outcome } = await replayed(cs, (c) => (c.operation === 'UPDATE_LOG_LEVEL' ? 'the service is gone' : undefined));
    assert.equal(sent.length, 2);
    assert.equal(
      describeReplay(outcome),
      'Control state for the new Python service: re-applied set_mode; could not re-apply log level DEBUG (the service is gone)',
    );
    assert.equal(cs.calls().length, 2, 'kept');
  });

  it('forget() drops everything (a fresh restart)', () => {
    const { cs } = store();
    cs.record({ operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG' }, reply({ logLevel: 'DEBUG', target: null, persisted: false }, state({ logLevel: 'DEBUG' })));
    cs.record({ operation: 'HEALTH_OVERRIDE', value: 'unhealthy' }, reply({ status: 'unhealthy', expiresAt: null }, state({ overridden: true, logLevel: 'DEBUG' })));
    cs.forget();
    assert.equal(cs.isEmpty, true);
    assert.deepEqual(cs.calls(), []);
  });

  it('observe(): an override no longer in force (expired in the service) is forgotten', () => {
    const { cs } = store();
    cs.record({ operation: 'HEALTH_OVERRIDE', value: 'unhealthy' }, reply({ status: 'unhealthy', expiresAt: null }, state({ overridden: true })));
    cs.observe(state({ overridden: false }));
    assert.equal(cs.isEmpty, true);
  });
});

describe('ControlState across extension hosts (a window reload)', () => {
  it('toJSON then restore in a new ControlState replays the same calls, in the same order', async () => {
    const { cs, clock } = store();
    cs.record({ operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG' }, reply({ logLevel: 'DEBUG', target: null, persisted: false }, state({ logLevel: 'DEBUG' })));
    cs.record(
      { operation: 'CUSTOM_COMMAND', parameters: { command: 'reduce_complexity', arguments: { factor: 0.5 } } },
      reply({ command: 'reduce_complexity', result: {} }, state({ logLevel: 'DEBUG' })),
    );
    cs.record(
      { operation: 'HEALTH_OVERRIDE', value: 'unhealthy', parameters: { duration: 60 } },
      reply({ status: 'unhealthy', expiresAt: new Date(clock.epochMs() + 60_000).toISOString() }, state({ logLevel: 'DEBUG', overridden: true })),
    );
    const saved = JSON.parse(JSON.stringify(cs.toJSON())) as unknown; // as workspace state stores it
    const next = new ControlState({ clock, isReplayable: () => false });
    assert.deepEqual(next.restore(saved), []);
    clock.advance(20_000);
    const before = await replayed(cs);
    const after = await replayed(next);
    assert.deepEqual(after.sent, before.sent);
    assert.deepEqual(
      after.sent.map((c) => c.operation),
      ['UPDATE_LOG_LEVEL', 'CUSTOM_COMMAND', 'HEALTH_OVERRIDE'],
    );
    assert.deepEqual(after.sent[2].parameters, { duration: 40 });
  });

  it('drops an override that ran out while no window was open, and names what is malformed', () => {
    const { cs, clock } = store();
    const problems = cs.restore({
      version: 1,
      levels: [{ target: '', level: 'DEBUG' }, { target: 3 }],
      custom: [{ command: 'x', arguments: [] }],
      override: { status: 'unhealthy', expiresAt: clock.epochMs() - 1 },
    });
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.deepEqual(
      cs.calls().map((c) => c.label),
      ['log level DEBUG'],
    );
    assert.deepEqual(store().cs.restore({ version: 9 }).length, 1);
    assert.deepEqual(store().cs.restore(undefined), []);
  });
});
