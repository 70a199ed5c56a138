import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isPythonProcessName, StaticSampler, SystemSampler, type SystemInfoSource } from '../../../../src/core/system/sampler';
import type { SystemSample } from '../../../../src/core/types';

const fake = (): SystemInfoSource & { calls: number } => ({
  calls: 0,
  async currentLoad() {
    this.calls++;
    return { currentLoad: 42.04 };
  },
  async mem() {
    return { total: 1000, available: 250 };
  },
  async processes() {
    return {
      list: [
        { pid: 1, name: 'python3' },
        { pid: 2, name: 'python3.12' },
        { pid: 3, name: 'Python' },
        { pid: 4, name: 'pythonw.exe' },
        { pid: 5, name: 'node' },
        { pid: 6, name: 'python-language-server' },
        { pid: process.pid, name: 'python' },
      ],
    };
  },
});

describe('SystemSampler', () => {
  it('samples CPU, memory and other Python processes through an injected source', async () => {
    const s = new SystemSampler({ intervalMs: 60_000, processIntervalMs: 0 }, { source: fake(), ownPids: () => [4], now: () => 7 });
    try {
      const seen: SystemSample[] = [];
      s.onSample((x) => seen.push(x));
      await s.sampleLoad();
      await s.sampleProcesses();
      assert.deepEqual(s.latest(), { cpuPercent: 42, memoryPercent: 75, pythonProcesses: 3, sampledAt: 7 });
      assert.equal(seen.length, 2);
    } finally {
      s.dispose();
    }
  });

  it('its timers do not keep the process alive and stop on dispose', async () => {
    const source = fake();
    const s = new SystemSampler({ intervalMs: 250, processIntervalMs: 0 }, { source });
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(source.calls, 1, 'the first sample is taken at once, in the background');
    s.dispose();
    assert.equal(s.latest().cpuPercent, 42);
  });

  it('reports sampling failures instead of throwing', async () => {
    const errors: Error[] = [];
    const s = new SystemSampler(
      { intervalMs: 60_000, processIntervalMs: 0 },
      { source: { ...fake(), currentLoad: () => Promise.reject(new Error('no /proc')) }, onError: (e) => errors.push(e) },
    );
    await new Promise((r) => setTimeout(r, 30));
    s.dispose();
    assert.match(errors[0].message, /CPU\/memory sampling failed: no \/proc/);
  });

  it('recognises Python interpreter names across platforms', () => {
    for (const n of ['python', 'python3', 'python3.11', 'Python', 'pythonw.exe', 'python.exe']) assert.ok(isPythonProcessName(n), n);
    for (const n of ['py.exe', 'pythonista', 'node', 'ipython']) assert.ok(!isPythonProcessName(n), n);
  });
});

describe('StaticSampler', () => {
  it('reports what it is told and notifies', () => {
    const s = new StaticSampler({ cpuPercent: 5 });
    const seen: number[] = [];
    s.onSample((x) => seen.push(x.cpuPercent));
    s.set({ cpuPercent: 90 });
    assert.equal(s.latest().cpuPercent, 90);
    assert.deepEqual(seen, [90]);
  });
});
