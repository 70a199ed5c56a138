// A bounded queue of items that are sent in batches, off the command path. push() is O(1) and never throws:
// it stores a reference (and, when the queue is full, drops the oldest and counts it). Sending happens on
// timers: a batch leaves when it is full or its oldest item has waited flushIntervalMs, one request at a time,
// at most one every MIN_GAP_MS while a backlog drains (with 512-event batches: 5,120 events/s at most), so a burst costs a bounded share of the event loop
// and a dead receiver costs nothing but the queue's fixed memory.
import { RingBuffer } from '../shared/ringBuffer';
import { ExporterHealth } from './health';

/** While a backlog drains, batches start at least this far apart: caps export work at maxBatchSize / gap. */
export const MIN_GAP_MS = 100;

/** A failure the receiver will repeat whatever we do (e.g. 400, 401, 404): the batch is dropped, not retried. */
export class PermanentFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentFailure';
  }
}

export interface ShipperOptions<T> {
  maxQueueSize: number;
  maxBatchSize: number;
  flushIntervalMs: number;
  /**
   * Sends one batch; resolves when delivered. `attempt` is 0 for the first try of a batch. Rejects on
   * failure (with a PermanentFailure when trying again cannot help).
   */
  send(batch: readonly T[], attempt: number): Promise<void>;
  /** Keep a failed batch and send the same batch again after a backoff (else drop it and count it). */
  retry: boolean;
  backoff?: { initialMs: number; maxMs: number };
  health: ExporterHealth;
}

/** `min(maxMs, initialMs * 2^(attempt-1))`, with "equal jitter": between half of that and all of it. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + random() * (ceiling / 2);
}

type Phase = 'idle' | 'waiting' | 'sending' | 'backoff' | 'closed';

export class BatchShipper<T> {
  private queue: RingBuffer<T>;
  /** The batch being sent or waiting for a retry: the same items (and, for receivers, the same id) each time. */
  private batch: T[] | undefined;
  private attempt = 0;
  private phase: Phase = 'idle';
  private timer: NodeJS.Timeout | undefined;
  private lastStart = -Infinity;
  /** The waiting timer is already set for a full batch. */
  private early = false;
  private sending: Promise<void> | undefined;
  private readonly backoff: { initialMs: number; maxMs: number };
  readonly health: ExporterHealth;

  constructor(private readonly opts: ShipperOptions<T>) {
    this.queue = new RingBuffer<T>(opts.maxQueueSize);
    this.backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
    this.health = opts.health;
  }

  /** A method, not a field test: the phase changes while sendOne() awaits. */
  private get closed(): boolean {
    return this.phase === 'closed';
  }

  /** Items waiting, the batch in flight included. */
  get queued(): number {
    return this.queue.length + (this.batch?.length ?? 0);
  }

  /** O(1): the command path calls this for every event. */
  push(item: T): void {
    if (this.phase === 'closed') return;
    if (this.queue.length === this.queue.capacity) this.health.dropped++;
    this.queue.push(item);
    if (this.phase === 'idle') this.arm(this.queue.length >= this.opts.maxBatchSize ? 0 : this.opts.flushIntervalMs);
    // A full batch need not wait for the interval; once re-armed for it, later pushes leave the timer alone.
    else if (this.phase === 'waiting' && !this.early && this.queue.length >= this.opts.maxBatchSize) {
      this.arm(Math.max(0, this.lastStart + MIN_GAP_MS - performance.now()));
      this.early = true;
    }
  }

  private arm(ms: number, phase: Phase = 'waiting'): void {
    clearTimeout(this.timer);
    this.phase = phase;
    this.early = false;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sending = this.sendOne();
    }, ms);
    this.timer.unref?.();
  }

  private async sendOne(): Promise<void> {
    if (this.phase === 'closed') return;
    this.phase = 'sending';
    this.lastStart = performance.now();
    if (this.batch === undefined) {
      this.batch = this.take(this.opts.maxBatchSize);
      this.attempt = 0;
    }
    const batch = this.batch;
    if (batch.length === 0) {
      this.batch = undefined;
      this.phase = 'idle';
      return;
    }
    try {
      await this.opts.send(batch, this.attempt);
      if (this.batch !== batch) return; // close() gave up on it and counted it
      this.health.success(batch.length);
      this.batch = undefined;
      this.attempt = 0;
    } catch (e) {
      if (this.batch !== batch) return;
      this.health.failure(e);
      this.attempt++;
      if (!this.opts.retry || e instanceof PermanentFailure) {
        this.health.dropped += batch.length;
        this.batch = undefined;
      }
      if (!this.closed) this.arm(backoffMs(this.attempt, this.backoff.initialMs, this.backoff.maxMs), 'backoff');
      return;
    }
    if (this.closed) return;
    if (this.queue.length >= this.opts.maxBatchSize) this.arm(MIN_GAP_MS);
    else if (this.queue.length > 0) this.arm(this.opts.flushIntervalMs);
    else this.phase = 'idle';
  }

  private take(n: number): T[] {
    const out: T[] = [];
    while (out.length < n && this.queue.length > 0) out.push(this.queue.shift() as T);
    return out;
  }

  /** Sends what is queued now, batch after batch, until empty, a send fails or `deadlineMs` passes. */
  async drain(deadlineMs: number): Promise<void> {
    const until = performance.now() + deadlineMs;
    while (this.phase !== 'closed' && this.queued > 0 && performance.now() < until) {
      if (this.phase === 'sending' && this.sending) {
        await raceDeadline(this.sending, until);
        continue;
      }
      clearTimeout(this.timer);
      this.timer = undefined;
      this.sending = this.sendOne();
      await raceDeadline(this.sending, until);
      if (this.phase === 'backoff') return; // failed: the retry timer takes it from here
    }
  }

  /**
   * Stops the timers and sends what is queued, batch after batch, until done, a send fails or `deadlineMs`
   * passes; whatever is left is dropped and counted. Safe to call twice.
   */
  async close(deadlineMs: number): Promise<void> {
    if (this.phase === 'closed') return;
    const until = performance.now() + deadlineMs;
    this.phase = 'closed';
    clearTimeout(this.timer);
    this.timer = undefined;
    const inFlight = this.sending;
    if (inFlight) await raceDeadline(inFlight, until);
    let attempt = this.attempt;
    while (performance.now() < until) {
      const batch = this.batch ?? this.take(this.opts.maxBatchSize);
      this.batch = batch;
      if (batch.length === 0) break;
      try {
        const ok = await raceDeadline(
          this.opts.send(batch, attempt).then(() => true),
          until,
        );
        if (!ok) break;
        this.health.success(batch.length);
        this.batch = undefined;
        attempt = 0;
      } catch (e) {
        this.health.failure(e);
        break;
      }
    }
    this.health.dropped += this.queued;
    this.batch = undefined;
    this.queue.clear();
  }
}

/** The promise's value, or undefined once `until` (performance.now() time) has passed. */
async function raceDeadline<T>(p: Promise<T>, until: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<undefined>((resolve) => {
    // Not unref'd: someone awaits this, and the wait is bounded.
    timer = setTimeout(() => resolve(undefined), Math.max(0, until - performance.now()));
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
