// Telemetry to disk, per event: our path (event object, stats, ring, cached-context serialisation, batched
// writer on one handle) against JSON.stringify + one fs.WriteStream.write per event, same events.
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../src/core/clock';
import { EMPTY_SAMPLE } from '../src/core/system/sampler';
import { JsonlWriter } from '../src/core/telemetry/storage';
import { Telemetry, type LineSink } from '../src/core/telemetry/telemetry';
import type { SystemContext } from '../src/core/types';
import { log, lowerIsBetter, median, round, type Bench, type BenchResult } from './types';
import { IDLE_ADMISSION } from '../test/support/admission';

const user = Object.freeze({ sessionId: 'bench', userName: 'dev', workspace: 'aios-demo', uiKind: 'desktop' });
const system: SystemContext = Object.freeze({
  platform: process.platform,
  arch: process.arch,
  nodeVersion: process.version,
  cpuCount: 2,
  cpuPercent: 12.5,
  memoryPercent: 41.2,
  pythonProcesses: 1,
});
const service = Object.freeze({ status: 'healthy', pid: 4242, version: '0.1.0', uptimeS: 120 });

/** A Telemetry with fixed contexts, for benches: events on `sink` when given, timestamps from `clock`. */
export function benchTelemetry({ sink, clock = systemClock }: { sink?: LineSink; clock?: Clock } = {}): Telemetry {
  return new Telemetry({
    clock,
    maxRecentEvents: 500,
    user,
    system: () => system,
    service: () => service,
    realtime: () => ({
      system: EMPTY_SAMPLE,
      admission: IDLE_ADMISSION,
      service,
    }),
    storage: () => ({ enabled: true, writtenEvents: 0, droppedEvents: 0, restored: false }),
    sink,
  });
}

async function ours(n: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'aios-bench-'));
  try {
    const writer = new JsonlWriter({ dir, sessionId: 'bench', maxFileBytes: 1 << 30, maxTotalBytes: 1 << 31, flushIntervalMs: 1000 });
    const t = benchTelemetry({ sink: writer });
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      t.emit('COMPLETE', `a1b2c3d4-${i.toString(36)}`, 'ANALYZE_DATA', 'NORMAL', 1.234, undefined, true);
      // Yield like a real host does, so the writer's I/O overlaps event production.
      if ((i & 1023) === 1023) await new Promise<void>((r) => setImmediate(r));
    }
    await writer.close();
    return ((performance.now() - t0) * 1000) / n;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function writeStreamPerEvent(n: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'aios-bench-'));
  try {
    const stream = createWriteStream(join(dir, 'events.jsonl'), { flags: 'a' });
    const t = benchTelemetry();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const e = t.emit('COMPLETE', `a1b2c3d4-${i.toString(36)}`, 'ANALYZE_DATA', 'NORMAL', 1.234, undefined, true);
      stream.write(JSON.stringify(e) + '\n');
      if ((i & 1023) === 1023) await new Promise<void>((r) => setImmediate(r));
    }
    await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
    return ((performance.now() - t0) * 1000) / n;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const telemetryBench: Bench = {
  name: 'telemetry',
  async *run({ quick }): AsyncIterable<BenchResult> {
    const n = quick ? 200_000 : 1_000_000;
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < (quick ? 2 : 3); r++) {
      a.push(await ours(n));
      b.push(await writeStreamPerEvent(n));
      log(`telemetry round ${r}: ours ${round(a[r])} µs, WriteStream per event ${round(b[r])} µs`);
    }
    yield lowerIsBetter('telemetry.write-per-event', median(a), 'us', 'JSON.stringify + WriteStream.write per event', median(b));
  },
};
