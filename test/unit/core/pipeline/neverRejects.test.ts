// execute() never rejects: whatever the caller hands it (getters that throw null, options that throw) and
// whatever an executor throws (a value whose getters throw), it resolves with a result and records one event.
/* eslint-disable @typescript-eslint/only-throw-error, @typescript-eslint/prefer-promise-reject-errors -- throwing non-Errors is the point */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import type { ExecuteOptions, TelemetryEvent } from '../../../../src/core/types';

describe('execute() never rejects', () => {
  it('a request whose getters throw (null, a string, an Error) is refused as invalid_request, once', async () => {
    const mw = createMiddleware({ sampler: new StaticSampler({ cpuPercent: 5 }), config: { baseDelayMs: 0 } });
    const events: TelemetryEvent[] = [];
    mw.telemetry.onEvent((e) => events.push(e));
    try {
      const throwing = (value: unknown, field: string) =>
        Object.defineProperty({}, field, {
          enumerable: true,
          get() {
            throw value;
          },
        });
      const inputs = [
        throwing(null, 'commandType'),
        throwing(undefined, 'commandType'),
        throwing('nope', 'priority'),
        throwing(new Error('getter broke'), 'parameters'),
        {
          commandType: 'A',
          parameters: {
            toJSON: () => {
              throw null;
            },
          },
        },
        { commandType: 'A', parameters: throwing(null, 'x') },
      ];
      for (const input of inputs) {
        const r = await mw.execute(input, () => 1);
        assert.equal(r.success, false);
        assert.equal(r.error?.code, 'invalid_request', JSON.stringify(r.error));
        assert.equal(typeof r.error?.message, 'string');
      }
      assert.equal(events.length, inputs.length, 'one ERROR each');
      assert.ok(events.every((e) => e.eventType === 'ERROR'));
    } finally {
      await mw.close();
    }
  });

  it('options whose getters throw, and executors throwing values whose getters throw, still resolve', async () => {
    const mw = createMiddleware({ sampler: new StaticSampler({ cpuPercent: 5 }), config: { baseDelayMs: 0 } });
    try {
      const options = Object.defineProperty({}, 'signal', {
        get() {
          throw null;
        },
      }) as ExecuteOptions;
      const r1 = await mw.execute({ commandType: 'A' }, () => 1, options);
      assert.equal(r1.error?.code, 'invalid_request');
      const hostile = Object.defineProperty({}, 'message', {
        get() {
          throw null;
        },
      });
      const r2 = await mw.execute({ commandType: 'A' }, () => {
        throw hostile;
      });
      assert.equal(r2.error?.code, 'executor_error');
      const r3 = await mw.execute({ commandType: 'A' }, () => Promise.reject(hostile));
      assert.equal(r3.error?.code, 'executor_error');
      const summary = mw.telemetry.query('SUMMARY').overall;
      assert.equal(summary.totalCommands, 3);
    } finally {
      await mw.close();
    }
  });
});
