// Export of the telemetry on disk: every window session's event files (storage.ts: events-<sessionId>-<seq>
// .jsonl, rotated ones included) merged by time into one JSON Lines or CSV file, for the events between two
// times. Streaming: each session is read a chunk at a time and the sessions are merged k-way by timestamp, so
// memory stays bounded by (sessions × chunk size) however large the logs are. The logs and the stats
// snapshot are only read. Torn and corrupt lines are skipped, counted and described in the result.
//
// Output is written to `<output>.<random>.partial` beside the target and renamed over it only when complete:
// a cancelled or failed export leaves no file behind (the partial one is deleted) and never a truncated
// file under the requested name.
import { randomBytes } from 'node:crypto';
import { promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, extname, join, relative, resolve, isAbsolute } from 'node:path';
import type { TelemetryEvent } from '../types';
import { eventSource } from './sources';

/** The events file names of storage.ts (JsonlWriter); kept in step by a test against eventsFileName(). */
export const EVENTS_FILE_PATTERN = /^events-(.+)-(\d+)\.jsonl$/;

export type ExportFormat = 'jsonl' | 'csv';
/** An ISO 8601 time ("2026-01-01T12:00:00Z"; without an offset it is local time), epoch milliseconds, or a Date. */
export type TimeBound = string | number | Date;

export interface ExportProgress {
  bytesRead: number;
  /** Sizes of the event files when the export started. */
  totalBytes: number;
  eventsWritten: number;
}

export interface ExportOptions {
  /** The telemetry folder (the middleware's storageDir). */
  storageDir: string;
  /** The file to write; not inside storageDir. */
  outputPath: string;
  /** Default: from outputPath's extension (.csv → csv; .jsonl, .ndjson, .json → jsonl). */
  format?: ExportFormat;
  /** Events at or after this time. Open when omitted. */
  from?: TimeBound;
  /** Events before this time. Open when omitted. */
  to?: TimeBound;
  /** Replace an existing outputPath (default false: an existing file is an error). */
  overwrite?: boolean;
  /** Aborting stops the export: the promise rejects with the signal's reason and no output file is left. */
  signal?: AbortSignal;
  /** Called at most every progressIntervalMs while reading, and once at the end. */
  onProgress?: (progress: ExportProgress) => void;
  progressIntervalMs?: number;
}

export interface SkippedLine {
  file: string;
  /** 1-based. */
  line: number;
  reason: string;
}

export interface ExportResult {
  outputPath: string;
  format: ExportFormat;
  /** ISO 8601 UTC of the bounds used, when given. */
  from?: string;
  to?: string;
  eventsWritten: number;
  /** Valid events read, in range or not. */
  eventsRead: number;
  /** Event files read, and the window sessions they belong to. */
  files: number;
  sessions: number;
  bytesRead: number;
  totalBytes: number;
  /** tornLines + corruptLines. */
  skippedLines: number;
  /** A file's last line without its newline that is not a whole event (a write cut short by a crash). */
  tornLines: number;
  /** Any other line that is not a JSON event with a valid timestamp. */
  corruptLines: number;
  /** The first few skipped lines, to look at. */
  skipped: SkippedLine[];
  /** Files listed but gone or unreadable when opened (pruned meanwhile, say), with the reason. */
  unreadableFiles: string[];
  /**
   * Events whose timestamp is earlier than one already written (a session's clock stepped back): they are
   * written where their session has them, so the output is in time order except for these.
   */
  outOfOrder: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
}

/**
 * The CSV columns, in order. `source` is the source kind (SOURCE_KINDS; older files' names mapped onto it,
 * `other` where an older event named none), `caller` who within it. `metadata` holds the event's whole
 * metadata object as JSON.
 */
export const CSV_COLUMNS = [
  'timestamp',
  'eventType',
  'commandId',
  'commandType',
  'priority',
  'durationMs',
  'code',
  'message',
  'source',
  'caller',
  'sessionId',
  'waitMs',
  'delayMs',
  'reason',
  'stage',
  'cpuPercent',
  'memoryPercent',
  'serviceStatus',
  'metadata',
] as const;

