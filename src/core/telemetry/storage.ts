// Telemetry persistence: a batched JSON Lines writer on one open file handle, rotation by size with a bound
// on the folder's total, a tolerant reader, and atomic stats snapshots.
//
// Files under the storage folder:
//   events-<sessionId>-<seq>.jsonl   one writer per window session; seq grows on rotation and at each start,
//                                    so a writer never appends to a file a crashed run may have torn
//   stats-<sessionId>.json           the stats snapshot of that session (cumulative, restored at start)
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { createReadStream, promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TelemetryEvent } from '../types';
import { RingBuffer } from '../../shared/ringBuffer';

const EVENTS_FILE = /^events-(.+)-(\d+)\.jsonl$/;
const SNAPSHOT_FILE = /^stats-(.+)\.json$/;
/** Another session's newest events file is only pruned once it has been idle this long (its window is gone). */
const ORPHAN_AGE_MS = 24 * 60 * 60 * 1000;
const SNAPSHOTS_KEPT = 5;

/**
 * A new window-session id: unique per extension host (time first, so file names sort by start), random after.
 * Not VS Code's env.sessionId: that is one constant string whenever VS Code's own telemetry is off, which
 * would make two windows write the same files.
 */
export function newSessionId(): string {
  return `${Date.now().toString(36)}-${randomBytes(5).toString('hex')}`;
}

/** Session ids become part of file names: keep them to a portable character set. */
export function safeSessionId(id: string): string {
  const cleaned = id.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
  return cleaned || 'session';
}

export function eventsFileName(sessionId: string, seq: number): string {
  return `events-${sessionId}-${String(seq).padStart(6, '0')}.jsonl`;
}

export interface JsonlWriterOptions {
  dir: string;
  sessionId: string;
  maxFileBytes: number;
  maxTotalBytes: number;
  flushIntervalMs: number;
  /** A write starts once this many bytes are pending. */
  batchBytes?: number;
  /** Above this many pending bytes `backlogged` is true: producers should wait for flush(). */
  highWaterBytes?: number;
  /**
   * Droppable lines (refused commands' events) beyond this many pending bytes are dropped and counted; other
   * lines are kept up to 4 times this (their number is bounded by admission, which holds new commands while
   * the writer is backlogged), past which they too are dropped, counted and warned about.
   */
  maxPendingBytes?: number;
  onError?: (error: Error) => void;
}

export interface WriterStats {
  writtenLines: number;
  droppedLines: number;
}

/** Pending lines live in off-heap chunks of this size: strings die young and the GC never copies them. */
const CHUNK_BYTES = 256 * 1024;
/** Written chunks kept for reuse, so a steady stream allocates nothing. */
const SPARE_CHUNKS = 4;
/** Queued lines are encoded into a chunk once this much text has piled up (or at a write). */
const TEXT_CHARS = 16 * 1024;

function writevFd(fd: number, buffers: Buffer[]): Promise<number> {
  // The cast bridges @types/node 20's Buffer and TypeScript 5.9's stricter Uint8Array<ArrayBuffer>.
  const views = buffers as unknown as readonly NodeJS.ArrayBufferView[];
  return new Promise((resolve, reject) => fs.writev(fd, views, (e, n) => (e ? reject(e) : resolve(n))));
}

export class JsonlWriter {
  // Lines are copied into Buffer chunks a few KB at a time (at most TEXT_CHARS of strings is kept), and full
  // chunks go to the kernel together in one writev. Keeping megabytes of small strings queued instead cost
  // ~50% of CPU in GC.
  private chunks: Buffer[] = [];
  /** Lines not yet encoded, each with its newline. */
  private text = '';
  private chunk: Buffer | undefined;
  private offset = 0;
  private pendingBytes = 0;
  private pendingLines = 0;
  private readonly spares: Buffer[] = [];
  private pumping: Promise<void> | undefined;
  /** A flush waits: the pump writes until nothing is pending. */
  private draining = false;
  private fd: number | undefined;
  private fileBytes = 0;
  private seq = -1;
  private written = 0;
  private dropped = 0;
  /** The last write failure warned about (its code) and when: one warning a minute per kind. */
  private writeFailure = '';
  private writeFailureAt = -Infinity;
  /** When dropping was last warned about: at most one warning a minute. */
  private dropWarnedAt = -Infinity;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly batchBytes: number;
  private readonly maxPendingBytes: number;
  private readonly highWaterBytes: number;
  private maxFileBytes: number;
  private maxTotalBytes: number;

