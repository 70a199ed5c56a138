// The stats snapshot of one window session: restored at start (the newest of any session), rewritten
// atomically every few seconds while the stats change, and once more at close. One file per session, so
// several windows never write the same file; the first save prunes the older sessions' snapshots.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../clock';
import { loadLatestSnapshot, pruneSnapshots, snapshotFileName, writeFileAtomic } from './storage';
import type { Telemetry } from './telemetry';

/** How often the stats snapshot is rewritten while stats change. */
const SNAPSHOT_INTERVAL_MS = 5000;
/** A snapshot that cannot be saved is warned about at most this often. */
const WARN_EVERY_MS = 60_000;

export class StatsSnapshots {
  /** True when the stats were restored from a snapshot on disk. */
  readonly restored: boolean = false;
  private readonly timer: NodeJS.Timeout;
  private chain: Promise<void> = Promise.resolve();
  private pruned = false;
  private warnedAt = -Infinity;

  constructor(
    private readonly dir: string,
    private readonly sessionId: string,
    private readonly telemetry: Telemetry,
    private readonly clock: Clock,
    private readonly warn: (message: string) => void,
  ) {
    const snapshot = loadLatestSnapshot(dir, (e) => warn(e.message));
    if (snapshot !== undefined) {
      this.restored = telemetry.stats.restore(snapshot);
      if (!this.restored) warn(`ignoring a stats snapshot in ${dir} with an unknown format`);
    }
    this.timer = setInterval(() => void this.save(), SNAPSHOT_INTERVAL_MS);
    this.timer.unref();
  }

  /** Writes the snapshot when the stats changed since the last one; never rejects (a failure is logged and retried). */
  save(): Promise<void> {
    const { dir, telemetry } = this;
    this.chain = this.chain
      .then(async () => {
        if (!telemetry.dirty) return;
        telemetry.dirty = false;
        const name = snapshotFileName(this.sessionId);
        const data = JSON.stringify(telemetry.stats.snapshot(this.clock.epochMs()));
        await mkdir(dir, { recursive: true });
        await writeFileAtomic(join(dir, name), data);
        if (!this.pruned) {
          this.pruned = true;
          await pruneSnapshots(dir, name);
        }
      })
      .catch((e: Error) => {
        telemetry.dirty = true;
        // Retried at every save (every few seconds and at each flush): one warning a minute, as the writer's.
        const now = this.clock.epochMs();
        if (now - this.warnedAt < WARN_EVERY_MS) return;
        this.warnedAt = now;
        this.warn(`could not save the telemetry stats snapshot in ${dir}: ${e.message}`);
      });
    return this.chain;
  }

  /** Stops the timer and writes the last snapshot. */
  close(): Promise<void> {
    clearInterval(this.timer);
    return this.save();
  }
}