const READ_CHUNK = 64 * 1024;
/** A "line" longer than this is not an event (a file without newlines): skipped, and memory stays bounded. */
const MAX_LINE_BYTES = 8 * 1024 * 1024;
const OUTPUT_BATCH = 64 * 1024;
const SKIPPED_KEPT = 20;

/** Parses a bound; throws a RangeError naming `name` when it is not a time. */
export function parseTimeBound(value: TimeBound, name: string): number {
  let ms = NaN;
  if (value instanceof Date) ms = value.getTime();
  else if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const v = value.trim();
    if (/^\d+$/.test(v)) ms = Number(v);
    else if (/^\d{4}-\d{2}-\d{2}([T ]|$)/.test(v)) ms = Date.parse(v);
  }
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) {
    throw new RangeError(`${name} must be an ISO 8601 time such as "2026-01-01T12:00:00Z", epoch milliseconds, or a Date (got ${JSON.stringify(value)})`);
  }
  return ms;
}

function formatFor(outputPath: string, format: string | undefined): ExportFormat {
  if (format !== undefined) {
    const f = format.toLowerCase();
    if (f === 'jsonl' || f === 'csv') return f;
    throw new RangeError(`format must be "jsonl" or "csv" (got ${JSON.stringify(format)})`);
  }
  const ext = extname(outputPath).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson' || ext === '.json') return 'jsonl';
  throw new RangeError(`Cannot tell the format from ${JSON.stringify(basename(outputPath))}: name it .csv or .jsonl, or pass format`);
}

