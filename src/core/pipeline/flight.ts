// A command on its way through the pipeline, from admission to its end: what "Cancel Running Command…" lists,
// and the context its executor gets. Cancelling a flight (its caller's signal, the UI, or shutdown) tells the
// admission queue and the executor alike.
//
// No AbortSignal is made per command unless an executor reads `ctx.signal`: in Node 20 creating one costs
// several microseconds, as much as the rest of the pipeline. The flight is its own minimal, signal-shaped
// cancellation (aborted, reason, add/removeEventListener('abort')), which admission and settleOrAbort accept;
// race() is the pipeline's own settleOrAbort for it.
import { ABORTED, type CancelSignal, type Settled } from '../abort';
import { lastResolver, pending } from '../pending';
import { describeSource, type SourceKind, type SourceTag } from '../telemetry';
import type { ExecutorContext, Priority, ProgressListener } from '../types';

/** Where a command is: waiting for a slot (queued, or delayed by backoff), running, or running but waiting on
 *  something outside the middleware (the Python service starting). */
export type FlightStage = 'queued' | 'delayed' | 'running' | 'waiting';

/** Who cancelled: the caller's AbortSignal, `Middleware.cancel` (the UI), or the middleware shutting down. */
export type CancelledBy = 'caller' | 'user' | 'shutdown';

/** The command has started: running, or running and waiting for the service (queued and delayed wait for a slot). */
export function hasStarted(stage: FlightStage): boolean {
  return stage === 'running' || stage === 'waiting';
}

/** Which commands in flight `Middleware.inFlight` lists. */
export interface InFlightFilter {
  /** Only those submitted at or before this epoch ms. */
  submittedBy?: number;
  /** At most this many, oldest first. */
  max?: number;
}

/** `Middleware.countInFlight`: running (or waiting for the service), and queued (or in their backoff delay). */
export interface InFlightCount {
  running: number;
  queued: number;
}

/** A read-only view of a command in flight, for lists and trees. */
export interface InFlightCommand {
  readonly commandId: string;
  readonly commandType: string;
  readonly priority: Priority;
  /** Who submitted it, for a person: `palette`, `api (publisher.name)`… */
  readonly source?: string;
  /** Its source kind (SOURCE_KINDS). */
  readonly sourceKind?: SourceKind;
  readonly stage: FlightStage;
  /** Epoch ms when it was submitted. */
  readonly submittedAt: number;
  /** Epoch ms when it started running, if it has. */
  readonly startedAt?: number;
}

type Listener = (reason: unknown) => void;

export class Flight implements ExecutorContext, CancelSignal, InFlightCommand {
  prev: Flight | null = null;
  next: Flight | null = null;
  stage: FlightStage = 'queued';
  startedAt: number | undefined;
  aborted = false;
  reason: unknown;
  cancelledBy: CancelledBy | undefined;
  /** Backoff given at admission, for progress updates. */
  delayMs = 0;
  /** The flights its caller's signal cancels (CallerSignals), while this one is among them. */
  callerFlights: Set<Flight> | undefined = undefined;
  /**
   * The oldest listener, held without an array: admission's is most often the only one. Used only while
   * `listeners` is empty, so `first` is always older than every entry there (cancel keeps arrival order).
   */
  private first: Listener | undefined;
  private listeners: Listener[] | undefined;
  private controller: AbortController | undefined;
  /** Resolves the pending race(): its executor's outcome, or ABORTED on cancel. */
  private settle: ((outcome: Settled | typeof ABORTED) => void) | undefined;

  constructor(
    readonly commandId: string,
    readonly commandType: string,
    readonly priority: Priority,
    /** Its source, as its events carry it. */
    readonly origin: SourceTag,
    readonly submittedAt: number,
    private readonly onProgress: ProgressListener | undefined,
  ) {}

  /** Who submitted it, for a person (InFlightCommand.source). */
  get source(): string {
    return describeSource(this.origin);
  }

