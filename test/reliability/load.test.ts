// Load with accounting, on the real pipeline with telemetry on disk: 100,000 commands from 1,000 submitters
// (mixed priorities; some executors throw, some commands are cancelled while queued or while running, some
// are denied by the policy). Every command settles once; COMPLETE + ERROR + CANCEL (blocked and refused
// included) = submitted in the stats and in the JSONL on disk, each id with one START where it started and
// exactly one terminal event; in flight never above the limit; the heap after the drain within a few MB.
// Then the same flood past maxQueueSize. Counts and invariants only.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createMiddleware } from '../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../src/core/system/sampler';
import type { Executor, Priority } from '../../src/core/types';
import { heapAfterGcMB, readDisk } from '../support/accounting';
import { record } from './table';

const PRIORITIES: Priority[] = ['HIGH', 'NORMAL', 'NORMAL', 'LOW'];
const CODES = ['success', 'executor_error', 'cancelled', 'blocked', 'queue_full'];

interface Flood {
  submitted: number;
  outcomes: Map<string, number>;
  peakRunning: number;
  heapBefore: number;
  heapAfter: number;
  duplicates: number;
  disk: { startedOk: number; mismatched: string[]; torn: number; refusalsNotWritten: number; dropped: number };
  stats: { total: number; success: number; failed: number; cancelled: number; blocked: number };
}

async function flood(submitters: number, perSubmitter: number, maxQueueSize: number): Promise<Flood> {
  const dir = mkdtempSync(join(tmpdir(), 'aios-load-'));
  const maxConcurrency = 8;
  const mw = createMiddleware({
    storageDir: dir,
    sessionId: 'load',
    sampler: new StaticSampler({ cpuPercent: 5 }),
    config: {
      maxConcurrency,
      maxQueueSize,
      baseDelayMs: 0,
      security: { denyPatterns: ['*DROP*'], allowPatterns: [] },
      telemetry: { maxRecentEvents: 100, maxFileSizeMB: 64, maxTotalSizeMB: 4096 },
    },
  });
  let running = 0;
  let peakRunning = 0;
  const controllers = new Map<number, AbortController>();
  const executor: Executor = (req, ctx) => {
    running++;
    peakRunning = Math.max(peakRunning, running);
    const k = Number(req.parameters.k);
    const finish = <T>(v: T): T => {
      running--;
      return v;
    };
    if (req.commandType === 'THROWS') {
      running--;
      throw new Error(`executor ${k} failed`);
    }
    if (req.commandType === 'HOLD') {
      // Cancelled while running: its controller is aborted once it has started.
      return new Promise((_resolve, reject) => {
        ctx.signal.addEventListener('abort', () => reject(finish(new Error('stopped'))), { once: true });
        setImmediate(() => controllers.get(k)?.abort());
      });
    }
    return new Promise((resolve) => setImmediate(() => resolve(finish(k))));
  };
  // One byte per command, allocated before the heap is measured (ids are the middleware's counter in base 36).
  const total = submitters * perSubmitter;
  const codes = new Uint8Array(total + 64);
  let idPrefix = '';
  let duplicates = 0;
  const outcomes = new Map<string, number>();
  const heapBefore = heapAfterGcMB();
  let k = 0;
  const submitter = async (): Promise<void> => {
    for (let j = 0; j < perSubmitter; j++) {
      const i = k++;
      const kind = i % 10;
      const commandType = kind === 1 ? 'THROWS' : kind === 2 ? 'HOLD' : kind === 3 ? 'DROP_TABLE' : 'WORK';
      let signal: AbortSignal | undefined;
      if (kind === 2 || kind === 4) {
        const c = new AbortController();
        controllers.set(i, c);
        signal = c.signal;
        // Cancelled while queued (most are: 8 slots for 1,000 submitters), or just after it started.
        if (kind === 4) setImmediate(() => c.abort());
      }
      const r = await mw.execute({ commandType, priority: PRIORITIES[i % 4], parameters: { k: i } }, executor, { signal });
      controllers.delete(i);
      const dash = r.commandId.lastIndexOf('-');
      idPrefix = r.commandId.slice(0, dash);
      const n = parseInt(r.commandId.slice(dash + 1), 36);
      const key = r.success ? 'success' : r.error!.code;
      if (codes[n] !== 0) duplicates++;
      codes[n] = CODES.indexOf(key) + 1;
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: submitters }, submitter));
  await mw.flush();
  const heapAfter = heapAfterGcMB();
  const summary = mw.telemetry.query('SUMMARY');
  const overall = summary.overall;
  await mw.close();

  const onDisk = readDisk(dir);
  const mismatched: string[] = [];
  let startedOk = 0;
  let refusalsNotWritten = 0;
  let settledIds = 0;
  for (let n = 0; n < codes.length; n++) {
    if (codes[n] === 0) continue;
    settledIds++;
    const code = CODES[codes[n] - 1];
    const id = `${idPrefix}-${n.toString(36)}`;
    const c = onDisk.byId.get(id);
    if (!c) {
      // A refused command's event (queue_full, blocked) is the one kind the writer may give up when far behind (counted).
      if (code === 'queue_full' || code === 'blocked') refusalsNotWritten++;
      else mismatched.push(`${id} (${code}): not on disk`);
      continue;
    }
    const want = code === 'success' ? 'COMPLETE' : code === 'cancelled' ? 'CANCEL' : 'ERROR';
    const started = code === 'success' || code === 'executor_error' || (code === 'cancelled' && c.starts === 1);
    if (c.terminals.length !== 1 || c.terminals[0] !== want) mismatched.push(`${id}: terminals ${c.terminals.join(',')} for ${want}`);
    else if (c.starts !== (started ? 1 : 0)) mismatched.push(`${id}: ${c.starts} STARTs`);
    else if (started) startedOk++;
  }
  if (onDisk.byId.size + refusalsNotWritten !== settledIds) mismatched.push(`${onDisk.byId.size} ids on disk for ${settledIds} commands`);
  rmSync(dir, { recursive: true, force: true });
  return {
    submitted: submitters * perSubmitter,
    outcomes,
    peakRunning,
    heapBefore,
    heapAfter,
    duplicates,
    disk: { startedOk, mismatched, torn: onDisk.torn, refusalsNotWritten, dropped: summary.storage.droppedEvents },
    stats: {
      total: overall.totalCommands,
      success: overall.successfulCommands,
      failed: overall.failedCommands,
      cancelled: overall.cancelledCommands,
      blocked: overall.blockedCommands,
    },
  };
}

