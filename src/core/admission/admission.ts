// Admission control with QoS: a concurrency limit, three FIFO queues (HIGH before NORMAL before LOW) with
// O(1) enqueue, dequeue and cancellation, an aging bound, a bounded queue, and a backoff delay when the
// system is over its limit.
//
// The fast path (a slot free, nobody waiting, not paused) is a few comparisons and a counter: no
// allocation, no clock read, no timer, no promise. Only commands that have to wait get a queue node, and
// only delayed ones get a timer.
//
// `active` in the backoff formula is the number of commands this controller has in flight plus, when
// `countExternalPythonProcesses` is on, the Python processes last seen by the sampler that this extension
// does not own (pushed in with setLoad). The rationale: in-flight commands are load we cause; other Python
// processes compete for the same CPU and memory, so when asked we back off for them too, but they never
// take one of our concurrency slots (we cannot release them).
//
// A waiting command is delayed concurrently with queueing: it holds its place in its queue from the moment
// it arrives, and may not start before its backoff delay has passed. A queue's head that is still backing
// off holds back the commands behind it (FIFO within a priority); other priorities are not held back.
//
// The limit itself is decided by a strategy (admissionStrategy.ts has the contract): `fixed` is
// aios.maxConcurrency, `adaptive` follows latency (adaptive.ts), `shared` is one limit that several extension
// hosts share through Redis (cluster/sharedLimit.ts), in force whenever aios.cluster.redisUrl is set. "The
// limit" below and in the backoff formula is the one in force, whichever strategy set it.
import type { CancelSignal } from '../abort';
import { AdaptiveLimit } from './adaptive';
import { FixedLimit } from './admissionStrategy';
import type { Clock } from '../clock';
import { SharedLimit } from './cluster';
import { Listeners } from '../listeners';
import { lastResolver, pending } from '../pending';
import type { Disposable, Priority, ProgressListener } from '../types';
import type { Admission, AdmissionLimits, AdmissionState, AdmitLater, AdmitNow, AdmitOptions, LimitChange, LimitHost, LimitMode, LimitStrategy } from './types';

export interface AdmissionOptions {
  /** Makes the strategy for a mode (tests and benches use their own); default: FixedLimit, AdaptiveLimit or SharedLimit. */
  strategy?: (mode: LimitMode) => LimitStrategy;
  /** Where the default strategies say what a person should know (the shared limit: Redis lost and back). */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

/** A Redis URL makes the limit shared (aios.throttle.mode is then not applied); else aios.throttle.mode. */
export function limitMode(limits: AdmissionLimits): LimitMode {
  return limits.cluster?.redisUrl ? 'shared' : (limits.throttle?.mode ?? 'fixed');
}

export class AdmissionError extends Error {
  constructor(readonly code: 'queue_full' | 'cancelled' | 'closed') {
    super(
      code === 'queue_full'
        ? 'The command queue is full; wait for running commands to finish or raise aios.maxQueueSize'
        : code === 'cancelled'
          ? 'The command was cancelled before it started'
          : 'The middleware is closed',
    );
    this.name = 'AdmissionError';
  }
}

/** `min(baseDelayMs * max(active - maxConcurrency + 1, 1) * (cpuPercent > cpuThreshold ? 2 : 1), maxDelayMs)` */
export function backoffDelay(
  active: number,
  cpuPercent: number,
  l: Pick<AdmissionLimits, 'maxConcurrency' | 'baseDelayMs' | 'maxDelayMs' | 'cpuThreshold'>,
): number {
  return backoff(active, cpuPercent, l.maxConcurrency, l);
}

/** The formula with the limit in force (fixed or adaptive) in place of maxConcurrency. */
function backoff(active: number, cpuPercent: number, limit: number, l: Pick<AdmissionLimits, 'baseDelayMs' | 'maxDelayMs' | 'cpuThreshold'>): number {
  return Math.min(l.baseDelayMs * Math.max(active - limit + 1, 1) * (cpuPercent > l.cpuThreshold ? 2 : 1), l.maxDelayMs);
}

/** What a strategy sees of the controller; one per strategy start. */
class StrategyHost implements LimitHost {
  constructor(
    readonly clock: Clock,
    private readonly controller: { readonly active: number; readonly paused: boolean; waitingCount(): number; waitingAt(priority: Priority): number },
    readonly setLimit: (limit: number, reason: string, announce?: boolean) => void,
  ) {}

  get inFlight(): number {
    return this.controller.active;
  }

