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
import type { CancelSignal } from '../abort';
import type { Clock } from '../clock';
import type { ClusterConfig, MiddlewareConfig, ThrottleConfig, ThrottleMode } from '../config';
import type { Disposable, Priority, ProgressListener } from '../types';
import type { ClusterHolder } from './cluster/connection';

/** The part of the settings admission uses: the same fields, so a setting has one name everywhere.
 *  Without `throttle` the limit is fixed; with a `cluster.redisUrl` it is shared. */
export type AdmissionLimits = Pick<MiddlewareConfig, 'maxConcurrency' | 'baseDelayMs' | 'maxDelayMs' | 'cpuThreshold' | 'maxQueueSize' | 'agingMs'> & {
  throttle?: Readonly<ThrottleConfig>;
  cluster?: Readonly<ClusterConfig>;
};

export interface ThrottleInfo {
  delayMs: number;
  reason: string;
  /** 1-based place among waiting commands in priority order at arrival. */
  queuePosition: number;
  active: number;
  limit: number;
  cpuPercent: number;
}

export interface AdmitOptions {
  signal?: CancelSignal;
  onProgress?: ProgressListener;
  /** Called synchronously inside admit() when the command is given a backoff delay. */
  onThrottle?: (info: ThrottleInfo) => void;
  /** When the command arrived (Clock.now()), if the caller has read it already: the aging bound counts from it, one clock read fewer per queued command. */
  arrivedAt?: number;
}

/** Immediate answer of admit(); 'admitted' means a slot is held and release() must be called. */
export type AdmitNow = 'admitted' | 'queue_full' | 'cancelled' | 'closed';
/** Later answer for a queued command; 'admitted' means a slot is held and release() must be called. */
export type AdmitLater = 'admitted' | 'cancelled' | 'closed';

export interface AdmissionState {
  active: number;
  queued: Record<Priority, number>;
  /** Waiting commands still inside their backoff delay (included in `queued`). */
  delayed: number;
  /** The concurrency limit in force now (in adaptive mode, where the adaptive limit stands). */
  limit: number;
  paused: boolean;
  externalActive: number;
  /** Who decides `limit` (aios.throttle.mode, or `shared` while aios.cluster.redisUrl is set). */
  mode: LimitMode;
  /** Why `limit` has its value: the reason of its last change. */
  limitReason: string;
  /** Adaptive mode only: bounds, the latencies the limit follows, the last gradient. */
  adaptive?: AdaptiveState;
  /** Shared mode only: Redis reachable or not, slots held here and in the cluster, the hosts holding them. */
  shared?: SharedState;
}

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

/** `connecting`: no answer from Redis yet (nothing starts); `shared`: Redis answers, its limit applies;
 *  `fallback`: Redis cannot be reached, the local limit aios.maxConcurrency applies. */
export type SharedStatus = 'connecting' | 'shared' | 'fallback';

/** What views show of a shared limit (AdmissionState.shared). */
export interface SharedState {
  status: SharedStatus;
  /** aios.cluster.name */
  cluster: string;
  /** aios.cluster.redisUrl without its password. */
  redis: string;
  /** The cluster's limit as this host applies it: aios.maxConcurrency. */
  clusterLimit: number;
  /** Slots this host holds (shared status only; in fallback it holds none). */
  held: number;
  /** Slots held in the whole cluster, at the last answer from Redis. */
  inUse: number;
  /** Commands waiting for a slot on other hosts, at the last answer. */
  waitingElsewhere: number;
  /** Hosts that hold or want slots, at the last answer. */
  hosts: number;
  /** The hosts and their leases, read at most once per renewal period while views look; [] before. */
  holders: readonly (ClusterHolder & { self: boolean })[];
  /** Epoch ms when `holders` was read; 0: never. */
  holdersAt: number;
  leaseMs: number;
  /** This host in the cluster: its id (a random hex string per start) and its label. */
  hostId: string;
  label: string;
  /** Epoch ms of the last change of status. */
  since: number;
  /** Why Redis could not be used, in fallback (and the last trouble otherwise). */
  lastError?: string;
}
