// Export of the telemetry on disk, on real files in a temp folder written by the real middleware and writer:
// two window sessions interleaved in time, rotation, a torn last line, corrupt lines, ranges, CSV quoting,
// cancellation, and the logs left untouched.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../../src/core/clock';
import { functionExecutor } from '../../../../src/core/execution/executors';
import { CSV_COLUMNS, csvField, EVENTS_FILE_PATTERN, exportTelemetry, parseTimeBound, type ExportProgress } from '../../../../src/core/telemetry/exportFile';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import { eventsFileName } from '../../../../src/core/telemetry/storage';
import { CommandFailure, type TelemetryEvent } from '../../../../src/core/types';
import { tempDir } from '../helpers';

const EPOCH = Date.UTC(2026, 0, 1);
const iso = (ms: number): string => new Date(EPOCH + ms).toISOString();

/**
 * Two sessions A and B writing to one folder, A's commands at even milliseconds and B's at odd ones, files
 * rotated at 10 KB. Each command leaves START and COMPLETE (or ERROR for every 7th, whose message needs quoting).
 */
async function twoSessions(dir: string, commands: number): Promise<void> {
  const make = (sessionId: string) => {
    const clock = new ManualClock(0, EPOCH);
    const m = createMiddleware({
      storageDir: dir,
      sessionId,
      clock,
      sampler: new StaticSampler({ cpuPercent: 12.5, memoryPercent: 40 }),
      service: () => ({ status: 'running' }),
      config: { telemetry: { maxFileSizeMB: 0.01, maxTotalSizeMB: 100 } },
    });
    return { m, clock };
  };
  const a = make('A');
  const b = make('B');
  const executor = functionExecutor({
    ECHO: (p) => p,
    FAIL: () => {
      throw new CommandFailure('handler_failed', 'bad input, "quoted"\nsecond line');
    },
  });
  for (let i = 0; i < commands; i++) {
    for (const [s, offset] of [
      [a, 0],
      [b, 1],
    ] as const) {
      s.clock.advance(2 * i + offset - s.clock.now());
      await s.m.execute({ commandType: i % 7 === 3 ? 'FAIL' : 'ECHO', parameters: { i }, source: s === a ? 'palette' : 'api' }, executor);
    }
  }
  await a.m.close();
  await b.m.close();
}

function eventFiles(dir: string, session: string): string[] {
  return readdirSync(dir)
    .filter((n) => n.startsWith(`events-${session}-`))
    .sort();
}

/** Everything in the folder: name → sha256 and mtime. */
function fingerprint(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((n) => [
        n,
        `${createHash('sha256')
          .update(readFileSync(join(dir, n), 'latin1'), 'latin1')
          .digest('hex')} ${statSync(join(dir, n)).mtimeMs}`,
      ]),
  );
}