  get waiting(): number {
    return this.controller.waitingCount();
  }

  get paused(): boolean {
    return this.controller.paused;
  }

  waitingAt(priority: Priority): number {
    return this.controller.waitingAt(priority);
  }
}

const QUEUE_INDEX: Record<Priority, number> = { HIGH: 0, NORMAL: 1, LOW: 2 };

/** Rarely needed waiter state, allocated only for commands with a signal, a delay or a progress listener. */
interface WaiterExtra {
  signal?: CancelSignal;
  onAbort?: () => void;
  timer?: unknown;
  delayMs: number;
  readyAt: number;
  reason: string;
  onProgress?: ProgressListener;
  /** For progress watchers: arrival order and live waiters ahead in the same queue. */
  seq: number;
  ahead: number;
  lastPosition: number;
}

/** A queue node. Kept small: 1e6 queued commands must fit in a few hundred MB. */
class Waiter {
  prev: Waiter | null = null;
  next: Waiter | null = null;
  constructor(
    readonly q: number,
    readonly enqueuedAt: number,
    public ready: boolean,
    /**
     * admit(): resolves the admission promise with an outcome. run(): resolves the caller's promise with a
     * promise of fn's result, or a rejected one when refused; one resolver instead of two saves ~90 bytes.
     */
    readonly resolve: (v: unknown) => void,
    readonly fn: (() => unknown) | undefined,
    public extra: WaiterExtra | undefined,
  ) {}
}

/** Doubly-linked FIFO: O(1) push, shift and removal of any node (cancellation). */
class Fifo {
  head: Waiter | null = null;
  tail: Waiter | null = null;
  length = 0;

  push(w: Waiter): void {
    w.prev = this.tail;
    if (this.tail) this.tail.next = w;
    else this.head = w;
    this.tail = w;
    this.length++;
  }

  remove(w: Waiter): void {
    if (w.prev) w.prev.next = w.next;
    else this.head = w.next;
    if (w.next) w.next.prev = w.prev;
    else this.tail = w.prev;
    w.prev = w.next = null;
    this.length--;
  }
}

export class AdmissionController implements Admission {
  private limits: AdmissionLimits;
  /** The limit in force, set by the strategy; read on the fast path, so a plain field. */
  private limit = 0;
  private limitReason = '';
  private strategy!: LimitStrategy;
  /** The host handed to the current strategy: a stopped strategy's late calls find another one and are ignored. */
  private host: LimitHost | undefined;
  private sampling = false;
  private readonly limitListeners = new Listeners<LimitChange>();
  private readonly makeStrategy: (mode: LimitMode) => LimitStrategy;
  private inFlight = 0;
  private waiting = 0;
  private delayedCount = 0;
  private externalActive = 0;
  private cpuPercent = 0;
  private isPaused = false;
  /** Internal holds (the telemetry writer is behind): like a pause, but not the user's and not shown as one. */
  private holds = 0;
  private closed = false;
  private seq = 0;
  private readonly queues: [Fifo, Fifo, Fifo] = [new Fifo(), new Fifo(), new Fifo()];
  /** Waiters with a progress listener, per queue; positions are maintained only for these. */
  private readonly watchers: [Set<Waiter>, Set<Waiter>, Set<Waiter>] = [new Set(), new Set(), new Set()];
  private watcherCount = 0;

  constructor(
    limits: AdmissionLimits,
    private readonly clock: Clock,
    options: AdmissionOptions = {},
  ) {
    this.limits = { ...limits };
    const log = options.log;
    this.makeStrategy =
      options.strategy ?? ((mode) => (mode === 'adaptive' ? new AdaptiveLimit() : mode === 'shared' ? new SharedLimit({ log }) : new FixedLimit()));
    this.useStrategy(this.makeStrategy(limitMode(limits)));
  }

  /** New limits apply at once: a higher concurrency starts waiting commands immediately. A new
   *  aios.throttle.mode switches strategy; waiting commands keep their place, running ones their slot. */
  setLimits(limits: AdmissionLimits): void {
    this.limits = { ...limits };
    const mode = limitMode(limits);
    if (this.closed) return;
    if (mode !== this.strategy.mode) this.useStrategy(this.makeStrategy(mode));
    else this.strategy.configure(this.limits);
    this.dispatch();
  }

  onLimitChange(listener: (change: LimitChange) => void): Disposable {
    return this.limitListeners.add(listener);
  }

