// The shared limit (aios.cluster.redisUrl set): every extension host with the same Redis and aios.cluster.name
// keeps to one concurrency limit, aios.maxConcurrency, together. Slots are leases in Redis (scripts.ts has
// the keys and the Lua scripts; every change is one atomic script).
//
// How hosts share slots, order priorities across windows, and fall back when Redis is gone: docs/ADMISSION.md.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { AdmissionLimits, LimitHost, LimitStrategy, SharedState, SharedStatus } from '../types';
import { DEFAULT_CONFIG, redactRedisUrl, type ClusterConfig } from '../../config';
import { PRIORITIES } from '../../types';
import { ClusterConnection, type SyncReply } from './connection';

export type { ClusterHolder } from './connection';

export interface SharedLimitOptions {
  /** Where "Redis lost" (warn, once per outage) and "Redis back" (info) go. */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
  /** How people see this host in the holders' list; default "<hostname> · pid <pid>". */
  label?: string;
}

/** On the command path under contention: a constant, so that giving a slot back allocates no string. */
const YIELD_REASON = 'a slot goes back to the cluster: other hosts are waiting';

export class SharedLimit implements LimitStrategy {
  readonly mode = 'shared' as const;
  /** Samples are how the strategy hears that a slot frees up (to give it back when others wait). */
  readonly wantsSamples = true;
  readonly hostId = randomBytes(8).toString('hex');
  readonly label: string;
  private readonly log: NonNullable<SharedLimitOptions['log']>;
  private host: LimitHost | undefined;
  private limits: AdmissionLimits = DEFAULT_CONFIG;
  private cluster: ClusterConfig = DEFAULT_CONFIG.cluster;
  private conn: ClusterConnection | undefined;
  /** Bumped on every (re)connect and on stop: answers and events of an older connection are ignored. */
  private generation = 0;
  private status: SharedStatus = 'connecting';
  private since = Date.now();
  private lastError: string | undefined;
  /** A warning was logged for the current outage. */
  private warned = false;
  private stopped = false;
  /** The limit this strategy last set. */
  private limit = 0;
  /** Slots Redis has for this host (its last answer). */
  private held = 0;
  /** Other hosts were waiting at the last answer (or said so since). */
  private contended = false;
  /** Most commands in flight since the last renewal: idle slots above it go back. */
  private peak = 0;
  /** Commands waiting per priority as Redis has them (what the last call asked for, less what it got). */
  private readonly asked: [number, number, number] = [0, 0, 0];
  private inUse = 0;
  private waitingElsewhere = 0;
  private hosts = 0;
  private holders: SharedState['holders'] = [];
  private holdersAt = 0;
  private viewed = false;
  private syncing = false;
  /** The local limit sample() lowered to while a call was on its way (those slots were given back then). */
  private yieldedTo: number | undefined;
  private again = false;
  private scheduled = false;
  /** The next call is a renewal: idle slots above the period's peak go back. */
  private renewal = false;
  private renewTimer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private connectTimer: NodeJS.Timeout | undefined;

  constructor(options: SharedLimitOptions = {}) {
    this.log = options.log ?? (() => undefined);
    this.label = options.label ?? `${hostname()} · pid ${process.pid}`;
  }

  start(host: LimitHost, limits: AdmissionLimits): { limit: number; reason: string } {
    this.host = host;
    this.limits = limits;
    this.cluster = limits.cluster ?? DEFAULT_CONFIG.cluster;
    this.connect();
    return { limit: 0, reason: `shared limit "${this.cluster.name}": connecting to ${redactRedisUrl(this.cluster.redisUrl)}` };
  }

  configure(limits: AdmissionLimits): void {
    const before = this.cluster;
    const beforeLimit = this.limits.maxConcurrency;
    this.limits = limits;
    this.cluster = limits.cluster ?? DEFAULT_CONFIG.cluster;
    const c = this.cluster;
    if (c.redisUrl !== before.redisUrl || c.name !== before.name || c.timeoutMs !== before.timeoutMs) {
      // Another cluster: leave this one (slots back) and join that one with what runs here.
      const old = this.conn;
      this.conn = undefined;
      if (old) void old.closeAfter(this.leaving());
      this.setStatus('connecting');
      this.held = 0;
      this.connect();
      this.setLocal(0, `shared limit "${c.name}": connecting to ${redactRedisUrl(c.redisUrl)}`, true);
      return;
    }
    if (c.leaseMs !== before.leaseMs) this.armRenewal();
    if (limits.maxConcurrency !== beforeLimit) {
      if (this.status === 'fallback') this.setLocal(limits.maxConcurrency, this.fallbackReason(), true);
      else if (this.status === 'shared') this.requestSync();
    }
  }