/** A strict RFC 4180 reader: records of fields, CRLF between records. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
    } else if (c === '"' && field === '') {
      quoted = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 2;
    } else {
      assert.ok(c !== '"' && c !== '\n' && c !== '\r', `unquoted ${JSON.stringify(c)} at ${i}`);
      field += c;
      i++;
    }
  }
  assert.equal(field, '', 'the last record ends with CRLF');
  assert.equal(row.length, 0);
  return rows;
}

describe('exportTelemetry', () => {
  it('merges two interleaved, rotated sessions by time, skipping (and counting) a corrupt and a torn line', async () => {
    const dir = tempDir();
    await twoSessions(dir, 60);
    const aFiles = eventFiles(dir, 'A');
    const bFiles = eventFiles(dir, 'B');
    assert.ok(aFiles.length >= 3 && bFiles.length >= 3, `rotated: ${aFiles.join(', ')} / ${bFiles.join(', ')}`);
    // A corrupt line between two of A's files, and B's newest file cut mid-line (a crash while writing).
    appendFileSync(join(dir, aFiles[0]), 'this is not json\n');
    appendFileSync(join(dir, bFiles.at(-1)!), '{"timestamp":"2026-01-01T00:00:00.500Z","eventType":"STA');
    const out = join(tempDir(), 'all.jsonl');
    const r = await exportTelemetry({ storageDir: dir, outputPath: out });

    const lines = readFileSync(out, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'ends with a newline');
    const events = lines.map((l) => JSON.parse(l) as TelemetryEvent);
    assert.equal(events.length, 60 * 2 * 2);
    assert.equal(r.eventsWritten, events.length);
    assert.equal(r.eventsRead, events.length);
    // In time order, and in each session's own order where times are equal (START before COMPLETE).
    const expected: string[] = [];
    for (let i = 0; i < 60; i++) {
      for (const s of ['A', 'B'])
        expected.push(`${iso(2 * i + (s === 'A' ? 0 : 1))} ${s} START`, `${iso(2 * i + (s === 'A' ? 0 : 1))} ${s} ${i % 7 === 3 ? 'ERROR' : 'COMPLETE'}`);
    }
    assert.deepEqual(
      events.map((e) => `${e.timestamp} ${String(e.user.sessionId)} ${e.eventType}`),
      expected,
    );
    assert.equal(r.corruptLines, 1);
    assert.equal(r.tornLines, 1);
    assert.equal(r.skippedLines, 2);
    assert.deepEqual(
      r.skipped.map((s) => [s.file, s.reason.startsWith('torn last line')]),
      [
        [aFiles[0], false],
        [bFiles.at(-1), true],
      ],
    );
    assert.equal(r.skipped[0].line, readFileSync(join(dir, aFiles[0]), 'utf8').split('\n').length - 1);
    assert.equal(r.files, aFiles.length + bFiles.length);
    assert.equal(r.sessions, 2);
    assert.equal(r.outOfOrder, 0);
    assert.equal(r.bytesRead, r.totalBytes);
    assert.equal(r.firstTimestamp, iso(0));
    assert.equal(r.lastTimestamp, iso(119));
    assert.deepEqual(readdirSync(join(out, '..')), ['all.jsonl'], 'no partial file left');
  });

  it('writes exactly the stored lines as JSON Lines, only those in [from, to), with ISO or epoch bounds', async () => {
    const dir = tempDir();
    await twoSessions(dir, 10);
    const stored = new Set(
      readdirSync(dir)
        .filter((n) => EVENTS_FILE_PATTERN.test(n))
        .flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n').filter(Boolean)),
    );
    const outDir = tempDir();
    const times = async (name: string, from?: string | number, to?: string | number) => {
      const r = await exportTelemetry({ storageDir: dir, outputPath: join(outDir, name), from, to });
      const lines = readFileSync(join(outDir, name), 'utf8').split('\n').filter(Boolean);
      for (const l of lines) assert.ok(stored.has(l), 'byte for byte a stored line');
      assert.equal(r.eventsWritten, lines.length);
      return [...new Set(lines.map((l) => (JSON.parse(l) as TelemetryEvent).timestamp))];
    };
    assert.deepEqual(await times('a.jsonl', iso(3), iso(6)), [iso(3), iso(4), iso(5)], 'from inclusive, to exclusive');
    assert.deepEqual(await times('b.jsonl', EPOCH + 17), [iso(17), iso(18), iso(19)], 'open end; epoch ms');
    assert.deepEqual(await times('c.jsonl', undefined, String(EPOCH + 2)), [iso(0), iso(1)], 'open start; epoch ms as a string');
    assert.deepEqual(await times('d.jsonl', '2026-01-01T01:00:00+01:00', '2026-01-01T00:00:00.001Z'), [iso(0)], 'an offset is honoured');
    assert.deepEqual(await times('e.jsonl', iso(500)), [], 'nothing in range: an empty file');
    assert.equal(readFileSync(join(outDir, 'e.jsonl'), 'utf8'), '');
  });

  it('writes CSV (RFC 4180, CRLF, a header) with the columns filled from each event', async () => {
    const dir = tempDir();
    await twoSessions(dir, 7);
    const out = join(tempDir(), 'events.csv');
    const r = await exportTelemetry({ storageDir: dir, outputPath: out });
    assert.equal(r.format, 'csv');
    const rows = parseCsv(readFileSync(out, 'utf8'));
    assert.deepEqual(rows[0], [...CSV_COLUMNS]);
    assert.equal(rows.length, 1 + 7 * 2 * 2);
    const records = rows.slice(1).map((row) => Object.fromEntries(CSV_COLUMNS.map((c, i) => [c, row[i]])));
    for (const row of rows) assert.equal(row.length, CSV_COLUMNS.length);
    const start = records[0];
    assert.equal(start.timestamp, iso(0));
    assert.equal(start.eventType, 'START');
    assert.equal(start.commandType, 'ECHO');
    assert.equal(start.priority, 'NORMAL');
    assert.equal(start.source, 'palette');
    assert.equal(start.sessionId, 'A');
    assert.equal(start.cpuPercent, '12.5');
    assert.equal(start.memoryPercent, '40');
    assert.equal(start.serviceStatus, 'running');
    assert.deepEqual(JSON.parse(start.metadata), { source: 'palette' });
    assert.equal(records[2].sessionId, 'B');
    assert.equal(records[2].source, 'api');
    const error = records.find((x) => x.eventType === 'ERROR')!;
    assert.equal(error.code, 'handler_failed');
    assert.equal(error.message, 'bad input, "quoted"\nsecond line', 'commas, quotes and newlines survive quoting');
    assert.equal(error.durationMs, '0');
    assert.equal(error.commandId, records.find((x) => x.eventType === 'START' && x.commandType === 'FAIL')!.commandId);
  });

  it('csvField quotes exactly what RFC 4180 requires', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('x\ny'), '"x\ny"');
    assert.equal(csvField('x\ry'), '"x\ry"');
    assert.equal(csvField(' padded '), ' padded ');
    assert.equal(csvField(undefined), '');
    assert.equal(csvField(null), '');
    assert.equal(csvField(1.5), '1.5');
    assert.equal(csvField(false), 'false');
    assert.equal(csvField({ a: 'b,c' }), '"{""a"":""b,c""}"');
  });

  it('leaves the logs and the stats snapshot untouched', async () => {
    const dir = tempDir();
    await twoSessions(dir, 20);
    assert.ok(
      readdirSync(dir).some((n) => n.startsWith('stats-')),
      'a stats snapshot is there',
    );
    const before = fingerprint(dir);
    await exportTelemetry({ storageDir: dir, outputPath: join(tempDir(), 'x.csv') });
    await exportTelemetry({ storageDir: dir, outputPath: join(tempDir(), 'x.jsonl'), from: iso(5), to: iso(9) });
    assert.deepEqual(fingerprint(dir), before);
  });

  it('a cancel mid-way rejects with the abort reason and leaves no output and no partial file', async () => {
    const dir = tempDir();
    // ~3 MB in one session: many 64 KB reads, so the abort lands mid-way.
    const line = (i: number) =>
      JSON.stringify({ timestamp: iso(i), eventType: 'COMPLETE', commandId: `c-${i}`, commandType: 'ECHO', priority: 'NORMAL', pad: 'x'.repeat(200) });
    writeFileSync(join(dir, eventsFileName('big', 0)), Array.from({ length: 12_000 }, (_, i) => line(i)).join('\n') + '\n');
    const outDir = tempDir();
    const out = join(outDir, 'big.jsonl');
    const ac = new AbortController();
    const seen: ExportProgress[] = [];
    await assert.rejects(
      exportTelemetry({
        storageDir: dir,
        outputPath: out,
        signal: ac.signal,
        progressIntervalMs: 0,
        onProgress: (p) => {
          seen.push(p);
          if (p.bytesRead > p.totalBytes / 3) ac.abort(new Error('stop: the user cancelled'));
        },
      }),
      /stop: the user cancelled/,
    );
    assert.ok(seen.at(-1)!.bytesRead < seen.at(-1)!.totalBytes, 'stopped before the end');
    assert.deepEqual(readdirSync(outDir), [], 'neither the output nor a partial file');
    // An export already aborted does not start.
    await assert.rejects(exportTelemetry({ storageDir: dir, outputPath: out, signal: AbortSignal.abort() }), { name: 'AbortError' });
    // And the same export without a cancel completes.
    const r = await exportTelemetry({ storageDir: dir, outputPath: out });
    assert.equal(r.eventsWritten, 12_000);
  });

  it('a cancel stops even an export that writes nothing (a range no event is in)', async () => {
    const dir = tempDir();
    const line = (i: number) => JSON.stringify({ timestamp: iso(i), eventType: 'START', commandId: `c-${i}`, pad: 'x'.repeat(300) });
    writeFileSync(join(dir, eventsFileName('s', 0)), Array.from({ length: 4000 }, (_, i) => line(i)).join('\n') + '\n');
    const outDir = tempDir();
    const ac = new AbortController();
    let last: ExportProgress | undefined;
    await assert.rejects(
      exportTelemetry({
        storageDir: dir,
        outputPath: join(outDir, 'none.jsonl'),
        from: iso(1_000_000),
        signal: ac.signal,
        progressIntervalMs: 0,
        onProgress: (p) => {
          last = p;
          ac.abort(new Error('cancelled early'));
        },
      }),
      /cancelled early/,
    );
    assert.ok(last!.bytesRead < last!.totalBytes);
    assert.deepEqual(readdirSync(outDir), []);
  });

  it("reads a session's files in sequence order, not name order, past seq 999999", async () => {
    const dir = tempDir();
    const ev = (ms: number) => JSON.stringify({ timestamp: iso(ms), eventType: 'START', commandId: `c-${ms}` }) + '\n';
    // "…-1000000.jsonl" sorts before "…-999999.jsonl" by name; written in the other order too.
    writeFileSync(join(dir, eventsFileName('s', 1_000_000)), ev(3) + ev(4));
    writeFileSync(join(dir, eventsFileName('s', 999_999)), ev(1) + ev(2));
    writeFileSync(join(dir, eventsFileName('s', 2)), ev(0));
    const out = join(tempDir(), 'o.jsonl');
    const r = await exportTelemetry({ storageDir: dir, outputPath: out });
    assert.equal(r.outOfOrder, 0);
    assert.deepEqual(
      readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as TelemetryEvent).commandId),
      ['c-0', 'c-1', 'c-2', 'c-3', 'c-4'],
    );
  });

  it('finishes a line a live writer completes after the export began, instead of calling it torn', async () => {
    const dir = tempDir();
    const file = join(dir, eventsFileName('live', 0));
    const line = (i: number) => JSON.stringify({ timestamp: iso(i), eventType: 'START', commandId: `c-${i}`, pad: 'x'.repeat(300) });
    const last = line(999);
    // Over one read chunk of whole lines, then half of a line being written.
    writeFileSync(file, Array.from({ length: 400 }, (_, i) => line(i)).join('\n') + '\n' + last.slice(0, 100));
    let appended = false;
    const r = await exportTelemetry({
      storageDir: dir,
      outputPath: join(tempDir(), 'o.jsonl'),
      progressIntervalMs: 0,
      onProgress: () => {
        if (appended) return;
        appended = true;
        appendFileSync(file, last.slice(100) + '\n' + line(1000) + '\n'); // the writer's next batch
      },
    });
    assert.equal(r.tornLines, 0);
    assert.equal(r.eventsWritten, 401, 'the completed line is in; what came after the start is not');
  });

  it('reports progress as bytes read of the total, never going back, ending at the total', async () => {
    const dir = tempDir();
    await twoSessions(dir, 40);
    const seen: ExportProgress[] = [];
    const r = await exportTelemetry({ storageDir: dir, outputPath: join(tempDir(), 'p.jsonl'), progressIntervalMs: 0, onProgress: (p) => seen.push(p) });
    assert.ok(seen.length > 2);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i].bytesRead >= seen[i - 1].bytesRead);
    const total = readdirSync(dir)
      .filter((n) => EVENTS_FILE_PATTERN.test(n))
      .reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    assert.deepEqual(seen.at(-1), { bytesRead: total, totalBytes: total, eventsWritten: r.eventsWritten });
  });

  it('skips an overlong line, tolerates CRLF and blank lines, and counts events a stepped-back clock put out of order', async () => {
    const dir = tempDir();
    const ev = (ms: number, id: string) => JSON.stringify({ timestamp: iso(ms), eventType: 'START', commandId: id });
    writeFileSync(join(dir, eventsFileName('s', 0)), [ev(10, 'a'), '', ev(5, 'back'), 'y'.repeat(9 * 1024 * 1024), ev(20, 'b')].join('\r\n') + '\r\n');
    writeFileSync(
      join(dir, eventsFileName('t', 3)),
      [ev(7, 'c'), '{"timestamp":"not a time","eventType":"START","commandId":"d"}', '{"no":"event"}'].join('\n') + '\n',
    );
    writeFileSync(join(dir, 'stats-s.json'), '{}');
    writeFileSync(join(dir, 'notes.txt'), 'not telemetry');
    mkdirSync(join(dir, 'events-dir-000001.jsonl'));
    const out = join(tempDir(), 'o.jsonl');
    const r = await exportTelemetry({ storageDir: dir, outputPath: out });
    const ids = readFileSync(out, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as TelemetryEvent).commandId);
    assert.deepEqual(ids, ['c', 'a', 'back', 'b']);
    assert.equal(r.outOfOrder, 1);
    assert.equal(r.corruptLines, 3);
    assert.equal(r.tornLines, 0);
    // Listed in the order the merge met them.
    assert.deepEqual(r.skipped.map((s) => [s.file, s.line]).sort(), [
      ['events-s-000000.jsonl', 4],
      ['events-t-000003.jsonl', 2],
      ['events-t-000003.jsonl', 3],
    ]);
    assert.match(r.skipped.find((s) => s.line === 4)!.reason, /longer than/);
    assert.match(r.skipped.find((s) => s.line === 2)!.reason, /timestamp "not a time" is not a time/);
    assert.equal(r.files, 2);
  });

  it('an empty folder exports an empty file (CSV: the header alone)', async () => {
    const dir = tempDir();
    const out = join(tempDir(), 'none.csv');
    const r = await exportTelemetry({ storageDir: dir, outputPath: out });
    assert.equal(readFileSync(out, 'utf8'), CSV_COLUMNS.join(',') + '\r\n');
    assert.equal(r.eventsWritten, 0);
    assert.equal(r.files, 0);
    assert.equal(r.firstTimestamp, undefined);
  });

  it('refuses bad options with messages naming what is wrong, before writing anything', async () => {
    const dir = tempDir();
    const outDir = tempDir();
    const existing = join(outDir, 'there.jsonl');
    writeFileSync(existing, 'keep me');
    const cases: Array<[Parameters<typeof exportTelemetry>[0], RegExp]> = [
      [{ storageDir: join(dir, 'missing'), outputPath: join(outDir, 'a.jsonl') }, /telemetry folder .*missing does not exist/],
      [{ storageDir: dir, outputPath: join(dir, 'export.jsonl') }, /outside the telemetry folder/],
      [{ storageDir: dir, outputPath: join(dir, 'sub', 'export.jsonl') }, /outside the telemetry folder/],
      [{ storageDir: dir, outputPath: existing }, /exists; choose another name or pass overwrite/],
      [{ storageDir: dir, outputPath: join(outDir, 'a.txt') }, /Cannot tell the format from "a.txt"/],
      [{ storageDir: dir, outputPath: join(outDir, 'a.txt'), format: 'xml' as never }, /format must be "jsonl" or "csv" \(got "xml"\)/],
      [{ storageDir: dir, outputPath: join(outDir, 'a.csv'), from: 'last week' }, /from must be an ISO 8601 time .* \(got "last week"\)/],
      [{ storageDir: dir, outputPath: join(outDir, 'a.csv'), to: Number.NaN }, /to must be an ISO 8601 time/],
      [{ storageDir: dir, outputPath: join(outDir, 'a.csv'), from: iso(5), to: iso(5) }, /from \(.*\) must be earlier than to/],
    ];
    for (const [options, message] of cases) await assert.rejects(exportTelemetry(options), message, JSON.stringify(options));
    assert.deepEqual(readdirSync(outDir), ['there.jsonl']);
    assert.equal(readFileSync(existing, 'utf8'), 'keep me');
    assert.deepEqual(readdirSync(dir), []);
    // With overwrite the existing file is replaced (only once the export is complete).
    await exportTelemetry({ storageDir: dir, outputPath: existing, overwrite: true });
    assert.equal(readFileSync(existing, 'utf8'), '');
    assert.equal(existsSync(existing), true);
  });

  it('parseTimeBound reads ISO times, epoch ms (numbers or digit strings) and Dates', () => {
    assert.equal(parseTimeBound('2026-01-01T00:00:00Z', 'from'), EPOCH);
    assert.equal(parseTimeBound(EPOCH, 'from'), EPOCH);
    assert.equal(parseTimeBound(` ${EPOCH} `, 'from'), EPOCH);
    assert.equal(parseTimeBound(new Date(EPOCH), 'from'), EPOCH);
    assert.throws(() => parseTimeBound(new Date('nope'), 'to'), /to must be/);
    assert.throws(() => parseTimeBound('1/2/2026', 'from'), /from must be/);
  });

  it("matches storage.ts's event file names (so rotated files of every session are found)", () => {
    for (const [session, seq] of [
      ['abc', 0],
      ['with-dashes-9', 12],
      ['x.y_z', 999999],
    ] as const) {
      const m = EVENTS_FILE_PATTERN.exec(eventsFileName(session, seq));
      assert.ok(m, eventsFileName(session, seq));
      assert.equal(m[1], session);
      assert.equal(Number(m[2]), seq);
    }
    assert.equal(EVENTS_FILE_PATTERN.test('stats-abc.json'), false);
  });
});