  /** An AbortSignal for executors that need one (execa, fetch): made on first read. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  get cancelled(): boolean {
    return this.aborted;
  }

  onCancel(listener: Listener): () => void {
    if (this.aborted) {
      listener(this.reason);
      return noop;
    }
    this.addListener(listener);
    return () => this.removeListener(listener);
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) this.addListener(listener);
  }

  /**
   * The executor's outcome, or ABORTED as soon as this command is cancelled; never rejects. What
   * settleOrAbort(running, flight) does, with the resolver held here instead of a listener closure (one
   * command, one race at a time).
   */
  race(running: Promise<unknown>): Promise<Settled | typeof ABORTED> {
    if (this.aborted) return Promise.resolve(ABORTED);
    const outcome = pending<Settled | typeof ABORTED>();
    this.settle = lastResolver();
    running.then(
      (value) => this.settled({ ok: true, value }),
      (error: unknown) => this.settled({ ok: false, error }),
    );
    return outcome;
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    this.removeListener(listener);
  }

  /** Cancels once; later calls return false. Listeners run synchronously, each isolated from the others. */
  cancel(by: CancelledBy, reason: unknown): boolean {
    if (this.aborted) return false;
    this.aborted = true;
    this.cancelledBy = by;
    this.reason = reason;
    const first = this.first;
    const listeners = this.listeners;
    this.first = this.listeners = undefined;
    this.controller?.abort(reason);
    if (first) call(first, reason);
    if (listeners) for (const l of listeners) call(l, reason);
    this.settled(ABORTED);
    return true;
  }

  private settled(outcome: Settled | typeof ABORTED): void {
    const settle = this.settle;
    this.settle = undefined;
    settle?.(outcome);
  }

  waiting(reason: string): () => void {
    this.stage = 'waiting';
    this.onProgress?.({ stage: 'waiting', delayMs: this.delayMs, remainingMs: 0, queuePosition: 0, reason });
    return () => {
      if (this.stage !== 'waiting') return;
      this.stage = 'running';
      this.onProgress?.({ stage: 'running', delayMs: this.delayMs, remainingMs: 0, queuePosition: 0, reason: '' });
    };
  }

  private addListener(listener: Listener): void {
    if (this.first === undefined && (this.listeners === undefined || this.listeners.length === 0)) this.first = listener;
    else (this.listeners ??= []).push(listener);
  }

  private removeListener(listener: Listener): void {
    if (this.first === listener) {
      this.first = undefined;
      return;
    }
    const ls = this.listeners;
    if (!ls) return;
    const i = ls.indexOf(listener);
    if (i >= 0) ls.splice(i, 1);
  }
}

const noop = (): void => undefined;

function call(listener: Listener, reason: unknown): void {
  try {
    listener(reason);
  } catch {
    // One failing listener must not keep the others (or the pipeline) from hearing of the cancel.
  }
}

/** The flights of a middleware, oldest first: O(1) add and remove, no allocation beyond the flight. */
export class FlightList {
  private head: Flight | null = null;
  private tail: Flight | null = null;
  size = 0;

  add(f: Flight): void {
    f.prev = this.tail;
    if (this.tail) this.tail.next = f;
    else this.head = f;
    this.tail = f;
    this.size++;
  }

  remove(f: Flight): void {
    if (f.prev) f.prev.next = f.next;
    else if (this.head === f) this.head = f.next;
    else return; // not in the list
    if (f.next) f.next.prev = f.prev;
    else this.tail = f.prev;
    f.prev = f.next = null;
    this.size--;
  }

  *[Symbol.iterator](): IterableIterator<Flight> {
    for (let f = this.head; f;) {
      const next = f.next; // f may leave the list while the caller looks at it
      yield f;
      f = next;
    }
  }
}

/**
 * Flights by their callers' signals: one 'abort' listener per signal, however many commands share it (the
 * endpoint's connection, a batch). An EventTarget listener added and removed per command cost 0.5-1 µs in a
 * loop, a Set's add and delete under 0.1.
 */
export class CallerSignals {
  private readonly bySignal = new WeakMap<AbortSignal, Set<Flight>>();

  watch(signal: AbortSignal, flight: Flight): void {
    let flights = this.bySignal.get(signal);
    if (flights === undefined) {
      const set = (flights = new Set());
      this.bySignal.set(signal, set);
      signal.addEventListener(
        'abort',
        () => {
          // A cancelled flight may land (and leave the set) at once: a Set allows that while iterating.
          for (const f of set) f.cancel('caller', signal.reason);
          set.clear();
        },
        { once: true },
      );
    }
    flights.add(flight);
    flight.callerFlights = flights;
  }

  /** The flight landed: its caller's signal (if any) no longer cancels it. */
  unwatch(flight: Flight): void {
    flight.callerFlights?.delete(flight);
    flight.callerFlights = undefined;
  }
}
