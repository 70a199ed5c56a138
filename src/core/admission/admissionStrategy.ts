// What the pipeline sees of admission (`Admission`), and what decides the concurrency limit behind it
// (`LimitStrategy`). The pipeline never knows which strategy is in use.
//
// The contract, in one place:
// - One AdmissionController owns everything local: the three priority queues, aging, the bounded queue, the
//   backoff delay, pause, progress, cancellation and the allocation-free fast path. Strategies never see a
//   command; they decide one number, the limit, and the controller enforces it (a command starts only while
//   `inFlight < limit`, on the fast path and when dispatching the queues alike).
// - A strategy changes the limit through `LimitHost.setLimit(limit, reason)`, at any time and from anywhere
//   (its own timer, a sample, a reply from a shared store): the new limit applies at once (a higher one starts
//   waiting commands in priority order; a lower one lets running commands finish) and every change reaches the
//   controller's change listeners with its reason.
// - Samples: after a command that held a slot ends, `sample(rttMs, inFlight)` gives its running time and the
//   number of commands that were running with it. It is called on the command's path, so it must be O(1),
//   allocation-free, and read no clock unless the strategy is doing something rare (a probe). The limit is
//   computed on the strategy's own timer (a window), never per command.
// - Asynchronous permits (a shared limit: slots as leases in Redis): the limit is the number of slots the
//   strategy holds right now. When a command has to queue because no slot is free, the controller calls
//   `onDemand(waiting)` (queueing path only); the strategy may then acquire permits asynchronously and raise
//   the limit with setLimit when it has them, which starts the queued commands in priority order. Permits
//   are fungible, so nothing is tied to a command: to give permits back, the strategy lowers the limit (it
//   may read `host.inFlight` and `host.waiting` to decide) and running commands finish first. The fast path
//   stays synchronous: it only uses slots the strategy already holds.
//   A shared limit also needs to know what waits, per priority (`host.waitingAt`), so that the cluster can
//   order hosts by their most urgent commands, and whether admission is paused (`host.paused`: paused
//   commands must not hold slots other hosts could use); `resume()` calls `onDemand` again. Its limit
//   moves with every slot it takes or gives back, so the backoff formula asks it (`backoffLimit()`) for
//   the slots it could have now rather than the ones it holds. A change of its state that leaves the
//   number as it is (Redis lost: the local limit applies) is still announced (`setLimit(…, true)`).
// - Switching strategies (a setting change) calls `stop()` on the old one (timers cleared, permits
//   returned) and `start()` on the new one, whose limit applies at once. Queued commands keep their place and
//   running ones keep their slots: the controller's counts do not change hands.
import type { Clock } from '../clock';
import type { ThrottleMode } from '../config';
import type { AdmissionLimits, AdmissionState, AdmitLater, AdmitNow, AdmitOptions } from './admission';
import type { SharedState } from './cluster';
import type { Disposable, Priority } from '../types';

/** The admission the pipeline uses: queues and priorities, with a strategy deciding the limit. */
export interface Admission {
  /** Takes a slot if one is free and nobody waits (then release() must follow); allocation-free. */
  tryAdmit(): boolean;
  /** 'admitted' now, a refusal now, or a promise settled when the queued command starts, is cancelled or closed. */
  admit(priority: Priority, opts?: AdmitOptions): AdmitNow | Promise<AdmitLater>;
  /** Frees an admitted command's slot; `rttMs`, when known, is how long it held it (a latency sample). */
  release(rttMs?: number): void;
  /** For views: counts, the limit in force, the mode and why the limit is what it is. */
  state(): AdmissionState;
  /** New settings apply at once, aios.throttle.mode included (waiting commands keep their place). */
  setLimits(limits: AdmissionLimits): void;
  /** Load measured by the background sampler. */
  setLoad(cpuPercent: number, externalActive: number): void;
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  /**
   * An internal hold (counted; each hold() needs one unhold()): nothing new starts and queued commands wait,
   * counted against maxQueueSize like any waiter. Used while the telemetry writer is behind the disk.
   */
  hold(): void;
  unhold(): void;
  readonly held: boolean;
  readonly active: number;
  /** Every change of the limit, with its reason (for a debug log, or a view that redraws). */
  onLimitChange(listener: (change: LimitChange) => void): Disposable;
  /** Settles every waiting command with 'closed', stops the strategy; later admits are refused. */
  close(): void;
}