  /** Load measured by the sampler; `externalActive` is 0 unless external Python processes are counted. */
  setLoad(cpuPercent: number, externalActive: number): void {
    this.cpuPercent = cpuPercent;
    this.externalActive = externalActive;
  }

  pause(): void {
    this.isPaused = true;
  }

  resume(): void {
    this.isPaused = false;
    this.dispatch();
    if (this.waiting > 0 && !this.closed) this.strategy.onDemand?.(this.waiting);
  }

  get paused(): boolean {
    return this.isPaused;
  }

  hold(): void {
    this.holds++;
  }

  unhold(): void {
    if (this.holds === 0 || --this.holds > 0) return;
    this.dispatch();
    if (this.waiting > 0 && !this.closed) this.strategy.onDemand?.(this.waiting);
  }

  get held(): boolean {
    return this.holds > 0;
  }

  get active(): number {
    return this.inFlight;
  }

  state(): AdmissionState {
    const s: AdmissionState = {
      active: this.inFlight,
      queued: { HIGH: this.queues[0].length, NORMAL: this.queues[1].length, LOW: this.queues[2].length },
      delayed: this.delayedCount,
      limit: this.limit,
      paused: this.isPaused,
      externalActive: this.externalActive,
      mode: this.strategy.mode,
      limitReason: this.limitReason,
    };
    const adaptive = this.strategy.describe();
    if (adaptive) s.adaptive = adaptive;
    const shared = this.strategy.describeShared?.();
    if (shared) s.shared = shared;
    return s;
  }

  /** Commands waiting now (for strategies). */
  waitingCount(): number {
    return this.waiting;
  }

  /** Commands of one priority waiting now (for strategies). */
  waitingAt(priority: Priority): number {
    return this.queues[QUEUE_INDEX[priority]].length;
  }

  /** Takes a slot if one is free and nobody waits (then release() must follow); allocation-free. Callers
   *  with an AbortSignal check it first (an aborted command must not take a slot). */
  tryAdmit(): boolean {
    if (!this.canStartNow()) return false;
    this.inFlight++;
    return true;
  }

  /**
   * Asks for a slot. Returns 'admitted' synchronously when one is free and nobody waits (the caller must
   * call release() when done), a refusal, or a promise that settles when the queued command is admitted,
   * cancelled through `opts.signal`, or the controller closes.
   */
  admit(priority: Priority, opts?: AdmitOptions): AdmitNow | Promise<AdmitLater> {
    if (this.canStartNow() && !opts?.signal?.aborted) {
      this.inFlight++;
      return 'admitted';
    }
    const refusal = this.refusal(opts?.signal);
    if (refusal) return refusal;
    const promise = pending<AdmitLater>();
    this.enqueue(priority, opts, lastResolver<unknown>(), undefined);
    return promise;
  }

  /** Runs `fn` under admission (a p-queue-like convenience); rejects with AdmissionError when refused. */
  run<T>(priority: Priority, fn: () => T | PromiseLike<T>, opts?: AdmitOptions): Promise<T> {
    if (this.canStartNow() && !opts?.signal?.aborted) {
      this.inFlight++;
      return this.runAdmitted(fn);
    }
    const refusal = this.refusal(opts?.signal);
    if (refusal) return Promise.reject(new AdmissionError(refusal));
    const promise = pending<T>();
    this.enqueue(priority, opts, lastResolver<unknown>(), fn);
    return promise;
  }

  /** Frees the slot taken by an admitted command; `rttMs` (how long it held the slot) feeds the strategy. */
  release(rttMs?: number): void {
    this.inFlight--;
    if (this.sampling && rttMs !== undefined) this.strategy.sample(rttMs, this.inFlight + 1);
    if (this.waiting > 0) this.dispatch();
  }

  /** Settles every waiting command with 'closed'; later admits are refused. Running commands are not touched. */
  close(): void {
    this.closed = true;
    this.strategy.stop();
    this.host = undefined;
    this.sampling = false;
    for (const queue of this.queues) {
      while (queue.head) this.settleRefused(queue.head, 'closed');
    }
  }

  private useStrategy(next: LimitStrategy): void {
    this.strategy?.stop(); // unset only when the constructor calls this
    this.strategy = next;
    this.sampling = next.wantsSamples;
    const host: LimitHost = new StrategyHost(this.clock, this, (limit, reason, announce) => {
      if (this.host === host) this.applyLimit(limit, reason, announce);
    });
    this.host = host;
    const { limit, reason } = next.start(host, this.limits);
    this.applyLimit(limit, reason, true);
  }