/** RFC 4180: a field holding a comma, a double quote, CR or LF is quoted, with its quotes doubled. */
export function csvField(value: unknown): string {
  if (value === undefined || value === null) return '';
  const s =
    typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint'
        ? String(value)
        : JSON.stringify(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV record (without its CRLF) for an event; `sessionId` falls back to the file's session. */
function csvRow(e: TelemetryEvent, fileSession: string): string {
  const m = (e.metadata ?? {}) as Record<string, unknown>;
  const sessionId = (e.user as Record<string, unknown> | undefined)?.sessionId ?? fileSession;
  const source = eventSource(e);
  const values: unknown[] = [
    e.timestamp,
    e.eventType,
    e.commandId,
    e.commandType,
    e.priority,
    e.durationMs,
    m.code,
    m.message,
    source.kind,
    source.caller,
    sessionId,
    m.waitMs,
    m.delayMs,
    m.reason,
    m.stage,
    e.system?.cpuPercent,
    e.system?.memoryPercent,
    e.service?.status,
    e.metadata,
  ];
  return values.map(csvField).join(',');
}

function isEvent(v: unknown): v is TelemetryEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e.timestamp === 'string' && typeof e.eventType === 'string' && typeof e.commandId === 'string';
}

interface FileInfo {
  name: string;
  path: string;
  size: number;
}

/** A line of a file: its bytes (valid until the next read), and whether a newline ended it. */
type Line = { bytes: Buffer; complete: boolean } | { tooLong: true; complete: boolean };

interface Counters {
  bytesRead: number;
  tornLines: number;
  corruptLines: number;
  eventsRead: number;
  skipped: SkippedLine[];
  unreadableFiles: string[];
  filesRead: number;
  /** Called after each chunk read (progress, cancellation). */
  afterRead(): void;
}

/** One window session: its files in sequence order read as one stream of events, a chunk at a time. */
class SessionReader {
  private fileIndex = -1;
  private fh: FileHandle | undefined;
  private file: FileInfo | undefined;
  private position = 0;
  private lineNo = 0;
  private readonly buf = Buffer.allocUnsafe(READ_CHUNK);
  private chunkLen = 0;
  /** Offset in the file of buf[0]. */
  private chunkOffset = 0;
  private start = 0;
  private partial: Buffer[] = [];
  private partialLen = 0;
  private discarding = false;
  /** The current event: its line, parsed form and time. */
  line = '';
  event: TelemetryEvent | undefined;
  epochMs = 0;

  constructor(
    readonly session: string,
    private readonly files: readonly FileInfo[],
    private readonly counters: Counters,
  ) {}

  /** Moves to the next valid event of this session; false when there are none left. */
  async advance(): Promise<boolean> {
    for (;;) {
      if (this.fh === undefined && !(await this.openNext())) return false;
      const line = await this.readLine();
      if (line === undefined) {
        await this.closeFile();
        continue;
      }
      this.lineNo++;
      if ('tooLong' in line) {
        this.skip(line.complete, `longer than ${MAX_LINE_BYTES} bytes`);
        continue;
      }
      let end = line.bytes.length;
      if (end > 0 && line.bytes[end - 1] === 13) end--; // CRLF written by another tool
      if (end === 0) continue;
      const text = line.bytes.toString('utf8', 0, end);
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        this.skip(line.complete, (e as Error).message);
        continue;
      }
      if (!isEvent(value)) {
        this.skip(line.complete, 'not a telemetry event (timestamp, eventType and commandId are required)');
        continue;
      }
      const ms = Date.parse(value.timestamp);
      if (!Number.isFinite(ms)) {
        this.skip(line.complete, `timestamp ${JSON.stringify(value.timestamp)} is not a time`);
        continue;
      }
      this.counters.eventsRead++;
      this.line = text;
      this.event = value;
      this.epochMs = ms;
      return true;
    }
  }

  private skip(complete: boolean, reason: string): void {
    const c = this.counters;
    if (complete) c.corruptLines++;
    else c.tornLines++;
    if (c.skipped.length < SKIPPED_KEPT) c.skipped.push({ file: this.file!.name, line: this.lineNo, reason: complete ? reason : `torn last line: ${reason}` });
  }

  private async openNext(): Promise<boolean> {
    while (++this.fileIndex < this.files.length) {
      const f = this.files[this.fileIndex];
      try {
        this.fh = await fsp.open(f.path, 'r');
      } catch (e) {
        this.counters.unreadableFiles.push(`${f.name}: ${(e as Error).message}`);
        continue;
      }
      this.file = f;
      this.position = 0;
      this.lineNo = 0;
      this.chunkLen = 0;
      this.chunkOffset = 0;
      this.start = 0;
      this.partial = [];
      this.partialLen = 0;
      this.discarding = false;
      this.counters.filesRead++;
      return true;
    }
    return false;
  }

  async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }

  /**
   * The next line of the current file, undefined at its end. Reads up to the size the file had when the export
   * began, and past it only to finish a line a live writer was appending.
   */
  private async readLine(): Promise<Line | undefined> {
    for (;;) {
      // A line that starts at or past that size came after the export began: not ours.
      if (this.partialLen === 0 && !this.discarding && this.chunkOffset + this.start >= this.file!.size) return undefined;
      if (this.start < this.chunkLen) {
        const nl = this.buf.indexOf(10, this.start);
        if (nl >= 0 && nl < this.chunkLen) {
          const piece = this.buf.subarray(this.start, nl);
          this.start = nl + 1;
          if (this.discarding) {
            this.discarding = false;
            return { tooLong: true, complete: true };
          }
          if (this.partialLen === 0) return { bytes: piece, complete: true };
          const bytes = Buffer.concat([...this.partial, piece] as unknown as readonly Uint8Array[]);
          this.partial = [];
          this.partialLen = 0;
          return { bytes, complete: true };
        }
        const rest = this.buf.subarray(this.start, this.chunkLen);
        this.start = this.chunkLen;
        if (!this.discarding) {
          this.partialLen += rest.length;
          if (this.partialLen > MAX_LINE_BYTES) {
            this.discarding = true;
            this.partial = [];
          } else {
            this.partial.push(Buffer.from(rest as unknown as Uint8Array)); // buf is reused by the next read
          }
        }
      }
      const size = this.file!.size;
      const inLine = this.partialLen > 0 || this.discarding;
      const want = this.position < size ? Math.min(READ_CHUNK, size - this.position) : inLine ? READ_CHUNK : 0;
      const n = want === 0 ? 0 : (await this.fh!.read(this.buf as unknown as Uint8Array, 0, want, this.position)).bytesRead;
      if (n === 0) {
        if (this.discarding) {
          this.discarding = false;
          return { tooLong: true, complete: false };
        }
        if (this.partialLen > 0) {
          const bytes = Buffer.concat(this.partial as unknown as readonly Uint8Array[]);
          this.partial = [];
          this.partialLen = 0;
          return { bytes, complete: false };
        }
        return undefined;
      }
      this.chunkOffset = this.position;
      this.position += n;
      this.chunkLen = n;
      this.start = 0;
      this.counters.bytesRead += n;
      this.counters.afterRead();
    }
  }
}