  constructor(private readonly opts: JsonlWriterOptions) {
    this.batchBytes = opts.batchBytes ?? 64 * 1024;
    this.maxPendingBytes = opts.maxPendingBytes ?? 32 * 1024 * 1024;
    this.highWaterBytes = opts.highWaterBytes ?? 4 * 1024 * 1024;
    this.maxFileBytes = opts.maxFileBytes;
    this.maxTotalBytes = opts.maxTotalBytes;
    this.setFlushInterval(opts.flushIntervalMs);
  }

  setLimits(maxFileBytes: number, maxTotalBytes: number, flushIntervalMs: number): void {
    this.maxFileBytes = maxFileBytes;
    this.maxTotalBytes = maxTotalBytes;
    this.setFlushInterval(flushIntervalMs);
  }

  private setFlushInterval(ms: number): void {
    if (this.timer) clearInterval(this.timer);
    if (this.closed) return;
    this.timer = setInterval(() => void this.flush(), ms);
    this.timer.unref();
  }

  get stats(): WriterStats {
    return {
      writtenLines: this.written,
      droppedLines: this.dropped,
    };
  }

  /** True while the disk is behind by more than highWaterBytes; await flush() before producing more. */
  get backlogged(): boolean {
    return this.pendingBytes > this.highWaterBytes;
  }

  /**
   * True while a batch is ready behind a write whose end has not been heard: the event loop has not turned
   * since (a producer that only awaits promises never lets it), so the disk sits idle. A producer that sees
   * it should let the loop turn once; the next write then runs while it goes on.
   */
  get waitingForTurn(): boolean {
    return this.pumping !== undefined && this.pendingBytes >= this.batchBytes;
  }

  /**
   * Queues one line (without its newline). Never blocks and never does I/O itself. `droppable` lines are
   * given up first when the disk is far behind (see maxPendingBytes).
   */
  append(line: string, droppable = false): void {
    if (this.closed || this.pendingBytes > (droppable ? this.maxPendingBytes : 4 * this.maxPendingBytes)) {
      this.dropped++;
      const now = Date.now();
      if (!this.closed && now - this.dropWarnedAt >= 60_000) {
        this.dropWarnedAt = now;
        this.opts.onError?.(
          new Error(
            `telemetry in ${this.opts.dir} is more than ${Math.round(this.pendingBytes / 1048576)} MB behind the disk: ${droppable ? "refused commands' events" : 'events'} are counted but not written until it catches up`,
          ),
        );
      }
      return;
    }
    // Appending makes a rope (no copy); a few KB of lines are then encoded in one go. One Buffer.write per
    // line cost more than building the line itself.
    this.text = this.text + line + '\n';
    this.pendingBytes += line.length + 1; // corrected to the real byte count when encoded
    this.pendingLines++;
    if (this.text.length >= TEXT_CHARS) this.encodeText();
    if (this.pendingBytes >= this.batchBytes && !this.pumping) this.pumping = this.pump();
  }

