import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AdmissionState, SharedState, SystemSample } from '../../../src/core';
import { describeSharedHolders, describeSharedLimit, indicatorModel } from '../../../src/views/indicatorModel';
import { IDLE_ADMISSION } from '../../support/admission';

const idle: AdmissionState = IDLE_ADMISSION;
const sample: SystemSample = { cpuPercent: 42.4, memoryPercent: 60, pythonProcesses: 2, sampledAt: 1 };

describe('status-bar indicator model', () => {
  it('shows load and CPU when all is well', () => {
    const m = indicatorModel({ ...idle, active: 2 }, { status: 'healthy' }, sample);
    assert.equal(m.state, 'normal');
    assert.equal(m.text, '$(pulse) AIOS 2/4 · CPU 42%');
    assert.equal(m.background, undefined);
  });

  it('warns while commands wait', () => {
    const m = indicatorModel({ ...idle, active: 4, queued: { HIGH: 1, NORMAL: 5, LOW: 2 } }, { status: 'healthy' }, sample);
    assert.equal(m.state, 'throttling');
    assert.match(m.text, /4\/4 · 8 queued/);
    assert.equal(m.background, 'statusBarItem.warningBackground');
  });

  it('says how many of the queued are in backoff, which may not start yet', () => {
    const m = indicatorModel({ ...idle, active: 0, limit: 64, queued: { HIGH: 0, NORMAL: 84, LOW: 0 }, delayed: 80 }, { status: 'healthy' }, sample);
    assert.equal(m.state, 'throttling');
    assert.equal(m.text, '$(watch) AIOS 0/64 · 84 queued (80 in backoff) · CPU 42%');
    const paused = indicatorModel({ ...idle, paused: true, queued: { HIGH: 1, NORMAL: 0, LOW: 0 }, delayed: 1 }, { status: 'healthy' }, sample);
    assert.equal(paused.text, '$(debug-pause) AIOS paused · 1 queued (1 in backoff)');
  });

  it('ranks states: down over paused over unhealthy over throttling', () => {
    const busy = { ...idle, queued: { HIGH: 0, NORMAL: 3, LOW: 0 } };
    assert.equal(indicatorModel({ ...busy, paused: true }, { status: 'crashed' }, sample).state, 'down');
    assert.equal(indicatorModel({ ...busy, paused: true }, { status: 'unhealthy' }, sample).state, 'paused');
    assert.equal(indicatorModel(busy, { status: 'unhealthy' }, sample).state, 'unhealthy');
    assert.equal(indicatorModel(busy, { status: 'healthy' }, sample).state, 'throttling');
    assert.equal(indicatorModel(idle, { status: 'stopped' }, sample).background, 'statusBarItem.errorBackground');
  });

  it('says so when no usable Python was found, until a service runs', () => {
    const m = indicatorModel(idle, { status: 'crashed', noInterpreter: true }, sample);
    assert.equal(m.state, 'noPython');
    assert.equal(m.text, '$(error) AIOS: no Python');
    assert.equal(m.background, 'statusBarItem.errorBackground');
    assert.equal(indicatorModel(idle, { status: 'healthy', noInterpreter: true }, sample).state, 'normal');
  });

  it('leaves CPU out until the sampler has measured', () => {
    const m = indicatorModel(idle, { status: 'starting' }, { ...sample, sampledAt: 0 });
    assert.equal(m.state, 'starting');
    assert.doesNotMatch(m.text, /CPU/);
  });

  describe('with a shared limit', () => {
    const shared: SharedState = {
      status: 'shared',
      cluster: 'team',
      redis: 'redis://:***@10.0.0.5:6379',
      clusterLimit: 8,
      held: 3,
      inUse: 7,
      waitingElsewhere: 2,
      hosts: 3,
      holders: [
        { hostId: 'a', label: 'laptop · pid 10', slots: 3, leaseLeftMs: 9200, waiting: { HIGH: 0, NORMAL: 0, LOW: 0 }, self: true },
        { hostId: 'b', label: 'build · pid 22', slots: 4, leaseLeftMs: 400, waiting: { HIGH: 1, NORMAL: 0, LOW: 1 }, self: false },
      ],
      holdersAt: 1,
      leaseMs: 10_000,
      hostId: 'a',
      label: 'laptop · pid 10',
      since: Date.UTC(2026, 11, 1, 9, 30),
    };
    const inShared: AdmissionState = { ...idle, mode: 'shared', limit: 3, active: 2, shared };
    const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

    it("shows what runs here and the cluster's slots in use of its limit", () => {
      assert.equal(indicatorModel(inShared, { status: 'healthy' }, sample).text, '$(pulse) AIOS 2 · cluster 7/8 · CPU 42%');
      const connecting = indicatorModel({ ...inShared, shared: { ...shared, status: 'connecting' } }, { status: 'healthy' }, sample);
      assert.equal(connecting.text, '$(pulse) AIOS 2 · cluster …/8 · CPU 42%');
      assert.match(
        describeSharedLimit(shared, clock),
        /^shared 'team' on redis:\/\/:\*\*\*@10\.0\.0\.5:6379: 7 of 8 slots in use by 3 windows; this window holds 3; 2 waiting elsewhere$/,
      );
    });

    it('warns when Redis is unreachable: the local limit applies, since when and why', () => {
      const fallback = { ...shared, status: 'fallback' as const, lastError: 'connect ECONNREFUSED 10.0.0.5:6379' };
      const m = indicatorModel({ ...inShared, limit: 8, shared: fallback }, { status: 'healthy' }, sample);
      assert.equal(m.state, 'clusterFallback');
      assert.equal(m.text, '$(warning) AIOS 2/8 · Redis unreachable');
      assert.equal(m.background, 'statusBarItem.warningBackground');
      assert.equal(
        describeSharedLimit(fallback, clock),
        'Redis unreachable since 09:30:00 (connect ECONNREFUSED 10.0.0.5:6379): this window keeps to its own limit, 8',
      );
      // A service that is down still says so first.
      assert.equal(indicatorModel({ ...inShared, shared: fallback }, { status: 'crashed' }, sample).state, 'down');
    });

    it('lists the windows holding slots, this one marked, with their leases and what they wait for', () => {
      assert.deepEqual(describeSharedHolders(shared), [
        { label: 'laptop · pid 10 (this window)', value: '3 slots · lease 10 s', self: true },
        { label: 'build · pid 22', value: '4 slots · lease 1 s · waiting HIGH 1 / NORMAL 0 / LOW 1', self: false },
      ]);
    });
  });
});