/** Who decides the limit: aios.throttle.mode, or `shared` while aios.cluster.redisUrl is set. */
export type LimitMode = ThrottleMode | 'shared';

/** `from === to`: the same limit for a new reason (e.g. a shared limit fell back to the local one). */
export interface LimitChange {
  mode: LimitMode;
  from: number;
  to: number;
  reason: string;
}

/** "limit 12 -> 9: short RTT 41 ms vs long 23 ms, gradient 0.84" */
export function describeLimitChange(c: LimitChange): string {
  return `limit ${c.from} -> ${c.to} (${c.mode}): ${c.reason}`;
}

/** What a strategy may use of the controller that runs it. */
export interface LimitHost {
  readonly clock: Clock;
  /** Commands holding a slot now. */
  readonly inFlight: number;
  /** Commands waiting in the queues now. */
  readonly waiting: number;
  /** Commands of one priority waiting now (queued or in backoff). */
  waitingAt(priority: Priority): number;
  /** Admission is paused: waiting commands will not start whatever the limit. */
  readonly paused: boolean;
  /** Sets the limit (an integer >= 0), applied at once; `reason` goes to the change listeners. `announce`:
   *  tell the listeners even when the number stays (the reason changed). */
  setLimit(limit: number, reason: string, announce?: boolean): void;
}

/** What an adaptive strategy shows about itself, for tooltips, trees and charts. */
export interface AdaptiveState {
  minLimit: number;
  maxLimit: number;
  /** The fractional limit the controller moves; `limit` is its integer part. */
  estimate: number;
  /** Mean running time in the last window (ms), 0 before the first. */
  shortRttMs: number;
  /** The no-load running time it compares against (ms), 0 before the first window. */
  longRttMs: number;
  /** clamp(tolerance * long / short, 0.5, 1) of the last window; 1 before the first. */
  gradient: number;
  /** True while the limit is held low for a moment to measure the no-load latency again. */
  probing: boolean;
}

export interface LimitStrategy {
  readonly mode: LimitMode;
  /** Begins deciding for `host`; returns the limit to start with and why. Calls host.setLimit() later, never in here. */
  start(host: LimitHost, limits: AdmissionLimits): { limit: number; reason: string };
  /** Settings changed (any of them: compare with what it had); applies at once through host.setLimit(). */
  configure(limits: AdmissionLimits): void;
  /** Whether the controller should call sample() at all: false spares the fixed limit even a call. */
  readonly wantsSamples: boolean;
  /** O(1), no allocation: a command ran `rttMs`; `inFlight` commands were running when it ended (itself included). */
  sample(rttMs: number, inFlight: number): void;
  /** A command queued because no slot was free (queueing path only), or admission resumed with commands
   *  waiting; for strategies that acquire slots. */
  onDemand?(waiting: number): void;
  /** The limit the backoff formula compares with, when it is not the one in force (queueing path only). */
  backoffLimit?(): number;
  /** Stops for good: timers cleared, permits given back. */
  stop(): void;
  /** Extra state for views; undefined when there is nothing beyond the limit. */
  describe(): AdaptiveState | undefined;
  /** A shared limit's state for views (AdmissionState.shared). */
  describeShared?(): SharedState;
}

/** The seed's behaviour: the limit is aios.maxConcurrency. */
export class FixedLimit implements LimitStrategy {
  readonly mode = 'fixed' as const;
  readonly wantsSamples = false;
  private host: LimitHost | undefined;
  private limit = 0;

  start(host: LimitHost, limits: AdmissionLimits): { limit: number; reason: string } {
    this.host = host;
    this.limit = limits.maxConcurrency;
    return { limit: this.limit, reason: `aios.maxConcurrency is ${this.limit}` };
  }

  configure(limits: AdmissionLimits): void {
    if (limits.maxConcurrency === this.limit) return;
    this.limit = limits.maxConcurrency;
    this.host?.setLimit(this.limit, `aios.maxConcurrency is ${this.limit}`);
  }

  sample(): void {
    // The fixed limit does not follow latency.
  }

  stop(): void {
    this.host = undefined;
  }

  describe(): undefined {
    return undefined;
  }
}