  /** Copies the queued text into the current chunk (a new one when it does not fit). */
  private encodeText(): void {
    const text = this.text;
    if (text === '') return;
    this.text = '';
    // UTF-8 needs at most 3 bytes per UTF-16 unit; the exact length is only worked out near a chunk's end.
    const room = this.chunk === undefined ? 0 : this.chunk.length - this.offset;
    const need = text.length * 3 > room ? Buffer.byteLength(text) : 0;
    if (need > room) {
      this.seal();
      this.chunk = need > CHUNK_BYTES ? Buffer.allocUnsafeSlow(need) : (this.spares.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES));
    }
    const written = this.chunk!.write(text, this.offset, 'utf8');
    this.offset += written;
    this.pendingBytes += written - text.length;
  }

  private seal(): void {
    if (this.text !== '') this.encodeText();
    if (this.chunk !== undefined && this.offset > 0) this.chunks.push(this.chunk.subarray(0, this.offset));
    else if (this.chunk !== undefined) this.spares.push(this.chunk);
    this.chunk = undefined;
    this.offset = 0;
  }

  /** Writes everything pending, including lines appended while it runs. */
  flush(): Promise<void> {
    if (this.pendingLines === 0) return this.pumping ?? Promise.resolve();
    this.draining = true;
    this.pumping ??= this.pump();
    return this.pumping;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    this.closed = true;
    await this.closeFile().catch((e: Error) => this.opts.onError?.(e));
  }

  /**
   * One writev of everything pending, again while a batch's worth has piled up meanwhile (or a flush asked
   * for all): a steady stream of events is written in batchBytes pieces, not a few lines per syscall, and
   * what is left waits for the next batch, flush or tick of the flush interval.
   */
  private async pump(): Promise<void> {
    try {
      while (this.pendingLines > 0 && (this.draining || this.pendingBytes >= this.batchBytes)) {
        this.seal();
        const batch = this.chunks;
        const lines = this.pendingLines;
        this.chunks = [];
        this.pendingBytes = 0;
        this.pendingLines = 0;
        try {
          await this.writeBatch(batch);
          this.written += lines;
        } catch (e) {
          this.dropped += lines;
          // One warning per kind of failure a minute (a full or read-only disk fails every batch).
          const code = (e as NodeJS.ErrnoException).code ?? 'error';
          const now = Date.now();
          if (code !== this.writeFailure || now - this.writeFailureAt >= 60_000) {
            this.writeFailure = code;
            this.writeFailureAt = now;
            this.opts.onError?.(
              new Error(
                `telemetry write failed in ${this.opts.dir}: ${(e as Error).message}; commands keep running, their events are counted but not written until it works again`,
              ),
            );
          }
          // Reopen on the next write: the folder may have been removed or the handle broken.
          await this.closeFile().catch(() => undefined);
        }
        for (const b of batch) {
          // A chunk's first piece (offset 0) stands for the whole chunk; cut-off tails are not recycled twice.
          if (this.spares.length < SPARE_CHUNKS && b.byteOffset === 0 && b.buffer.byteLength === CHUNK_BYTES)
            this.spares.push(Buffer.from(b.buffer, 0, CHUNK_BYTES));
        }
      }
    } finally {
      this.pumping = undefined;
      this.draining = false;
    }
  }

  /** Writes whole lines, rotating first when the current file would grow past maxFileBytes. */
  private async writeBatch(batch: Buffer[]): Promise<void> {
    let i = 0;
    while (i < batch.length) {
      if (this.fd !== undefined && this.fileBytes > 0 && this.fileBytes + batch[i].length > this.maxFileBytes) await this.closeFile();
      if (this.fd === undefined) await this.openNext();
      // As many chunks as fit in the current file (at least one piece, so the writer always progresses).
      const group: Buffer[] = [];
      let bytes = 0;
      while (i < batch.length && (group.length === 0 || this.fileBytes + bytes + batch[i].length <= this.maxFileBytes)) {
        let b = batch[i];
        if (group.length === 0 && this.fileBytes + b.length > this.maxFileBytes) {
          // A chunk bigger than what a file may hold: cut it at a line end so every file holds whole lines.
          const cut = b.lastIndexOf(10, Math.max(0, this.maxFileBytes - this.fileBytes - 1));
          const end = cut >= 0 ? cut + 1 : b.indexOf(10) + 1;
          if (end < b.length) {
            batch[i] = b.subarray(end);
            b = b.subarray(0, end);
            group.push(b);
            bytes += b.length;
            break;
          }
        }
        group.push(b);
        bytes += b.length;
        i++;
      }
      await this.writeAll(group, bytes);
      this.fileBytes += bytes;
    }
  }

  private async writeAll(group: Buffer[], bytes: number): Promise<void> {
    let done = await writevFd(this.fd!, group);
    while (done < bytes) {
      // A short write (rare on files): continue with what is left.
      const rest: Buffer[] = [];
      let skip = done;
      for (const b of group) {
        if (skip >= b.length) skip -= b.length;
        else {
          rest.push(b.subarray(skip));
          skip = 0;
        }
      }
      done += await writevFd(this.fd!, rest);
    }
  }

  private async closeFile(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await new Promise<void>((res, rej) => fs.close(fd, (e) => (e ? rej(e) : res())));
  }

  private async openNext(): Promise<void> {
    const { dir, sessionId } = this.opts;
    await fsp.mkdir(dir, { recursive: true });
    if (this.seq < 0) {
      // A fresh file at every start: never append after a line a crash may have left torn.
      for (const name of await fsp.readdir(dir)) {
        const m = EVENTS_FILE.exec(name);
        if (m && m[1] === sessionId) this.seq = Math.max(this.seq, Number(m[2]));
      }
    }
    this.seq++;
    const path = join(dir, eventsFileName(sessionId, this.seq));
    this.fd = await new Promise<number>((res, rej) => fs.open(path, 'a', (e, fd) => (e ? rej(e) : res(fd))));
    this.fileBytes = 0;
    await this.prune().catch((e: Error) => this.opts.onError?.(e));
  }

  /**
   * Deletes the oldest event files until the folder, with room for the file just opened to fill up, is
   * within maxTotalBytes. Never this writer's current file, and never another session's newest file unless
   * it has been idle for a day: that window may still be writing it. So the bound is maxTotalBytes plus the
   * live files of other open windows.
   */
  private async prune(): Promise<void> {
    const { dir, sessionId } = this.opts;
    const current = eventsFileName(sessionId, this.seq);
    const files: Array<{ name: string; session: string; seq: number; size: number; mtime: number }> = [];
    for (const name of await fsp.readdir(dir)) {
      const m = EVENTS_FILE.exec(name);
      if (!m) continue;
      const st = await fsp.stat(join(dir, name)).catch(() => undefined);
      if (st) files.push({ name, session: m[1], seq: Number(m[2]), size: st.size, mtime: st.mtimeMs });
    }
    const budget = Math.max(0, this.maxTotalBytes - this.maxFileBytes);
    let total = files.reduce((n, f) => n + f.size, 0);
    if (total <= budget) return;
    const newest = new Map<string, number>();
    for (const f of files) newest.set(f.session, Math.max(newest.get(f.session) ?? -1, f.seq));
    const now = Date.now();
    const candidates = files
      .filter((f) => f.name !== current && (f.session === sessionId || f.seq !== newest.get(f.session) || now - f.mtime > ORPHAN_AGE_MS))
      .sort((a, b) => a.mtime - b.mtime || a.seq - b.seq);
    for (const f of candidates) {
      if (total <= budget) break;
      try {
        await fsp.unlink(join(dir, f.name));
        total -= f.size;
      } catch {
        // Open elsewhere (Windows) or already gone: skip it.
      }
    }
  }
}

