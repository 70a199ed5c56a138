// Time source for the core. Injected so tests drive delays and aging without real waiting.

export interface Clock {
  /** Monotonic milliseconds (fractional), for durations. */
  now(): number;
  /** Wall-clock epoch milliseconds, for timestamps. */
  epochMs(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  epochMs: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A clock that moves only when told; timers fire in due order inside advance(). */
export class ManualClock implements Clock {
  private time: number;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(
    start = 0,
    private readonly epochOffset = Date.UTC(2026, 0, 1),
  ) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  epochMs(): number {
    return this.epochOffset + this.time;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order (timers scheduled meanwhile included). */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      let due: number | undefined;
      let dueAt = Infinity;
      for (const [id, t] of this.timers) {
        if (t.at <= target && t.at < dueAt) {
          due = id;
          dueAt = t.at;
        }
      }
      if (due === undefined) break;
      const timer = this.timers.get(due)!;
      this.timers.delete(due);
      this.time = Math.max(this.time, timer.at);
      timer.fn();
    }
    this.time = target;
  }
}
