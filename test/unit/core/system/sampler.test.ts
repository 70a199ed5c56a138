import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ERROR_REPEAT_MS, isPythonProcessName, StaticSampler, SystemSampler, type SystemInfoSource } from '../../../../src/core/system/sampler';
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

  it('reports a failure that repeats once a minute, with its count, and a new one at once', async () => {
    const errors: string[] = [];
    let now = 0;
    let failWith: string | undefined = 'no /proc';
    let samples = 0;
    const source = {
      ...fake(),
      currentLoad: () => {
        samples++;
        return failWith === undefined ? Promise.resolve({ currentLoad: 1 }) : Promise.reject(new Error(failWith));
      },
    };
    const s = new SystemSampler({ intervalMs: 1, processIntervalMs: 0 }, { source, onError: (e) => errors.push(e.message), now: () => now });
    const untilSamples = async (n: number) => {
      const target = samples + n;
      while (samples < target) await new Promise((r) => setTimeout(r, 1));
      await new Promise((r) => setTimeout(r, 5));
    };
    try {
      await untilSamples(20);
      assert.deepEqual(errors, ['CPU/memory sampling failed: no /proc'], 'twenty failures in the first minute: one line');
      now = ERROR_REPEAT_MS;
      await untilSamples(3);
      assert.equal(errors.length, 2, errors.join('\n'));
      assert.match(errors[1], /^CPU\/memory sampling failed: no \/proc \(\d+ times in the last 60 s\)$/);
      const count = Number(/\((\d+) times/.exec(errors[1])![1]);
      assert.ok(count >= 21, `counted ${count}`);
      failWith = 'EACCES';
      await untilSamples(3);
      assert.deepEqual(errors.slice(2), ['CPU/memory sampling failed: EACCES'], 'another failure is reported at once');
      failWith = undefined;
      await untilSamples(2);
      failWith = 'EACCES';
      await untilSamples(2);
      assert.deepEqual(errors.slice(3), ['CPU/memory sampling failed: EACCES'], 'after a good sample the same failure is news again');
    } finally {
      s.dispose();
    }
  });

  it('a missing worker script fails every sample and is reported once (the real worker thread)', async () => {
    const errors: string[] = [];
    const s = new SystemSampler(
      { intervalMs: 5, processIntervalMs: 0 },
      { workerScript: join(tmpdir(), 'aios-no-such-worker.js'), onError: (e) => errors.push(e.message) },
    );
    try {
      const t0 = Date.now();
      // Each sample starts a worker that fails to load: wait for several of them.
      while (Date.now() - t0 < 1500) await new Promise((r) => setTimeout(r, 50));
      assert.equal(errors.length, 1, errors.join('\n'));
      assert.match(errors[0], /^CPU\/memory sampling failed: .*aios-no-such-worker/);
    } finally {
      s.dispose();
    }
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
