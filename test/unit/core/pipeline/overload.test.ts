// A flood past a full queue with telemetry on disk (as the extension runs): one bound on everything that
// waits, queue_full past it, and never a dropped event for a command that was accepted. Counts, no timing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import type { CommandResult, Executor } from '../../../../src/core/types';
import { heapAfterGcMB, readDisk } from '../../../support/accounting';

describe('overload with telemetry on disk', () => {
  it('300,000 fire-and-forget commands past a full queue: each refused queue_full or accounted START + terminal on disk; heap bounded', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'aios-overload-'));
    const N = 300_000;
    const maxQueueSize = 1000;
    const maxConcurrency = 8;
    const logs: string[] = [];
    const mw = createMiddleware({
      storageDir: dir,
      sessionId: 'overload',
      sampler: new StaticSampler({ cpuPercent: 5 }),
      // Room for every file (the default 50 MB total would prune the oldest, which is the bound working, not a loss).
      config: { maxConcurrency, maxQueueSize, baseDelayMs: 0, telemetry: { maxRecentEvents: 100, maxFileSizeMB: 64, maxTotalSizeMB: 4096 } },
      log: (level, m) => logs.push(`${level}: ${m}`),
    });
    let running = 0;
    let peak = 0;
    const executor: Executor = async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((r) => setImmediate(r));
      running--;
      return 1;
    };
    try {
      const before = heapAfterGcMB();
      const outcomes = new Map<string, number>();
      const acceptedIds = new Set<string>();
      let settled = 0;
      let done!: () => void;
      const allSettled = new Promise<void>((r) => (done = r));
      const settle = (r: CommandResult): void => {
        const k = r.success ? 'success' : r.error!.code;
        outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
        if (k !== 'queue_full') acceptedIds.add(r.commandId);
        if (++settled === N) done();
      };
      let heapDuring = 0;
      for (let i = 0; i < N; i++) {
        void mw.execute({ commandType: i % 3 === 0 ? 'A' : 'B', priority: i % 5 === 0 ? 'HIGH' : 'NORMAL' }, executor).then(settle);
        // A host yields now and then: the writer runs, fills up behind the disk, and the bound must hold.
        if (i % 10_000 === 9_999) {
          await new Promise<void>((r) => setImmediate(r));
          const queued = mw.admission.queued;
          assert.ok(queued.HIGH + queued.NORMAL + queued.LOW <= maxQueueSize, 'the queue bound holds');
          // Everything not yet answered is queued or running: nothing waits outside the bound.
          const unanswered = i + 1 - settled;
          assert.ok(unanswered <= maxQueueSize + maxConcurrency, `${unanswered} commands neither answered, queued nor running`);
          heapDuring = Math.max(heapDuring, process.memoryUsage().heapUsed / 1048576);
        }
      }
      await allSettled;
      await mw.flush();
      // Before the test reads the files back (that read holds every id).
      const after = heapAfterGcMB();
      const stats = mw.telemetry.query('SUMMARY');
      const refused = outcomes.get('queue_full') ?? 0;
      assert.equal(settled, N, 'every command settled');
      assert.equal((outcomes.get('success') ?? 0) + refused, N, `only successes and queue_full: ${JSON.stringify([...outcomes])}`);
      assert.ok(refused > 0 && refused < N, `some refused, some accepted (${refused} refused)`);
      assert.ok(peak <= maxConcurrency, `never above the limit (${peak})`);
      assert.equal(stats.overall.totalCommands, N, 'stats count every command');
      assert.equal(stats.storage.droppedEvents + stats.storage.writtenEvents, 2 * acceptedIds.size + refused);

      const disk = readDisk(dir);
      assert.equal(disk.torn, 0);
      let accountedAccepted = 0;
      for (const id of acceptedIds) {
        const c = disk.byId.get(id);
        assert.ok(c, `accepted command ${id} is on disk`);
        assert.equal(c.starts, 1, `${id}: one START`);
        assert.deepEqual(c.terminals, ['COMPLETE'], `${id}: one terminal event`);
        accountedAccepted++;
      }
      for (const [id, c] of disk.byId) {
        if (acceptedIds.has(id)) continue;
        // A refused command on disk: its ERROR only.
        assert.equal(c.starts, 0);
        assert.deepEqual(c.codes, ['queue_full']);
      }
      assert.equal(accountedAccepted, acceptedIds.size);
      const droppedRefusals = refused - (disk.byId.size - acceptedIds.size);
      assert.equal(stats.storage.droppedEvents, droppedRefusals, "only refused commands' events were given up");
      assert.ok(logs.filter((l) => /behind the disk/.test(l)).length <= 1, `at most one warning: ${logs.join(' | ')}`);

      t.diagnostic(
        `${N} submitted: ${acceptedIds.size} accepted, ${refused} refused queue_full; ${stats.storage.writtenEvents} events written, ${stats.storage.droppedEvents} refusals' events dropped; peak running ${peak}; heap ${before.toFixed(1)} → ${after.toFixed(1)} MB (peak ${heapDuring.toFixed(0)} MB)`,
      );
      assert.ok(after - before < 24, `heap after the drain within 24 MB of before (${before.toFixed(1)} → ${after.toFixed(1)} MB)`);
      assert.ok(heapDuring - before < 200, `heap during the flood bounded (${heapDuring.toFixed(0)} MB)`);
    } finally {
      await mw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