  sample(_rttMs: number, inFlight: number): void {
    if (inFlight > this.peak) this.peak = inFlight;
    // Others wait: the slot that just freed up goes back through Redis's waiting room, not to a local waiter.
    if (this.contended && this.status === 'shared') {
      const running = this.host!.inFlight;
      if (this.limit > running) {
        this.setLocal(running, YIELD_REASON);
        // The answer of a call already on its way must not hand these slots back to local waiters.
        if (this.syncing) this.yieldedTo = Math.min(this.yieldedTo ?? running, running);
        this.requestSync();
      }
    }
  }

  onDemand(): void {
    // Ask only for demand Redis does not know yet: one call per burst, not one per queued command.
    if (this.status === 'shared' && !this.host!.paused && this.unasked()) this.requestSync();
  }

  /** Commands wait here that Redis does not know of. */
  private unasked(): boolean {
    const h = this.host!;
    return h.waitingAt('HIGH') > this.asked[0] || h.waitingAt('NORMAL') > this.asked[1] || h.waitingAt('LOW') > this.asked[2];
  }

  /** The backoff formula compares with the slots this host could have now: those it holds and those free. */
  backoffLimit(): number {
    return this.status === 'shared' ? this.limit + Math.max(0, this.limits.maxConcurrency - this.inUse) : this.limit;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.generation++;
    clearInterval(this.renewTimer);
    clearTimeout(this.wakeTimer);
    clearTimeout(this.connectTimer);
    const conn = this.conn;
    this.conn = undefined;
    // Running commands keep their local slot, but the cluster gets every slot back now: a window that
    // closes frees its share at once instead of after its lease.
    if (conn) void conn.closeAfter(this.leaving());
    this.host = undefined;
  }

  describe(): undefined {
    return undefined;
  }

  describeShared(): SharedState {
    this.viewed = true;
    const s: SharedState = {
      status: this.status,
      cluster: this.cluster.name,
      redis: redactRedisUrl(this.cluster.redisUrl),
      clusterLimit: this.limits.maxConcurrency,
      held: this.status === 'shared' ? this.held : 0,
      inUse: this.inUse,
      waitingElsewhere: this.waitingElsewhere,
      hosts: this.hosts,
      holders: this.holders,
      holdersAt: this.holdersAt,
      leaseMs: this.cluster.leaseMs,
      hostId: this.hostId,
      label: this.label,
      since: this.since,
    };
    if (this.lastError !== undefined) s.lastError = this.lastError;
    return s;
  }

  /** Reads the hosts and their leases now (also done once per renewal period while views look). */
  async readHolders(): Promise<SharedState['holders']> {
    const conn = this.conn;
    if (!conn?.ready) return this.holders;
    const list = await conn.holders();
    this.holders = list.map((h) => ({ ...h, self: h.hostId === this.hostId }));
    this.holdersAt = Date.now();
    return this.holders;
  }

  private connect(): void {
    const gen = ++this.generation;
    this.syncing = this.again = this.scheduled = false;
    this.asked.fill(0);
    const c = this.cluster;
    const timeoutMs = this.callTimeoutMs();
    ClusterConnection.open(c.redisUrl, c.name, timeoutMs, {
      onReady: () => {
        if (gen === this.generation) this.requestSync();
      },
      onLost: (e) => {
        if (gen === this.generation) this.fallBack(e);
      },
      onMessage: (kind, from) => {
        if (gen === this.generation && from !== this.hostId) this.heard(kind);
      },
    }).then(
      (conn) => {
        if (gen !== this.generation) return conn.close();
        this.conn = conn;
        if (conn.ready) this.requestSync();
        // A server that takes the connection but never answers: the connection's own timeout covers TCP only.
        const waitMs = Math.max(timeoutMs, 1000);
        clearTimeout(this.connectTimer);
        this.connectTimer = setTimeout(() => {
          // A busy event loop makes timers late: let pending I/O (the answer, maybe) run before deciding.
          setImmediate(() => {
            if (gen === this.generation && this.status === 'connecting' && !conn.ready) this.fallBack(new Error(`no answer within ${waitMs} ms of connecting`));
          });
        }, waitMs);
        this.connectTimer.unref();
      },
      (e: unknown) => {
        if (gen === this.generation) this.fallBack(e);
      },
    );
    this.armRenewal();
  }