export interface ReadResult {
  /** The newest events (at most maxEvents), oldest first, merged across sessions by timestamp. */
  events: TelemetryEvent[];
  /** Valid events seen in all files (may exceed events.length). */
  totalEvents: number;
  /** Torn or corrupt lines skipped. */
  skippedLines: number;
  files: number;
}

function isEvent(v: unknown): v is TelemetryEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e.timestamp === 'string' && typeof e.eventType === 'string' && typeof e.commandId === 'string';
}

/** Reads the event files in `dir` (one session's, or all); torn and corrupt lines are skipped and counted. */
export async function readTelemetry(dir: string, opts: { sessionId?: string; maxEvents?: number; only?: string } = {}): Promise<ReadResult> {
  const maxEvents = opts.maxEvents ?? 10_000;
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return { events: [], totalEvents: 0, skippedLines: 0, files: 0 };
  }
  const files = names
    .map((name) => ({ name, m: EVENTS_FILE.exec(name) }))
    .filter((f) => f.m && (opts.sessionId === undefined || f.m[1] === safeSessionId(opts.sessionId)) && (opts.only === undefined || f.name === opts.only))
    .sort((a, b) => (a.m![1] === b.m![1] ? Number(a.m![2]) - Number(b.m![2]) : a.name < b.name ? -1 : 1));
  // A ring of the newest maxEvents per read keeps memory bounded however large the folder is.
  const ring = maxEvents > 0 ? new RingBuffer<TelemetryEvent>(maxEvents) : undefined;
  let totalEvents = 0;
  let skippedLines = 0;
  let filesRead = 0;
  for (const f of files) {
    let stream;
    try {
      stream = createReadStream(join(dir, f.name), { encoding: 'utf8' });
      const lines = createInterface({ input: stream, crlfDelay: Infinity });
      for await (const line of lines) {
        if (line === '') continue;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          skippedLines++;
          continue;
        }
        if (!isEvent(value)) {
          skippedLines++;
          continue;
        }
        totalEvents++;
        ring?.push(value);
      }
      filesRead++;
    } catch {
      // Deleted by a concurrent prune or unreadable: skip the file.
    } finally {
      stream?.destroy();
    }
  }
  const events = ring?.toArray() ?? [];
  // Sessions interleave in time: order by timestamp (stable, so a session's own order is kept).
  events.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  return { events, totalEvents, skippedLines, files: filesRead };
}

