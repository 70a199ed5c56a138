import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { JsonlWriter, loadLatestSnapshot, readTelemetry, safeSessionId, writeFileAtomic } from '../../../../src/core/telemetry/storage';
import { tempDir } from '../helpers';

const event = (i: number, pad = ''): string =>
  JSON.stringify({ timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), eventType: 'COMPLETE', commandId: `c-${i}`, pad });

function writer(dir: string, over: Partial<ConstructorParameters<typeof JsonlWriter>[0]> = {}): JsonlWriter {
  return new JsonlWriter({ dir, sessionId: 's1', maxFileBytes: 1 << 20, maxTotalBytes: 1 << 24, flushIntervalMs: 60_000, ...over });
}

describe('JsonlWriter', () => {
  it('writes nothing until a batch fills or flush/close, then every line in order', async () => {
    const dir = tempDir();
    const w = writer(dir);
    for (let i = 0; i < 10; i++) w.append(event(i));
    assert.deepEqual(readdirSync(dir), [], 'no synchronous write per event');
    await w.close();
    const { events, skippedLines } = await readTelemetry(dir);
    assert.deepEqual(
      events.map((e) => e.commandId),
      Array.from({ length: 10 }, (_, i) => `c-${i}`),
    );
    assert.equal(skippedLines, 0);
    assert.equal(w.stats.writtenLines, 10);
  });

  it('writes a steady stream in batches: what comes in during a write waits for a batch, a flush or the interval', async () => {
    const dir = tempDir();
    const w = writer(dir, { batchBytes: 4096 });
    let i = 0;
    // A batch's worth starts a write; two more lines come in while it runs.
    for (let bytes = 0; bytes < 4096; i++) {
      const line = event(i, 'x'.repeat(400));
      w.append(line);
      bytes += Buffer.byteLength(line) + 1;
    }
    const batch = i;
    w.append(event(i++));
    w.append(event(i++));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(w.stats.writtenLines, batch, 'the two lines are not written on their own after the batch');
    await w.flush();
    assert.equal(w.stats.writtenLines, i, 'a flush writes all');
    await w.close();
    assert.equal((await readTelemetry(dir)).events.length, i);
  });

  it('keeps every byte of multi-byte lines across chunk ends, and a line larger than a chunk', async () => {
    const dir = tempDir();
    const w = writer(dir, { maxFileBytes: 1 << 24 });
    const pads = ['é', '€', '😀', 'a', 'ü"\\'];
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) lines.push(event(i, pads[i % pads.length].repeat(1 + ((i * 37) % 300))));
    lines.push(event(3000, '€'.repeat(200_000))); // 600 KB in UTF-8: more than a 256 KB chunk
    lines.push(event(3001, 'ok'));
    for (const line of lines) w.append(line);
    await w.close();
    const [file] = readdirSync(dir);
    const text = readFileSync(join(dir, file), 'utf8');
    assert.equal(text, lines.join('\n') + '\n');
    assert.equal(
      statSync(join(dir, file)).size,
      lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0),
    );
    assert.equal(w.stats.writtenLines, lines.length);
  });

  it('rotates by size, keeps whole lines per file, and bounds the folder total', async () => {
    const dir = tempDir();
    const w = writer(dir, { maxFileBytes: 2000, maxTotalBytes: 6000, batchBytes: 500 });
    for (let i = 0; i < 200; i++) {
      w.append(event(i, 'x'.repeat(150)));
      if (i % 10 === 9) await w.flush();
    }
    await w.close();
    const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
    assert.ok(files.length >= 2, `rotated: ${files.join(', ')}`);
    let total = 0;
    for (const f of files) {
      const size = statSync(join(dir, f)).size;
      total += size;
      assert.ok(size <= 2000, `${f} is ${size} bytes`);
      assert.ok(readFileSync(join(dir, f), 'utf8').endsWith('\n'), 'files end on a line end');
    }
    assert.ok(total <= 6000, `total ${total}`);
    const { events, skippedLines } = await readTelemetry(dir);
    assert.equal(skippedLines, 0);
    assert.equal(events.at(-1)?.commandId, 'c-199', 'the newest events survive pruning');
  });

  it('cuts a batch bigger than a whole file at line ends', async () => {
    const dir = tempDir();
    const w = writer(dir, { maxFileBytes: 600, maxTotalBytes: 1 << 20 });
    for (let i = 0; i < 40; i++) w.append(event(i));
    await w.close();
    const { totalEvents, skippedLines } = await readTelemetry(dir);
    assert.equal(totalEvents, 40);
    assert.equal(skippedLines, 0);
    for (const f of readdirSync(dir)) assert.ok(statSync(join(dir, f)).size <= 600);
  });

  it('starts a new file at each start instead of appending after a possibly torn line', async () => {
    const dir = tempDir();
    const a = writer(dir);
    a.append(event(1));
    await a.close();
    const first = readdirSync(dir)[0];
    appendFileSync(join(dir, first), '{"timestamp":"2026-01-01T00:00:0'); // a crash mid-line
    const b = writer(dir);
    b.append(event(2));
    await b.close();
    assert.equal(readdirSync(dir).length, 2);
    const r = await readTelemetry(dir);
    assert.deepEqual(
      r.events.map((e) => e.commandId),
      ['c-1', 'c-2'],
    );
    assert.equal(r.skippedLines, 1);
  });

  it('says when a batch waits behind a write whose end the loop has not turned to hear, and no longer once it has', async () => {
    const dir = tempDir();
    const w = writer(dir, { batchBytes: 1000 });
    let i = 0;
    while (!w.waitingForTurn && i < 1000) w.append(event(i++));
    assert.equal(w.waitingForTurn, true, 'a second batch piles up behind the first write while nothing yields');
    assert.equal(w.stats.writtenLines, 0);
    // Turns of the event loop (not promises): the write's end is heard and the waiting batch goes out.
    for (let turns = 0; w.waitingForTurn && turns < 10_000; turns++) await new Promise<void>((r) => setImmediate(r));
    assert.equal(w.waitingForTurn, false);
    assert.ok(w.stats.writtenLines > 0);
    await w.close();
    assert.equal((await readTelemetry(dir)).totalEvents, i);
  });

  it('signals backpressure above its high-water mark; past its bound drops (counted) droppable lines first, others only past 4 times it', async () => {
    const dir = tempDir();
    const errors: Error[] = [];
    const w = writer(dir, { batchBytes: 1 << 30, highWaterBytes: 1000, maxPendingBytes: 2000, onError: (e) => errors.push(e) });
    let i = 0;
    while (!w.backlogged) w.append(event(i++));
    while (w.stats.droppedLines === 0) w.append(event(i++), true);
    const droppedRefusals = w.stats.droppedLines;
    // A line that must be kept (an accepted command's event) still is, past maxPendingBytes.
    for (let n = 0; n < 10; n++) w.append(event(i++));
    assert.equal(w.stats.droppedLines, droppedRefusals, 'kept lines are not dropped at the first bound');
    for (let n = 0; n < 200; n++) w.append(event(i++));
    assert.ok(w.stats.droppedLines > droppedRefusals, 'past 4 times the bound even kept lines are dropped');
    assert.equal(errors.length, 1, 'one warning');
    assert.match(errors[0].message, /behind the disk/);
    await w.flush();
    assert.equal(w.backlogged, false);
    await w.close();
    const { totalEvents } = await readTelemetry(dir);
    assert.equal(totalEvents + w.stats.droppedLines, i);
  });

  it('counts lines it could not write and recovers when the folder comes back', async () => {
    const dir = join(tempDir(), 'sub');
    const errors: Error[] = [];
    const w = writer(dir, { onError: (e) => errors.push(e) });
    writeFileSync(dir, 'a file where the folder should be');
    w.append(event(1));
    await w.flush();
    assert.equal(w.stats.droppedLines, 1);
    assert.match(errors[0].message, /telemetry write failed/);
    await w.close();
  });
});