function check(f: Flood, maxConcurrency: number): void {
  const count = (k: string) => f.outcomes.get(k) ?? 0;
  const settled = [...f.outcomes.values()].reduce((a, b) => a + b, 0);
  assert.equal(settled, f.submitted, 'every command settled');
  assert.equal(f.duplicates, 0, 'each settled once (no id twice)');
  assert.equal(
    count('success') + count('executor_error') + count('cancelled') + count('blocked') + count('queue_full'),
    f.submitted,
    JSON.stringify([...f.outcomes]),
  );
  assert.equal(f.stats.total, f.submitted, 'stats: every command');
  assert.equal(f.stats.success, count('success'));
  assert.equal(f.stats.failed, count('executor_error') + count('blocked') + count('queue_full'));
  assert.equal(f.stats.cancelled, count('cancelled'));
  assert.equal(f.stats.blocked, count('blocked'));
  assert.deepEqual(f.disk.mismatched.slice(0, 5), [], 'disk: one terminal per id, one START where it started');
  assert.equal(f.disk.torn, 0);
  assert.equal(f.disk.refusalsNotWritten, f.disk.dropped, "the only events missing on disk are refusals' the writer counted as dropped");
  assert.ok(f.peakRunning <= maxConcurrency, `in flight ${f.peakRunning} <= ${maxConcurrency}`);
  assert.ok(f.heapAfter - f.heapBefore < 8, `heap after the drain ${f.heapBefore.toFixed(1)} → ${f.heapAfter.toFixed(1)} MB`);
}

function describeFlood(f: Flood): string {
  return [...f.outcomes].map(([k, n]) => `${k} ${n}`).join(', ');
}

describe('reliability: load with accounting', () => {
  it('100,000 commands from 1,000 submitters, telemetry on disk: every one accounted in the stats and on disk', async (t) => {
    const f = await flood(1000, 100, 2000);
    t.diagnostic(`${describeFlood(f)}; peak running ${f.peakRunning}; heap ${f.heapBefore.toFixed(1)} → ${f.heapAfter.toFixed(1)} MB`);
    for (const k of ['success', 'executor_error', 'cancelled', 'blocked']) assert.ok((f.outcomes.get(k) ?? 0) > 0, `some ${k}`);
    check(f, 8);
    record({
      property: 'load: every command accounted (stats and disk)',
      tried: `${f.submitted} commands, 1000 submitters: ${describeFlood(f)}`,
      held: `stats = results = disk; ${f.disk.startedOk} STARTed ids with 1 START + 1 terminal; peak ${f.peakRunning}/8; heap +${(f.heapAfter - f.heapBefore).toFixed(1)} MB`,
    });
  });

  it('the same flood past maxQueueSize (200): queue_full refusals, the rest accounted the same way', async (t) => {
    const f = await flood(1000, 100, 200);
    t.diagnostic(`${describeFlood(f)}; peak running ${f.peakRunning}`);
    assert.ok((f.outcomes.get('queue_full') ?? 0) > 0, 'some refused');
    check(f, 8);
    record({
      property: 'load past maxQueueSize: refused queue_full, nothing lost',
      tried: `${f.submitted} commands, 1000 submitters, queue 200: ${describeFlood(f)}`,
      held: `stats = results; disk = results less ${f.disk.refusalsNotWritten} refusals' events counted as dropped; peak ${f.peakRunning}/8; heap +${(f.heapAfter - f.heapBefore).toFixed(1)} MB`,
    });
  });
});