  /** A call never waits longer than a third of the lease: a renewal that times out still ends before the lease. */
  private callTimeoutMs(): number {
    return Math.max(10, Math.min(this.cluster.timeoutMs, Math.floor(this.cluster.leaseMs / 3)));
  }

  private armRenewal(): void {
    clearInterval(this.renewTimer);
    this.renewTimer = setInterval(() => this.renew(), Math.max(100, Math.floor(this.cluster.leaseMs / 3)));
    this.renewTimer.unref();
  }

  private renew(): void {
    if (this.stopped) return;
    if (this.status === 'shared') {
      if (this.held > 0 || this.asked[0] + this.asked[1] + this.asked[2] > 0) {
        this.renewal = true;
        this.requestSync();
      }
      if (this.viewed) {
        this.viewed = false;
        this.readHolders().catch(() => undefined);
      }
    } else if (this.status === 'fallback' && this.conn?.ready) {
      this.requestSync(); // connected but not answering in time, or a script error: try again
    }
  }

  private heard(kind: 'freed' | 'wanted'): void {
    if (this.status !== 'shared') return;
    if (kind === 'freed') {
      if (this.asked[0] + this.asked[1] + this.asked[2] > 0) this.requestSync();
    } else {
      this.contended = true;
      if (this.limit > this.host!.inFlight) this.requestSync(); // idle slots go back now
    }
  }

  private requestSync(): void {
    if (this.stopped) return;
    if (this.syncing) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    // Everything asked in one turn of the event loop goes in one call.
    setImmediate(this.runSync);
  }

  private readonly runSync = (): void => {
    this.scheduled = false;
    void this.sync();
  };

  private async sync(): Promise<void> {
    const conn = this.conn;
    const h = this.host;
    if (!conn || !h || this.stopped || this.syncing || !conn.ready) return;
    const gen = this.generation;
    this.syncing = true;
    this.yieldedTo = undefined;
    this.again = false;
    const renewal = this.renewal;
    this.renewal = false;
    const running = h.inFlight;
    let keep: number;
    // Redis must always count what runs here; (re)joining registers exactly that.
    if (this.status !== 'shared' || this.contended) keep = running;
    else if (renewal) keep = Math.max(running, Math.min(this.limit, this.peak));
    else keep = Math.max(running, this.limit);
    if (renewal) this.peak = running;
    if (this.status === 'shared' && keep < this.limit) this.setLocal(keep, `shared limit "${this.cluster.name}": giving ${this.limit - keep} idle slots back`);
    const want: [number, number, number] = [0, 0, 0];
    if (!h.paused) {
      let idle = keep - running;
      for (let i = 0; i < 3; i++) {
        const w = h.waitingAt(PRIORITIES[i]);
        const covered = Math.min(idle, w);
        idle -= covered;
        want[i] = w - covered;
      }
    }
    this.asked[0] = want[0];
    this.asked[1] = want[1];
    this.asked[2] = want[2];
    let reply: SyncReply;
    try {
      reply = await conn.sync({
        host: this.hostId,
        label: this.label,
        limit: this.limits.maxConcurrency,
        leaseMs: this.cluster.leaseMs,
        keep,
        want,
        agingMs: this.limits.agingMs,
      });
    } catch (e) {
      if (gen === this.generation) {
        this.syncing = false;
        this.fallBack(e);
      }
      return;
    }
    if (gen !== this.generation) return;
    this.syncing = false;
    this.answered(reply, keep, running);
    if (this.again) this.requestSync();
  }