/**
 * The newest `maxEvents` events on disk (other sessions than `exceptSession`: a window reload starts a new
 * one), oldest first: what Recent Events showed before. Bounded work: files are read newest first and the
 * reading stops once enough events are in hand (at most one file more than needed).
 */
export async function readRecentEvents(dir: string, maxEvents: number, exceptSession?: string): Promise<TelemetryEvent[]> {
  if (maxEvents <= 0) return [];
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const skip = exceptSession === undefined ? undefined : safeSessionId(exceptSession);
  const files = names
    .map((name) => ({ name, m: EVENTS_FILE.exec(name) }))
    .filter((f) => f.m && f.m[1] !== skip)
    .sort((a, b) => (a.m![1] === b.m![1] ? Number(b.m![2]) - Number(a.m![2]) : a.name < b.name ? 1 : -1));
  const found: TelemetryEvent[] = [];
  for (const f of files) {
    if (found.length >= maxEvents) break;
    const one = await readTelemetry(dir, { sessionId: f.m![1], maxEvents, only: f.name });
    found.push(...one.events);
  }
  found.sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  return found.slice(-maxEvents);
}

/** Recent Events after a window reload: the newest events on disk from earlier sessions, put before the ones
 *  this session already has. Returns how many were restored; never rejects (nothing read is nothing shown). */
export async function restoreRecentEvents(
  telemetry: { seedRecentEvents(older: readonly TelemetryEvent[]): void },
  dir: string,
  maxEvents: number,
  exceptSession?: string,
): Promise<number> {
  const events = await readRecentEvents(dir, maxEvents, exceptSession).catch(() => []);
  telemetry.seedRecentEvents(events);
  return events.length;
}

/** Writes via a temporary file and a rename, so readers see the old or the new content, never a mix. */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  try {
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.unlink(tmp).catch(() => undefined);
    throw e;
  }
}

export function snapshotFileName(sessionId: string): string {
  return `stats-${sessionId}.json`;
}

/**
 * The newest readable snapshot in `dir` (any session: a restarted window gets a new session id), or
 * undefined. Synchronous: it runs once at start-up on a small file. Corrupt snapshots are passed over.
 */
export function loadLatestSnapshot(dir: string, onError?: (e: Error) => void): unknown {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => SNAPSHOT_FILE.test(n));
  } catch {
    return undefined;
  }
  const dated = names
    .map((name) => {
      try {
        return { name, mtime: statSync(join(dir, name)).mtimeMs };
      } catch {
        return { name, mtime: -1 };
      }
    })
    .sort((a, b) => b.mtime - a.mtime);
  for (const { name } of dated) {
    try {
      return JSON.parse(readFileSync(join(dir, name), 'utf8'));
    } catch (e) {
      onError?.(new Error(`ignoring unreadable stats snapshot ${name}: ${(e as Error).message}`));
    }
  }
  return undefined;
}

/** Deletes all but the newest few snapshots (other than `keep`), so the folder does not grow per session. */
export async function pruneSnapshots(dir: string, keep: string): Promise<void> {
  const names = (await fsp.readdir(dir)).filter((n) => SNAPSHOT_FILE.test(n) && n !== keep);
  const dated = await Promise.all(names.map(async (name) => ({ name, mtime: (await fsp.stat(join(dir, name)).catch(() => undefined))?.mtimeMs ?? 0 })));
  dated.sort((a, b) => b.mtime - a.mtime);
  for (const { name } of dated.slice(SNAPSHOTS_KEPT - 1)) await fsp.unlink(join(dir, name)).catch(() => undefined);
}
