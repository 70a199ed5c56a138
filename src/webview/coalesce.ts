// Turns a storm of "something changed" signals into at most one flush per interval. The metrics panel's
// host uses it so 1,000 commands/s become ≤ 4 postMessage calls/s. Lives beside the protocol because it
// is pure (no `vscode`, no DOM) and unit-tested in plain Node; the webview does not use it.

export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export class Coalescer {
  private pending: unknown;
  private lastFlushAt = -Infinity;

  constructor(
    private readonly flush: () => void,
    readonly intervalMs: number,
    private readonly timers: Timers = realTimers,
  ) {}

  get scheduled(): boolean {
    return this.pending !== undefined;
  }

  /**
   * Asks for a flush. Never flushes synchronously (callers are often inside someone else's event
   * dispatch); the flush runs as soon as `intervalMs` has passed since the previous one.
   */
  request(): void {
    if (this.pending !== undefined) return;
    const wait = Math.max(0, this.lastFlushAt + this.intervalMs - this.timers.now());
    this.pending = this.timers.setTimeout(() => {
      this.pending = undefined;
      this.run();
    }, wait);
  }

  /** Flushes now (e.g. the view became visible and wants fresh data) and drops any pending request. */
  flushNow(): void {
    this.cancel();
    this.run();
  }

  /** Milliseconds since the last flush. */
  sinceLastFlush(): number {
    return this.timers.now() - this.lastFlushAt;
  }

  cancel(): void {
    if (this.pending !== undefined) this.timers.clearTimeout(this.pending);
    this.pending = undefined;
  }

  dispose(): void {
    this.cancel();
  }

  private run(): void {
    this.lastFlushAt = this.timers.now();
    this.flush();
  }
}
