// The deterministic simulator shared by the adaptive bench and the tuner: a discrete-event loop behind the
// core's Clock (SimClock: no real timer, so every figure is the same on every run and machine), a seeded
// random generator, and `simulateSession`, which replays arrivals through the real AdmissionController
// (limits, backoff, priorities, aging, the bounded queue, the adaptive strategy) with service times from a
// function of the number running.
import { AdmissionController, type AdmissionLimits } from '../admission';
import type { Clock } from '../clock';
import type { Priority } from '../types';

interface SimEvent {
  at: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

export interface SimRunOptions {
  /**
   * True when every promise reaction the last instant caused has run. Given, the loop awaits microtasks only
   * until it holds (cheap); without it each instant waits a whole event-loop turn (setImmediate), which any
   * chain of awaits (the whole pipeline) needs.
   */
  settled?: () => boolean;
}

/** A binary heap of timers ordered by (time, arrival): a deterministic event loop behind the Clock interface. */
export class SimClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly heap: SimEvent[] = [];

  constructor(private readonly epochOffset = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.time;
  }

  epochMs(): number {
    return this.epochOffset + this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const e: SimEvent = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, live: true };
    const h = this.heap;
    h.push(e);
    for (let i = h.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
    return e;
  }

  clearTimeout(handle: unknown): void {
    (handle as SimEvent).live = false;
  }

  /**
   * Runs events in time order until `done()`, letting the promise reactions each caused run before the next:
   * with `settled`, after every event; without it, a whole turn after each instant.
   */
  async run(done: () => boolean, options: SimRunOptions = {}): Promise<void> {
    const settled = options.settled;
    for (;;) {
      if (settled) {
        // A reaction may schedule another: microtask turns while that is cheap, then whole turns.
        for (let i = 0; !settled(); i++) {
          if (i < 64) await Promise.resolve();
          else await new Promise<void>((resolve) => setImmediate(resolve));
          if (i > 100_000) throw new Error('the simulation did not settle (a promise never resolved)');
        }
      } else {
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (done()) return;
      const first = this.pop();
      if (!first) throw new Error('the simulation ran out of events before it was done');
      this.time = first.at;
      first.fn();
      if (!settled) while (this.heap.length > 0 && this.heap[0].at === this.time) this.pop()?.fn();
    }
  }

  private pop(): SimEvent | undefined {
    const h = this.heap;
    while (h.length > 0) {
      const top = h[0];
      const last = h.pop()!;
      if (h.length > 0) {
        h[0] = last;
        for (let i = 0; ;) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < h.length && before(h[l], h[m])) m = l;
          if (r < h.length && before(h[r], h[m])) m = r;
          if (m === i) break;
          [h[i], h[m]] = [h[m], h[i]];
          i = m;
        }
      }
      if (top.live) return top;
    }
    return undefined;
  }
}

/** mulberry32: a small seeded generator (uniform in [0, 1)), so a simulation is the same on every run. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One command offered to the simulated admission. */
export interface SimArrival {
  /** Ms from the start of the simulation. */
  atMs: number;
  priority: Priority;
  /** CPU percent the sampler showed at its arrival (the backoff doubles above cpuThreshold). */
  cpuPercent: number;
}

export interface SimSessionOptions {
  /** Arrivals in time order. */
  arrivals: readonly SimArrival[];
  /** The admission settings to try (AdmissionLimits: throttle.mode 'adaptive' for the adaptive limit). */
  limits: AdmissionLimits;
  /** How long arrival `index` holds its slot, given the commands running as it starts (itself included). */
  serviceMs: (index: number, running: number) => number;
}

/** What happened to each arrival (NaN where it never ran), and the totals. */
export interface SimSessionResult {
  /** Submit to start (backoff and queue), per arrival. */
  waitMs: Float64Array;
  /** Start to end, per arrival. */
  serviceMs: Float64Array;
  completed: number;
  /** Given a backoff delay. */
  throttled: number;
  /** Refused with queue_full. */
  refused: number;
  /** Ms from the first arrival to the last end. */
  makespanMs: number;
  /** Most commands running at once. */
  peakRunning: number;
}

/**
 * Replays `arrivals` through a real AdmissionController on simulated time: each arrival asks for a slot at its
 * time, runs for serviceMs(index, running) once admitted, and releases its slot with that time as the
 * strategy's latency sample (as the pipeline does).
 */
export async function simulateSession(options: SimSessionOptions): Promise<SimSessionResult> {
  const { arrivals, limits, serviceMs } = options;
  const n = arrivals.length;
  const clock = new SimClock();
  const ctl = new AdmissionController(limits, clock);
  const waitMs = new Float64Array(n).fill(NaN);
  const service = new Float64Array(n).fill(NaN);
  let running = 0;
  let ended = 0;
  let completed = 0;
  let throttled = 0;
  let refused = 0;
  let peakRunning = 0;
  let lastEnd = 0;
  const t0 = n > 0 ? arrivals[0].atMs : 0;
  const onThrottle = (): void => void throttled++;
  const start = (i: number): void => {
    running++;
    if (running > peakRunning) peakRunning = running;
    const now = clock.now();
    waitMs[i] = now - (arrivals[i].atMs - t0);
    const ms = Math.max(0, serviceMs(i, running));
    service[i] = ms;
    clock.setTimeout(() => {
      running--;
      ended++;
      completed++;
      lastEnd = clock.now();
      ctl.release(ms);
    }, ms);
  };
  let next = 0;
  const arrive = (): void => {
    const i = next++;
    if (next < n) clock.setTimeout(arrive, arrivals[next].atMs - t0 - clock.now());
    const a = arrivals[i];
    ctl.setLoad(a.cpuPercent, 0);
    const r = ctl.admit(a.priority, { onThrottle });
    if (r === 'admitted') start(i);
    else if (r === 'queue_full' || r === 'cancelled' || r === 'closed') {
      ended++;
      refused++;
    } else {
      void r.then((outcome) => {
        if (outcome === 'admitted') start(i);
        else ended++;
      });
    }
  };
  if (n > 0) clock.setTimeout(arrive, 0);
  // Admitted but not yet started (its promise reaction is pending) shows as active > running.
  await clock.run(() => ended === n, { settled: () => ctl.active === running });
  ctl.close();
  return { waitMs, serviceMs: service, completed, throttled, refused, makespanMs: lastEnd, peakRunning };
}
