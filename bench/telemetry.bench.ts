// Telemetry to disk, per event: our path (event object, stats, ring, cached-context serialisation, batched
// writer on one handle) against JSON.stringify + one fs.WriteStream.write per event, same events.
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../src/core/clock';
import { EMPTY_SAMPLE } from '../src/core/system/sampler';
import { redactText } from '../src/core/telemetry/redact';
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

/** Typical error messages (what passes through redaction: only failures carry text). */
const CLEAN_MESSAGES = [
  'handler ANALYZE_DATA failed: ValueError: could not parse column 3 of the input (row 1042)',
  'The Python service did not answer within 30000 ms; it may be busy or stuck (setting aios.python.requestTimeoutMs)',
  "Command type 'DELETE_ALL' is blocked by the deny pattern '*DELETE*' (setting aios.security.denyPatterns)",
  'handler TRAIN failed: RuntimeError: out of memory while loading the model weights',
];
const SECRET_MESSAGES = [
  'the upstream answered 401 to Authorization: Bearer abcdefghijklmnop0123456789',
  'cannot reach postgres://app:s3cr3t-pass@db.local:5432/x (ECONNREFUSED)',
  'login failed for user=bob password=hunter2hunter2 on the first try',
  'rejected key sk-proj-abcdefghijklmnopqrstuvwxyz0123 (quota exceeded)',
];

/** ns per redactText() call over `messages`. */
function redaction(messages: readonly string[], n: number): number {
  let chars = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) chars += redactText(messages[i & 3]).length;
  const ns = ((performance.now() - t0) * 1e6) / n;
  if (chars === 0) throw new Error('unreachable: keeps the loop');
  return ns;
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
    // Redaction runs only on failures' text and ad-hoc metadata; the floor is one event written to disk
    // (what every command pays twice). Ratio > 1: a redaction costs less than one event write.
    const floor = median(a) * 1000;
    for (const [name, messages] of [
      ['telemetry.redact-error-message', CLEAN_MESSAGES],
      ['telemetry.redact-secret-message', SECRET_MESSAGES],
    ] as const) {
      const r: number[] = [];
      for (let i = 0; i < 3; i++) r.push(redaction(messages, quick ? 100_000 : 400_000));
      log(`${name}: ${r.map((x) => round(x)).join(', ')} ns per message`);
      yield lowerIsBetter(name, median(r), 'ns', 'one event written to disk (telemetry.write-per-event)', floor);
    }
  },
};