describe('readTelemetry', () => {
  it('skips and counts torn and corrupt lines, never fails', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'events-s1-000000.jsonl'),
      [event(1), 'not json', '{"json":"but not an event"}', '', event(2), '{"timestamp":"2026-01-01T00:00:03.000Z","eventType":"CO'].join('\n'),
    );
    const r = await readTelemetry(dir);
    assert.deepEqual(
      r.events.map((e) => e.commandId),
      ['c-1', 'c-2'],
    );
    assert.equal(r.skippedLines, 3);
    assert.equal(r.files, 1);
  });

  it('merges sessions by time and keeps only the newest maxEvents', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'events-a-000000.jsonl'), [event(1), event(3), event(5)].join('\n') + '\n');
    writeFileSync(join(dir, 'events-b-000000.jsonl'), [event(2), event(4)].join('\n') + '\n');
    const all = await readTelemetry(dir);
    assert.deepEqual(
      all.events.map((e) => e.commandId),
      ['c-1', 'c-2', 'c-3', 'c-4', 'c-5'],
    );
    const newest = await readTelemetry(dir, { maxEvents: 2 });
    assert.equal(newest.totalEvents, 5);
    assert.equal(newest.events.length, 2);
    const one = await readTelemetry(dir, { sessionId: 'b' });
    assert.deepEqual(
      one.events.map((e) => e.commandId),
      ['c-2', 'c-4'],
    );
  });

  it('returns nothing for a missing folder', async () => {
    assert.deepEqual(await readTelemetry(join(tempDir(), 'nope')), { events: [], totalEvents: 0, skippedLines: 0, files: 0 });
  });
});

describe('snapshots', () => {
  it('writeFileAtomic leaves the old or the new content and no temp files', async () => {
    const dir = tempDir();
    const path = join(dir, 'stats-x.json');
    await writeFileAtomic(path, '{"v":1}');
    await Promise.all(Array.from({ length: 20 }, (_, i) => writeFileAtomic(path, JSON.stringify({ v: i }))));
    assert.doesNotThrow(() => JSON.parse(readFileSync(path, 'utf8')));
    assert.deepEqual(readdirSync(dir), ['stats-x.json']);
  });

  it('loadLatestSnapshot takes the newest readable snapshot, passing over corrupt ones', async () => {
    const dir = tempDir();
    assert.equal(loadLatestSnapshot(dir), undefined);
    await writeFileAtomic(join(dir, 'stats-old.json'), '{"n":1}');
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(join(dir, 'stats-new.json'), '{"n":'); // torn
    const errors: Error[] = [];
    assert.deepEqual(
      loadLatestSnapshot(dir, (e) => errors.push(e)),
      { n: 1 },
    );
    assert.match(errors[0].message, /ignoring unreadable stats snapshot stats-new\.json/);
  });

  it('session ids are made safe for file names', () => {
    assert.equal(safeSessionId('a/b\\c:d e'), 'a_b_c_d_e');
    assert.equal(safeSessionId(''), 'session');
  });
});