  /** `always`: report it even when the number stays (a new strategy has its own reason). */
  private applyLimit(limit: number, reason: string, always: boolean | undefined = false): void {
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`a concurrency limit must be an integer >= 0 (got ${limit})`);
    if (limit === this.limit && !always) return;
    const from = this.limit;
    this.limit = limit;
    this.limitReason = reason;
    if (this.limitListeners.size > 0) this.limitListeners.fire({ mode: this.strategy.mode, from, to: limit, reason });
    if (limit > from && this.waiting > 0) this.dispatch();
  }

  /** A free slot, nobody waiting, not paused, not closed: the fast path may take the slot. */
  private canStartNow(): boolean {
    return (
      !this.closed && this.waiting === 0 && !this.isPaused && this.holds === 0 && this.inFlight < this.limit && this.inFlight + this.externalActive < this.limit
    );
  }

  private refusal(signal: CancelSignal | undefined): 'queue_full' | 'cancelled' | 'closed' | undefined {
    if (this.closed) return 'closed';
    if (signal?.aborted) return 'cancelled';
    if (this.waiting >= this.limits.maxQueueSize) return 'queue_full';
    return undefined;
  }

  private async runAdmitted<T>(fn: () => T | PromiseLike<T>): Promise<T> {
    // How long it held its slot, as execute() reports it: strategies that sample (adaptive, shared) see run() too.
    const t0 = this.sampling ? this.clock.now() : 0;
    try {
      return await fn();
    } finally {
      this.release(this.sampling ? this.clock.now() - t0 : undefined);
    }
  }

  private enqueue(priority: Priority, opts: AdmitOptions | undefined, resolve: (v: unknown) => void, fn: (() => unknown) | undefined): void {
    const l = this.limits;
    const limit = this.strategy.backoffLimit?.() ?? this.limit;
    const q = QUEUE_INDEX[priority];
    const active = this.inFlight + this.externalActive;
    const delayMs = active >= limit ? backoff(active, this.cpuPercent, limit, l) : 0;
    // The clock is read only when something will use it: aging (from the arrival, when the caller knows it),
    // a delay or a progress bar (from now: their timer starts now).
    const now = delayMs > 0 || opts?.onProgress ? this.clock.now() : l.agingMs > 0 ? (opts?.arrivedAt ?? this.clock.now()) : 0;
    const ahead = this.queues[q].length;
    const w = new Waiter(q, Math.floor(now), delayMs === 0, resolve, fn, undefined);
    this.queues[q].push(w);
    this.waiting++;
    if (opts && (opts.signal || opts.onProgress || delayMs > 0)) {
      const x: WaiterExtra = (w.extra = {
        delayMs,
        readyAt: now + delayMs,
        reason:
          delayMs > 0
            ? this.describeLoad(active, limit)
            : this.isPaused
              ? 'paused'
              : this.holds > 0
                ? 'waiting for telemetry to reach the disk'
                : 'waiting for a free slot',
        seq: ++this.seq,
        ahead,
        lastPosition: 0,
      });
      if (opts.signal) {
        x.signal = opts.signal;
        x.onAbort = () => this.settleRefused(w, 'cancelled');
        opts.signal.addEventListener('abort', x.onAbort, { once: true });
      }
      if (delayMs > 0) {
        this.delayedCount++;
        x.timer = this.clock.setTimeout(() => this.delayEnded(w), delayMs);
        opts.onThrottle?.({
          delayMs,
          reason: x.reason,
          queuePosition: ahead + 1 + this.waitingAbove(q),
          active,
          limit,
          cpuPercent: this.cpuPercent,
        });
      }
      if (opts.onProgress) {
        x.onProgress = opts.onProgress;
        this.watchers[q].add(w);
        this.watcherCount++;
      }
    } else if (delayMs > 0) {
      w.extra = { delayMs, readyAt: now + delayMs, reason: '', seq: 0, ahead: 0, lastPosition: 0 };
      this.delayedCount++;
      w.extra.timer = this.clock.setTimeout(() => this.delayEnded(w), delayMs);
    }
    if (this.watcherCount > 0) this.notifyPositions(q);
    this.strategy.onDemand?.(this.waiting);
    if (w.ready) this.dispatch();
  }

  private describeLoad(active: number, limit: number): string {
    const parts = [`${this.inFlight} running, limit ${limit}${this.strategy.mode === 'fixed' ? '' : ` (${this.strategy.mode})`}`];
    if (this.externalActive > 0) parts.push(`${this.externalActive} other Python processes`);
    if (this.cpuPercent > this.limits.cpuThreshold) parts.push(`CPU ${Math.round(this.cpuPercent)}% > ${this.limits.cpuThreshold}%`);
    return `over the concurrency limit (${parts.join('; ')}; load ${active})`;
  }

