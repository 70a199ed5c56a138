import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AdmissionState, SystemSample } from '../../../src/core';
import { indicatorModel } from '../../../src/views/indicatorModel';

const idle: AdmissionState = {
  active: 0,
  queued: { HIGH: 0, NORMAL: 0, LOW: 0 },
  delayed: 0,
  limit: 4,
  paused: false,
  externalActive: 0,
  mode: 'fixed',
  limitReason: 'aios.maxConcurrency is 4',
};
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
});
