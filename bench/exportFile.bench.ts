// Exporting the telemetry on disk: four window sessions of rotated files (5 MB each, as the default setting),
// ~550-byte events interleaved in time, exported whole as JSON Lines and as CSV. Floor in the same run: the
// same files copied byte for byte into one file (streams, no line splitting, parsing or merging), i.e. what
// the disk and the page cache cost. Also the live heap at the export's peak beyond what it started with
// (after a GC at each progress report, in a separate untimed run), against the size of the logs: it must
// not grow with them.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportTelemetry } from '../src/core/telemetry/exportFile';
import { eventsFileName } from '../src/core/telemetry/storage';
import { gc, higherIsBetter, log, round, type Bench, type BenchResult } from './types';

const SESSIONS = 4;
const FILE_BYTES = 5 * 1024 * 1024;

function eventLine(ms: number, session: string, i: number): string {
  return JSON.stringify({
    timestamp: new Date(ms).toISOString(),
    eventType: i % 2 ? 'COMPLETE' : 'START',
    commandId: `${session}-${i.toString(36)}`,
    commandType: 'AI_INFERENCE',
    priority: 'NORMAL',
    ...(i % 2 ? { durationMs: 12.345 } : {}),
    user: { uiKind: 'desktop', remote: 'local', appName: 'Visual Studio Code', sessionId: session },
    system: { platform: 'linux', arch: 'x64', nodeVersion: 'v20.20.2', cpuCount: 2, cpuPercent: 23.5, memoryPercent: 41.2, pythonProcesses: 1 },
    service: { status: 'running', pid: 4242, logLevel: 'INFO', restarts: 0 },
    ...(i % 2 ? {} : { metadata: { source: 'command-palette' } }),
  });
}

/** `events` per session, session s at times s, s+SESSIONS, …, rotated into files of FILE_BYTES. */
function writeLogs(dir: string, events: number): number {
  const t0 = Date.UTC(2026, 0, 1);
  let total = 0;
  for (let s = 0; s < SESSIONS; s++) {
    const session = `bench${s}`;
    let seq = 0;
    let lines: string[] = [];
    let bytes = 0;
    const flush = () => {
      writeFileSync(join(dir, eventsFileName(session, seq++)), lines.join(''));
      total += bytes;
      lines = [];
      bytes = 0;
    };
    for (let i = 0; i < events; i++) {
      const line = eventLine(t0 + i * SESSIONS + s, session, i) + '\n';
      if (bytes + line.length > FILE_BYTES) flush();
      lines.push(line);
      bytes += line.length;
    }
    flush();
  }
  return total;
}

/** The floor: every events file copied into one output file, in name order, 64 KB at a time. */
async function floorCopy(dir: string, out: string): Promise<number> {
  const t0 = performance.now();
  const w = await open(out, 'w');
  const buf = new Uint8Array(64 * 1024);
  for (const name of readdirSync(dir).sort()) {
    const r = await open(join(dir, name), 'r');
    for (let n; (n = (await r.read(buf, 0, buf.length)).bytesRead) > 0;) await w.write(buf, 0, n);
    await r.close();
  }
  await w.close();
  return performance.now() - t0;
}

/** JSON.parse and Date.parse of every line, files read whole into memory first (not timed). */
async function parseOnly(dir: string): Promise<number> {
  let ms = 0;
  let n = 0;
  for (const name of readdirSync(dir)) {
    const lines = (await readFile(join(dir, name), 'utf8')).split('\n');
    const t0 = performance.now();
    for (const line of lines) if (line) n += Date.parse((JSON.parse(line) as { timestamp: string }).timestamp) > 0 ? 1 : 0;
    ms += performance.now() - t0;
  }
  if (n === 0) throw new Error('no events parsed');
  return ms;
}

async function* run(quick: boolean): AsyncIterable<BenchResult> {
  const perSession = quick ? 15_000 : 150_000;
  const dir = mkdtempSync(join(tmpdir(), 'aios-export-bench-'));
  const outDir = mkdtempSync(join(tmpdir(), 'aios-export-out-'));
  try {
    const bytes = writeLogs(dir, perSession);
    const mb = bytes / 1048576;
    const events = perSession * SESSIONS;
    log(`export: ${events} events, ${round(mb)} MB in ${readdirSync(dir).length} files`);
    await floorCopy(dir, join(outDir, 'warm.jsonl')); // page cache warm for everyone
    const floorMs = Math.min(await floorCopy(dir, join(outDir, 'floor1.jsonl')), await floorCopy(dir, join(outDir, 'floor2.jsonl')));
    rmSync(join(outDir, 'floor1.jsonl'));
    rmSync(join(outDir, 'floor2.jsonl'));
    rmSync(join(outDir, 'warm.jsonl'));
    const parseMs = await parseOnly(dir);

    for (const format of ['jsonl', 'csv'] as const) {
      const outputPath = join(outDir, `out.${format}`);
      const t0 = performance.now();
      const r = await exportTelemetry({ storageDir: dir, outputPath });
      const ms = performance.now() - t0;
      if (r.eventsWritten !== events || r.skippedLines !== 0 || r.outOfOrder !== 0) throw new Error(`export wrote ${r.eventsWritten} of ${events} events`);
      // Events per second; the floor moves the same bytes, so its figure is those events per second too.
      yield higherIsBetter(`export.${format}.throughput`, events / (ms / 1000), 'ops/s', 'byte copy of the files', events / (floorMs / 1000));
      // What validating each line costs by itself (JSON.parse and Date.parse, no I/O): the export's real floor.
      yield higherIsBetter(`export.${format}.vs-parse`, events / (ms / 1000), 'ops/s', 'JSON.parse + Date.parse per line', events / (parseMs / 1000));
      rmSync(outputPath);

      gc();
      const base = process.memoryUsage().heapUsed;
      let peak = base;
      await exportTelemetry({
        storageDir: dir,
        outputPath,
        progressIntervalMs: 50,
        onProgress: () => {
          gc();
          peak = Math.max(peak, process.memoryUsage().heapUsed);
        },
      });
      const growth = Math.max((peak - base) / 1048576, 0.01);
      yield {
        bench: `export.${format}.heap-peak-growth`,
        value: round(growth),
        unit: 'MB',
        peer: 'size of the logs',
        peerValue: round(mb),
        ratio: round(mb / growth),
      };
      rmSync(outputPath);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
  }
}

export const exportFileBench: Bench = {
  name: 'export',
  run: ({ quick }) => run(quick),
};