/** A binary min-heap of session readers by (current event time, session order): the k-way merge. */
class ReaderHeap {
  private readonly items: SessionReader[] = [];
  constructor(private readonly order: Map<SessionReader, number>) {}

  get size(): number {
    return this.items.length;
  }

  private less(a: SessionReader, b: SessionReader): boolean {
    return a.epochMs < b.epochMs || (a.epochMs === b.epochMs && this.order.get(a)! < this.order.get(b)!);
  }

  push(r: SessionReader): void {
    const h = this.items;
    h.push(r);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }

  peek(): SessionReader {
    return this.items[0];
  }

  /** Removes the top; the caller pushes it back after advancing it. */
  pop(): SessionReader {
    const h = this.items;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

/** The event files of `dir`, grouped by session, each group in sequence order. */
async function listSessions(dir: string): Promise<Map<string, FileInfo[]>> {
  const sessions = new Map<string, Array<FileInfo & { seq: number }>>();
  for (const name of await fsp.readdir(dir)) {
    const m = EVENTS_FILE_PATTERN.exec(name);
    if (!m) continue;
    const path = join(dir, name);
    let st: Stats;
    try {
      st = await fsp.stat(path);
    } catch {
      continue; // pruned since readdir
    }
    if (!st.isFile()) continue;
    const list = sessions.get(m[1]) ?? [];
    list.push({ name, path, size: st.size, seq: Number(m[2]) });
    sessions.set(m[1], list);
  }
  for (const list of sessions.values()) list.sort((a, b) => a.seq - b.seq);
  return new Map([...sessions.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function exists(path: string): Promise<boolean> {
  return fsp.stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Writes the events of every session in `storageDir` between `from` (inclusive) and `to` (exclusive), merged
 * in time order, to `outputPath` as JSON Lines (each event's line as stored) or CSV (CSV_COLUMNS, CRLF).
 */
export async function exportTelemetry(options: ExportOptions): Promise<ExportResult> {
  const { signal, onProgress } = options;
  signal?.throwIfAborted();
  const storageDir = resolve(options.storageDir);
  const outputPath = resolve(options.outputPath);
  const format = formatFor(outputPath, options.format);
  const from = options.from === undefined ? -Infinity : parseTimeBound(options.from, 'from');
  const to = options.to === undefined ? Infinity : parseTimeBound(options.to, 'to');
  if (from >= to) throw new RangeError(`from (${new Date(from).toISOString()}) must be earlier than to (${new Date(to).toISOString()})`);
  const st = await fsp.stat(storageDir).catch(() => undefined);
  if (!st?.isDirectory()) throw new Error(`The telemetry folder ${storageDir} does not exist`);
  const rel = relative(storageDir, outputPath);
  if (rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))) {
    throw new Error(`Write the export outside the telemetry folder ${storageDir} (it holds only the logs)`);
  }
  if (!options.overwrite && (await exists(outputPath))) throw new Error(`${outputPath} exists; choose another name or pass overwrite`);

  const sessions = await listSessions(storageDir);
  let totalBytes = 0;
  for (const files of sessions.values()) for (const f of files) totalBytes += f.size;
  const interval = options.progressIntervalMs ?? 100;
  let lastProgress = 0;
  let eventsWritten = 0;
  const progress = (): ExportProgress => ({ bytesRead: counters.bytesRead, totalBytes: Math.max(totalBytes, counters.bytesRead), eventsWritten });
  const counters: Counters = {
    bytesRead: 0,
    tornLines: 0,
    corruptLines: 0,
    eventsRead: 0,
    skipped: [],
    unreadableFiles: [],
    filesRead: 0,
    afterRead() {
      signal?.throwIfAborted();
      if (onProgress) {
        const now = Date.now();
        if (now - lastProgress >= interval) {
          lastProgress = now;
          onProgress(progress());
        }
      }
    },
  };

  const partialPath = join(dirname(outputPath), `${basename(outputPath)}.${randomBytes(4).toString('hex')}.partial`);
  const readers = [...sessions.entries()].map(([session, files]) => new SessionReader(session, files, counters));
  let out: FileHandle | undefined;
  let firstTimestamp: string | undefined;
  let lastTimestamp: string | undefined;
  let outOfOrder = 0;
  try {
    out = await fsp.open(partialPath, 'wx');
    let batch: string[] = [];
    let batchChars = 0;
    const write = async (s: string): Promise<void> => {
      batch.push(s);
      batchChars += s.length;
      if (batchChars >= OUTPUT_BATCH) await flush();
    };
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const text = batch.join('');
      batch = [];
      batchChars = 0;
      await out!.write(text);
      signal?.throwIfAborted();
    };
    const eol = format === 'csv' ? '\r\n' : '\n';
    if (format === 'csv') await write(CSV_COLUMNS.join(',') + eol);

    const order = new Map(readers.map((r, i) => [r, i]));
    const heap = new ReaderHeap(order);
    for (const r of readers) if (await r.advance()) heap.push(r);
    let lastMs = -Infinity;
    while (heap.size > 0) {
      const r = heap.pop();
      const ms = r.epochMs;
      if (ms >= from && ms < to) {
        if (ms < lastMs) outOfOrder++;
        else lastMs = ms;
        const e = r.event!;
        firstTimestamp ??= e.timestamp;
        lastTimestamp = e.timestamp;
        await write((format === 'csv' ? csvRow(e, r.session) : r.line) + eol);
        eventsWritten++;
      }
      if (await r.advance()) heap.push(r);
    }
    await flush();
    await out.close();
    out = undefined;
    signal?.throwIfAborted();
    if (!options.overwrite && (await exists(outputPath))) throw new Error(`${outputPath} was created while exporting; the export was not written`);
    await fsp.rename(partialPath, outputPath);
  } catch (e) {
    await out?.close().catch(() => undefined);
    await fsp.unlink(partialPath).catch(() => undefined);
    throw e;
  } finally {
    await Promise.all(readers.map((r) => r.closeFile()));
  }
  onProgress?.(progress());
  return {
    outputPath,
    format,
    ...(Number.isFinite(from) ? { from: new Date(from).toISOString() } : {}),
    ...(Number.isFinite(to) ? { to: new Date(to).toISOString() } : {}),
    eventsWritten,
    eventsRead: counters.eventsRead,
    files: counters.filesRead,
    sessions: sessions.size,
    bytesRead: counters.bytesRead,
    totalBytes: Math.max(totalBytes, counters.bytesRead),
    skippedLines: counters.tornLines + counters.corruptLines,
    tornLines: counters.tornLines,
    corruptLines: counters.corruptLines,
    skipped: counters.skipped,
    unreadableFiles: counters.unreadableFiles,
    outOfOrder,
    ...(firstTimestamp !== undefined ? { firstTimestamp, lastTimestamp } : {}),
  };
}
