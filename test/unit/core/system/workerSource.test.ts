// systeminformation on the sampler's worker thread (the built dist/chunks/systemWorker.js): real readings, no
// shell spawned synchronously on the caller's thread (counted; the same sampler without the worker is the
// control, where systeminformation's Linux CPU reading does spawn one), and clear errors when the worker goes.
import assert from 'node:assert/strict';
import childProcess from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { SystemSampler } from '../../../../src/core/system/sampler';
import { WorkerSystemInfo } from '../../../../src/core/system/workerSource';

const script = join(resolve(__dirname, '..', '..', '..', '..', '..'), 'dist', 'chunks', 'systemWorker.js');

// Counts the synchronous spawns made on this thread. Installed before systeminformation is first loaded here
// (the control below loads it on this thread), which takes its reference to execSync when it loads.
let syncSpawns = 0;
const cp = childProcess as unknown as Record<string, (...args: unknown[]) => unknown>;
for (const name of ['execSync', 'execFileSync', 'spawnSync']) {
  const original = cp[name];
  cp[name] = (...args: unknown[]) => {
    syncSpawns++;
    return original(...args);
  };
}

const quiet = { intervalMs: 60_000, processIntervalMs: 0 };

describe('WorkerSystemInfo (systeminformation on a worker thread)', () => {
  it('reads CPU load, memory and the process list for real', async () => {
    const si = new WorkerSystemInfo(script);
    try {
      const [load, mem, processes] = await Promise.all([si.currentLoad(), si.mem(), si.processes()]);
      assert.ok(load.currentLoad >= 0 && load.currentLoad <= 100, `CPU load ${load.currentLoad}`);
      assert.ok(mem.total > 0 && mem.available > 0 && mem.available <= mem.total, JSON.stringify(mem));
      assert.ok(
        processes.list.some((p) => p.pid === process.pid),
        'this process is among those listed',
      );
      assert.deepEqual(Object.keys(processes.list[0]).sort(), ['name', 'pid'], 'only what the sampler reads crosses the thread');
      assert.equal(si.started, 1, 'one worker for every reading');
    } finally {
      si.dispose();
    }
  });

  it('the sampler spawns nothing synchronously on its own thread with the worker; without it, it does (the control)', async () => {
    const before = syncSpawns;
    const withWorker = new SystemSampler(quiet, { workerScript: script });
    try {
      for (let i = 0; i < 3; i++) await withWorker.sampleLoad();
      assert.ok(withWorker.latest().sampledAt > 0 && withWorker.latest().memoryPercent > 0, JSON.stringify(withWorker.latest()));
    } finally {
      withWorker.dispose();
    }
    assert.equal(syncSpawns - before, 0, 'synchronous spawns on the caller thread with the worker');
    if (process.platform !== 'linux') return; // the control: systeminformation's CPU reading spawns on Linux
    const inThread = new SystemSampler(quiet);
    try {
      await inThread.sampleLoad();
      await new Promise((r) => setTimeout(r, 250)); // it computes a new load at most every 200 ms
      await inThread.sampleLoad();
    } finally {
      inThread.dispose();
    }
    assert.ok(syncSpawns - before > 0, 'the control spawned synchronously: the count above can fail');
  });

  it('a worker that exits fails what it owed with a clear error, and the next reading starts another', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aios-worker-'));
    const exits = join(dir, 'exits.js');
    writeFileSync(exits, 'process.exit(3);\n');
    const si = new WorkerSystemInfo(exits);
    try {
      await assert.rejects(si.currentLoad(), /the system sampler's worker exited \(code 3\)/);
      await assert.rejects(si.mem(), /exited \(code 3\)/);
      assert.equal(si.started, 2);
    } finally {
      si.dispose();
    }
  });

  it('once disposed, a reading owed and any later one fail, saying so', async () => {
    const si = new WorkerSystemInfo(script);
    const owed = si.processes();
    si.dispose();
    await assert.rejects(owed, /the system sampler was stopped/);
    await assert.rejects(si.currentLoad(), /the system sampler was stopped/);
  });
});
