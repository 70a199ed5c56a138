// The telemetry folder on a disk that fills (a 1 MiB tmpfs) and then turns read-only, as root; and a torn
// last line left by a process killed while writing. Commands keep running, one clear warning per kind of
// failure, nothing already written is damaged, and the next start skips the torn line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createMiddleware } from '../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../src/core/system/sampler';
import { readTelemetry } from '../../src/core/telemetry/storage';
import { readDisk } from '../support/accounting';
import { record } from './table';

const isRoot = process.platform === 'linux' && process.getuid?.() === 0;

function mountTmpfs(dir: string, sizeKiB: number): string | undefined {
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k`, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `mount failed: ${(r.stderr || r.error?.message || '').trim()}`;
}

function snapshotFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const n of readdirSync(dir)) if (n.startsWith('events-')) out.set(n, readFileSync(join(dir, n), 'latin1'));
  return out;
}

describe('reliability: the telemetry disk', () => {
  const why = isRoot ? undefined : 'needs root on Linux to mount a small tmpfs';
  it('a disk that fills, then turns read-only: commands keep running, one warning per kind, nothing written damaged', { skip: why }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'aios-disk-'));
    const failed = mountTmpfs(dir, 1024);
    if (failed) {
      record({ property: 'disk full / read-only', tried: 'a 1 MiB tmpfs', held: `skipped: ${failed}` });
      t.skip(failed);
      rmSync(dir, { recursive: true, force: true });
      return;
    }
    const warnings: string[] = [];
    const mw = createMiddleware({
      storageDir: dir,
      sessionId: 'disk',
      sampler: new StaticSampler({ cpuPercent: 5 }),
      config: { baseDelayMs: 0, telemetry: { flushIntervalMs: 20, maxFileSizeMB: 0.25, maxTotalSizeMB: 64 } },
      log: (level, m) => {
        if (level === 'warn' || level === 'error') warnings.push(m);
      },
    });
    try {
      let ok = 0;
      let n = 0;
      // Phase 1: some events fit; keep the files as they are once the disk is full.
      for (; n < 4000; n++) if ((await mw.execute({ commandType: 'FILL', parameters: { n } }, () => n)).success) ok++;
      await mw.flush();
      const full = warnings.filter((w) => /write failed/.test(w));
      assert.ok(full.length >= 1, `the disk filled (${warnings.length} warnings)`);
      const before = snapshotFiles(dir);
      // Phase 2: read-only.
      const ro = spawnSync('mount', ['-o', 'remount,ro', dir], { encoding: 'utf8' });
      assert.equal(ro.status, 0, ro.stderr);
      for (; n < 8000; n++) if ((await mw.execute({ commandType: 'RO', parameters: { n } }, () => n)).success) ok++;
      await mw.flush();
      assert.equal(ok, 8000, 'every command ran');
      const kinds = new Set(warnings.map((w) => /: (E[A-Z]+)/.exec(w)?.[1] ?? w.slice(0, 40)));
      assert.ok(warnings.length <= 3, `one warning per kind of failure: ${warnings.join(' | ')}`);
      // What was written before is untouched, byte for byte.
      for (const [name, text] of before) assert.equal(readFileSync(join(dir, name), 'latin1'), text, `${name} unchanged`);
      const disk = readDisk(dir);
      const storage = mw.telemetry.query('SUMMARY').storage;
      assert.equal(mw.telemetry.query('SUMMARY').overall.totalCommands, 8000, 'the stats count every command');
      assert.ok(storage.droppedEvents > 0);
      t.diagnostic(
        `${disk.lines} lines on the 1 MiB disk (${disk.torn} torn at its end), ${storage.droppedEvents} events counted as not written; warnings: ${warnings.join(' | ')}`,
      );
      record({
        property: 'telemetry disk full, then read-only',
        tried: `8000 commands on a 1 MiB tmpfs (full after ${disk.lines} lines), then remounted read-only`,
        held: `8000 ran; ${warnings.length} warning(s) (${[...kinds].join(', ')}); files written before unchanged; ${storage.droppedEvents} events counted as dropped`,
      });
    } finally {
      await mw.close();
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a torn last line (a kill while writing): the next start skips it, keeps every whole line and rebuilds its stats', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aios-torn-'));
    try {
      const first = createMiddleware({ storageDir: dir, sessionId: 'torn', sampler: new StaticSampler({ cpuPercent: 5 }), config: { baseDelayMs: 0 } });
      for (let i = 0; i < 500; i++) await first.execute({ commandType: i % 5 === 0 ? 'DROP_X' : 'A' }, () => i);
      await first.flush();
      // What a kill in the middle of a write leaves: half a line, no newline (the snapshot is as of the last save).
      const file = readdirSync(dir).find((n) => n.startsWith('events-'))!;
      const whole = readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean).length;
      appendFileSync(join(dir, file), '{"timestamp":"2026-12-07T00:00:00.000Z","eventType":"COMPL');
      // Not closed: a killed process never writes its last snapshot or says goodbye.
      const second = createMiddleware({ storageDir: dir, sessionId: 'torn', sampler: new StaticSampler({ cpuPercent: 5 }), config: { baseDelayMs: 0 } });
      const restored = second.telemetry.query('SUMMARY');
      await second.execute({ commandType: 'A' }, () => 1);
      await second.close();
      const r = await readTelemetry(dir);
      assert.equal(r.skippedLines, 1, 'the torn line is skipped');
      assert.equal(r.totalEvents, whole + 2, 'every whole line kept, and the new start wrote after it in a new file');
      assert.ok(statSync(join(dir, file)).size > 0);
      assert.equal(readdirSync(dir).filter((n) => n.startsWith('events-')).length, 2, 'the next start wrote a new file, never after the torn line');
      record({
        property: 'torn last line after a kill',
        tried: `${whole} whole lines + half a line; the next start on the same folder`,
        held: `1 line skipped, ${whole} kept, new events in a new file; stats restored: ${restored.storage.restored} (${restored.overall.totalCommands} commands)`,
      });
      void first.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