  private waitingAbove(q: number): number {
    let n = 0;
    for (let i = 0; i < q; i++) n += this.queues[i].length;
    return n;
  }

  private delayEnded(w: Waiter): void {
    const x = w.extra!;
    x.timer = undefined;
    w.ready = true;
    this.delayedCount--;
    if (x.onProgress) this.report(w, this.positionOf(w), true);
    this.dispatch();
  }

  /** Starts waiting commands while slots are free. */
  private dispatch(): void {
    while (this.waiting > 0 && !this.isPaused && this.holds === 0 && this.inFlight < this.limit) {
      const w = this.pickNext();
      if (!w) return;
      this.unlink(w);
      this.inFlight++;
      w.resolve(w.fn ? this.runAdmitted(w.fn) : 'admitted');
    }
  }

  /**
   * HIGH, then NORMAL, then LOW, FIFO within each; a head still in its backoff holds its queue. With aging
   * on, a head that has waited agingMs or longer goes before younger heads of any priority (the oldest aged
   * head first), so no command waits more than agingMs behind commands that arrived after it.
   */
  private pickNext(): Waiter | undefined {
    let first: Waiter | undefined;
    let readyHeads = 0;
    for (const queue of this.queues) {
      const h = queue.head;
      if (h && h.ready) {
        readyHeads++;
        first ??= h;
      }
    }
    if (readyHeads < 2 || this.limits.agingMs <= 0) return first;
    const agedBefore = this.clock.now() - this.limits.agingMs;
    let oldest: Waiter | undefined;
    for (const queue of this.queues) {
      const h = queue.head;
      if (h && h.ready && h.enqueuedAt <= agedBefore && (!oldest || h.enqueuedAt < oldest.enqueuedAt)) oldest = h;
    }
    return oldest ?? first;
  }

  /** Removes a waiter from its queue and drops everything it holds (listener, timer, watcher entry). */
  private unlink(w: Waiter): void {
    const queue = this.queues[w.q];
    const wasHead = queue.head === w;
    queue.remove(w);
    this.waiting--;
    const x = w.extra;
    if (x) {
      if (x.onAbort) x.signal!.removeEventListener('abort', x.onAbort);
      if (x.timer !== undefined) {
        this.clock.clearTimeout(x.timer);
        this.delayedCount--;
      }
      if (x.onProgress) {
        this.watchers[w.q].delete(w);
        this.watcherCount--;
      }
      w.extra = undefined;
    }
    if (this.watcherCount > 0) {
      // Watchers behind the leaver move up one. A waiter leaves from the middle only when cancelled, and
      // only waiters with a signal can be cancelled; those carry an arrival seq to compare with.
      for (const other of this.watchers[w.q]) if (wasHead || other.extra!.seq > x!.seq) other.extra!.ahead--;
      this.notifyPositions(w.q);
    }
  }

  private settleRefused(w: Waiter, outcome: 'cancelled' | 'closed'): void {
    this.unlink(w);
    w.resolve(w.fn ? Promise.reject(new AdmissionError(outcome)) : outcome);
    // A cancelled head that was backing off may have been holding back ready commands.
    if (!this.closed) this.dispatch();
  }

  private positionOf(w: Waiter): number {
    return w.extra!.ahead + 1 + this.waitingAbove(w.q);
  }

  /** Re-reports watchers in queue `fromQ` and below whose position changed. */
  private notifyPositions(fromQ: number): void {
    for (let q = fromQ; q < 3; q++) {
      for (const w of this.watchers[q]) {
        const pos = this.positionOf(w);
        if (pos !== w.extra!.lastPosition) this.report(w, pos, false);
      }
    }
  }

  private report(w: Waiter, queuePosition: number, force: boolean): void {
    const x = w.extra!;
    if (!force && queuePosition === x.lastPosition) return;
    x.lastPosition = queuePosition;
    const remainingMs = x.timer !== undefined ? Math.max(0, x.readyAt - this.clock.now()) : 0;
    try {
      x.onProgress!({ stage: remainingMs > 0 ? 'throttled' : 'queued', delayMs: x.delayMs, remainingMs, queuePosition, reason: x.reason });
    } catch {
      // A failing progress bar must not break admission.
    }
  }
}