  private answered(r: SyncReply, keep: number, running: number): void {
    const h = this.host!;
    const joined = this.status !== 'shared';
    // Slots sample() gave back while the call was on its way stay given back: the next call (already asked
    // for) tells Redis. Counting them as held would let local waiters take them at once, and a window that
    // keeps finding work would never hand a slot to the other.
    const yielded = this.yieldedTo;
    this.yieldedTo = undefined;
    const kept = yielded === undefined ? keep : Math.min(keep, Math.max(yielded, h.inFlight));
    this.held = kept + r.grant;
    this.inUse = r.inUse;
    this.waitingElsewhere = r.othersWant;
    this.hosts = r.hosts;
    this.contended = r.othersWant > 0;
    // What Redis still has as wanted: the grant went to the most urgent first.
    let granted = r.grant;
    for (let i = 0; i < 3; i++) {
      const g = Math.min(granted, this.asked[i]);
      this.asked[i] -= g;
      granted -= g;
    }
    if (joined) {
      clearTimeout(this.connectTimer);
      this.setStatus('shared');
      if (this.warned) this.log('info', `The shared limit "${this.cluster.name}" reaches Redis again: the cluster's limit applies`);
      this.warned = false;
      this.lastError = undefined;
      if (running > this.limits.maxConcurrency || r.inUse > this.limits.maxConcurrency)
        this.log(
          'info',
          `The cluster "${this.cluster.name}" runs ${r.inUse} commands, above its limit ${this.limits.maxConcurrency}: no new one starts until it is under it`,
        );
    } else if (!r.known && keep > 0) {
      this.log(
        'info',
        `Redis had no lease of this window for the shared limit "${this.cluster.name}" (it expired or Redis restarted): ${keep} running commands registered again`,
      );
    }
    this.setLocal(
      this.held,
      `shared limit "${this.cluster.name}": ${this.held} of ${this.limits.maxConcurrency} slots held here, ${r.inUse} in use in the cluster`,
      joined,
    );
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (r.remaining > 0 && r.nextLeaseEndMs >= 0) {
      // A dead host's slots come back when its lease ends: ask again right then.
      this.wakeTimer = setTimeout(() => this.requestSync(), r.nextLeaseEndMs + 1);
      this.wakeTimer.unref();
    }
    // Commands that queued while the call was on its way (or before this host joined) and that Redis does not
    // know of yet: ask for them.
    if (!h.paused && this.limit < h.inFlight + h.waiting && this.unasked()) this.again = true;
    // Others wait and slots sit idle here (admission paused, commands gone): give them back. Not slots just
    // given for commands still in their backoff delay: they would come straight back, in a loop.
    if (this.contended && r.grant === 0 && this.limit > h.inFlight + (h.paused ? 0 : h.waiting)) this.again = true;
  }

  private fallBack(e: unknown): void {
    if (this.stopped) return;
    this.lastError = e instanceof Error ? e.message : String(e);
    if (this.status === 'fallback') return;
    clearTimeout(this.connectTimer);
    clearTimeout(this.wakeTimer);
    this.setStatus('fallback');
    this.held = 0;
    this.contended = false;
    this.asked.fill(0);
    if (!this.warned) {
      this.warned = true;
      this.log(
        'warn',
        `The shared limit "${this.cluster.name}" cannot use Redis at ${redactRedisUrl(this.cluster.redisUrl)} (${this.lastError}): ` +
          `this window keeps to its own limit aios.maxConcurrency (${this.limits.maxConcurrency}) until Redis answers again`,
      );
    }
    this.setLocal(this.limits.maxConcurrency, this.fallbackReason(), true);
  }

  private fallbackReason(): string {
    return `shared limit "${this.cluster.name}" unreachable (${this.lastError ?? 'no answer'}): the local limit aios.maxConcurrency ${this.limits.maxConcurrency} applies`;
  }

  /** The last call of a host that leaves: no slots, nothing wanted. */
  private leaving(): Parameters<ClusterConnection['sync']>[0] {
    return {
      host: this.hostId,
      label: this.label,
      limit: this.limits.maxConcurrency,
      leaseMs: this.cluster.leaseMs,
      keep: 0,
      want: [0, 0, 0],
      agingMs: 0,
    };
  }

  private setStatus(status: SharedStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.since = Date.now();
  }

  private setLocal(limit: number, reason: string, announce = false): void {
    this.limit = limit;
    this.host?.setLimit(limit, reason, announce);
  }
}
