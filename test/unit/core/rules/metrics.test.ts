import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { METRIC_MAX_DURATIONS } from '../../../../src/core/rules/metrics';
import { world } from '../metricWorld';

describe('MetricSource', () => {
  it('has no data before the first sample and the first command', () => {
    const { source } = world();
    assert.deepEqual(source.read(), {
      cpuPercent: undefined,
      memoryPercent: undefined,
      queueDepth: 0,
      throttledPerMinute: 0,
      errorRate: undefined,
      p95Ms: undefined,
    });
  });

  it("reads CPU and memory from the sampler's latest sample and the queue depth from admission", () => {
    const { source, sampler, admission } = world();
    sampler.set({ cpuPercent: 93.5, memoryPercent: 41, sampledAt: 1 });
    admission.queued = { HIGH: 1, NORMAL: 5, LOW: 2 };
    const v = source.read();
    assert.equal(v.cpuPercent, 93.5);
    assert.equal(v.memoryPercent, 41);
    assert.equal(v.queueDepth, 8);
  });

  it('counts throttles over the last 60 s only', () => {
    const { source, emit, clock } = world();
    for (let i = 0; i < 12; i++) emit('THROTTLE');
    clock.advance(30_000);
    for (let i = 0; i < 3; i++) emit('THROTTLE');
    assert.equal(source.read().throttledPerMinute, 15);
    clock.advance(30_000); // the first 12 are 60 s old now: out of the window
    assert.equal(source.read().throttledPerMinute, 3);
    clock.advance(30_000);
    assert.equal(source.read().throttledPerMinute, 0);
  });

  it('computes the error rate of commands as errors / (completed + errors); cancels, starts, control operations and rules do not count', () => {
    const { source, emit } = world();
    emit('START');
    emit('COMPLETE', 'ECHO', 5);
    emit('COMPLETE', 'ECHO', 5);
    emit('COMPLETE', 'ECHO', 5);
    emit('ERROR', 'ECHO', 5, { code: 'executor_error' });
    emit('ERROR', 'ECHO', 0, { code: 'blocked' }); // a failure before the executor still counts as an error
    emit('CANCEL', 'ECHO', 1, { code: 'cancelled' });
    emit('ERROR', 'CONTROL:RELOAD_CONFIG', 5, { code: 'config_invalid' });
    emit('ERROR', 'RULE:cpu-high', 5, { code: 'rule_action_failed' });
    emit('THROTTLE', 'CONTROL:CUSTOM_COMMAND');
    const v = source.read();
    assert.equal(v.errorRate, 2 / 5);
    assert.equal(v.throttledPerMinute, 0);
  });

  it('p95Ms is the nearest-rank 95th percentile of the last 60 s of executed commands', () => {
    const { source, emit, clock } = world();
    for (let i = 1; i <= 100; i++) emit('COMPLETE', 'ECHO', i);
    emit('ERROR', 'ECHO', 5000, { code: 'queue_full' }); // never ran: no latency
    emit('COMPLETE', 'CONTROL:FLUSH_CACHE', 9000);
    assert.equal(source.read().p95Ms, 95);
    clock.advance(59_000);
    emit('COMPLETE', 'ECHO', 1000);
    assert.equal(source.read().p95Ms, 96, 'the old ones are still in the window: rank 96 of 101');
    clock.advance(1_500);
    assert.equal(source.read().p95Ms, 1000, 'the old ones have left the window');
    clock.advance(60_000);
    assert.equal(source.read().p95Ms, undefined);
  });

  it(`keeps the newest ${METRIC_MAX_DURATIONS} durations when more commands end within a minute`, () => {
    const { source, emit } = world();
    for (let i = 0; i < 1000; i++) emit('COMPLETE', 'ECHO', 10_000);
    for (let i = 0; i < METRIC_MAX_DURATIONS; i++) emit('COMPLETE', 'ECHO', 1);
    assert.equal(source.read().p95Ms, 1);
  });

  it('clear() forgets the window; dispose() stops listening', () => {
    const { source, emit } = world();
    emit('THROTTLE');
    emit('ERROR', 'ECHO', 3, { code: 'executor_error' });
    source.clear();
    assert.equal(source.read().throttledPerMinute, 0);
    assert.equal(source.read().errorRate, undefined);
    assert.equal(source.read().p95Ms, undefined);
    source.dispose();
    emit('THROTTLE');
    assert.equal(source.read().throttledPerMinute, 0);
  });
});
