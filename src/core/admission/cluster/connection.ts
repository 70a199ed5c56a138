// The shared limit's two Redis connections (ioredis): one for the scripts, one subscribed to the cluster's
// events. Every call fails fast instead of waiting: no offline queue (a call while disconnected fails at
// once), no retry of a call after a reconnect (the strategy sends its whole state again), and a timeout on
// every call and on connecting. The connections themselves reconnect forever with a capped backoff, and
// `onReady` says when one is back.
import type { Redis, RedisOptions } from 'ioredis';
import { clusterKeys, HOLDERS_SCRIPT, SYNC_SCRIPT } from './scripts';
import type { Priority } from '../../types';

export interface SyncRequest {
  host: string;
  label: string;
  limit: number;
  leaseMs: number;
  keep: number;
  want: readonly [number, number, number];
  agingMs: number;
}

export interface SyncReply {
  grant: number;
  inUse: number;
  othersWant: number;
  remaining: number;
  /** ms until the next lease of another host ends; -1: no other host holds one. */
  nextLeaseEndMs: number;
  hosts: number;
  /** False when Redis had no record of this host (it is new, Redis lost its data, or its lease had ended). */
  known: boolean;
}

/** A host with a lease, as Redis has it. */
export interface ClusterHolder {
  hostId: string;
  label: string;
  slots: number;
  /** ms until its lease ends unless it renews it. */
  leaseLeftMs: number;
  waiting: Record<Priority, number>;
}

export interface ConnectionEvents {
  /** The script connection is (again) ready for calls. */
  onReady(): void;
  /** It is closed or failed: calls fail until onReady. */
  onLost(error: Error): void;
  /** A message on the cluster's channel from another host. */
  onMessage(kind: 'freed' | 'wanted', from: string): void;
}

type Scripted = Redis & {
  aiosSync(...args: (string | number)[]): Promise<number[]>;
  aiosHolders(...args: string[]): Promise<(string | number)[]>;
};

/** Reconnect after 50, 100, 200 … ms, at most 2 s apart, for ever. */
const retryStrategy = (times: number): number => Math.min(50 * 2 ** Math.min(times - 1, 6), 2000);

export class ClusterConnection {
  private lastError: Error | undefined;
  private closed = false;

  private constructor(
    private readonly client: Scripted,
    private readonly sub: Redis,
    private readonly keys: string[],
    private readonly channel: string,
  ) {}

  /** Opens both connections (ioredis is loaded on first use: windows without a shared limit never load it). */
  static async open(url: string, name: string, timeoutMs: number, events: ConnectionEvents): Promise<ClusterConnection> {
    const { Redis } = await import('ioredis');
    const options: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: timeoutMs,
      // A TLS handshake to a remote Redis takes a few round trips: give connecting a little more room.
      connectTimeout: Math.max(timeoutMs, 1000),
      retryStrategy,
      connectionName: `aios:${name}`,
      scripts: {
        aiosSync: { lua: SYNC_SCRIPT, numberOfKeys: 5 },
        aiosHolders: { lua: HOLDERS_SCRIPT, numberOfKeys: 5 },
      },
    };
    const client = new Redis(url, options) as Scripted;
    // The subscriber queues its SUBSCRIBE until connected and subscribes again after each reconnect.
    const sub = new Redis(url, { ...options, scripts: undefined, enableOfflineQueue: true, autoResubscribe: true, connectionName: `aios:${name}:events` });
    const { keys, channel } = clusterKeys(name);
    const conn = new ClusterConnection(client, sub, keys, channel);
    client.on('error', (e: Error) => (conn.lastError = e));
    client.on('close', () => {
      if (!conn.closed) events.onLost(conn.lastError ?? new Error('the connection to Redis closed'));
    });
    client.on('ready', () => {
      conn.lastError = undefined;
      if (!conn.closed) events.onReady();
    });
    sub.on('error', () => undefined); // the script connection reports the same trouble
    sub.on('message', (_channel: string, message: string) => {
      const bar = message.indexOf('|');
      const kind = message.slice(0, bar);
      if (!conn.closed && (kind === 'freed' || kind === 'wanted')) events.onMessage(kind, message.slice(bar + 1));
    });
    sub.subscribe(channel).catch(() => undefined);
    return conn;
  }

  get ready(): boolean {
    return !this.closed && this.client.status === 'ready';
  }

  async sync(r: SyncRequest): Promise<SyncReply> {
    const [grant, inUse, othersWant, remaining, nextLeaseEndMs, hosts, known] = await this.client.aiosSync(
      ...this.keys,
      r.host,
      r.label,
      r.limit,
      r.leaseMs,
      r.keep,
      r.want[0],
      r.want[1],
      r.want[2],
      r.agingMs,
      this.channel,
    );
    return { grant, inUse, othersWant, remaining, nextLeaseEndMs, hosts, known: known === 1 };
  }

  async holders(): Promise<ClusterHolder[]> {
    const flat = await this.client.aiosHolders(...this.keys);
    const out: ClusterHolder[] = [];
    for (let i = 1; i + 6 < flat.length; i += 7) {
      out.push({
        hostId: String(flat[i]),
        label: String(flat[i + 1]),
        slots: Number(flat[i + 2]),
        leaseLeftMs: Number(flat[i + 3]),
        waiting: { HIGH: Number(flat[i + 4]), NORMAL: Number(flat[i + 5]), LOW: Number(flat[i + 6]) },
      });
    }
    return out;
  }

  /** Closes both connections; a call still on its way fails. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.disconnect();
    this.sub.disconnect();
  }

  /** Sends `last` (the host leaving: its slots back), then closes; never waits longer than the timeout. */
  async closeAfter(last: SyncRequest): Promise<void> {
    try {
      if (this.ready) await this.sync(last);
    } catch {
      // Redis is gone: the lease ends by itself.
    } finally {
      this.close();
    }
  }
}
