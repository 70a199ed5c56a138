// When a change under the workspace's `.aios/` reloads the service (RELOAD_CONFIG), whoever made it: a save in
// the editor, a shell, `git pull`, another editor. No `vscode` (src/views/aiosFiles.ts feeds it), so the rules
// are unit-tested:
// - several writes close together (a pull, "save all", a formatter) are one reload;
// - a save in the editor and the file watcher's event for that same write are one reload, not two: a file whose
//   stamp (mtime and size) is the one the last reload read is not reloaded again;
// - a change while the service is not ready (starting, restarting, crashed) is kept and reloaded once it is;
// - one reload at a time: changes during a reload make one more after it.
// - a reload the service could not take (it went down meanwhile) waits for it, like a change while it is down.
import { isAbsolute, relative } from 'node:path';
import { WORKSPACE_COMMANDS_FILE } from '../core';

/** A save in the editor, or a change on disk the file watcher saw. */
export type ChangeOrigin = 'save' | 'disk';

export interface ReloadSchedulerHost {
  /** What identifies the file's content now without reading it (mtime and size), or 'missing'. */
  stamp(file: string): Promise<string>;
  /** Whether the service can take RELOAD_CONFIG now. */
  isReady(): boolean;
  /** One RELOAD_CONFIG for these files (absolute paths); 'save' when every change among them was a save. False
   *  when the service could not be reached (it went down): the changes wait for it to be ready again. */
  reload(files: readonly string[], origin: ChangeOrigin): Promise<boolean>;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

/** Changes within this long of each other are one reload. */
export const RELOAD_DEBOUNCE_MS = 300;
/** A stream of changes still reloads this long after its first one. */
export const RELOAD_MAX_WAIT_MS = 2000;

/**
 * Whether a file under `folder` (the workspace's `.aios/`) is one the service reads: `handlers.py`, `config.json`
 * and the modules (and data files) beside them, at any depth. Not what Python writes there itself (`__pycache__`,
 * which every reload writes: watching it would reload forever), nor `commands.json` (the shell command types',
 * read by the extension and watched on its own).
 */
export function isServiceFile(folder: string, file: string): boolean {
  const rel = relative(folder, file);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return false;
  const parts = rel.split(/[\\/]/);
  if (parts.includes('__pycache__')) return false;
  if (parts.join('/') === WORKSPACE_COMMANDS_FILE.split('/').slice(1).join('/')) return false;
  return /\.(py|json)$/i.test(rel);
}

export class ReloadScheduler {
  private pending = new Map<string, ChangeOrigin>();
  /** Changes seen while the service was not ready, reloaded once it is. */
  private deferred = new Map<string, ChangeOrigin>();
  /** Each file's stamp as the last reload that included it read it. */
  private readonly reloadedAt = new Map<string, string>();
  private timer: unknown;
  private firstPendingAt = 0;
  private running: Promise<void> | undefined;
  /** A debounce ended while a reload ran: reload again after it. */
  private due = false;
  private disposed = false;

  constructor(
    private readonly host: ReloadSchedulerHost,
    private readonly now: () => number = Date.now,
  ) {}

  /** A file the service reads was saved or changed. */
  changed(file: string, origin: ChangeOrigin): void {
    if (this.disposed) return;
    if (this.pending.size === 0) this.firstPendingAt = this.now();
    if (this.pending.get(file) !== 'save') this.pending.set(file, origin);
    if (this.timer !== undefined) this.host.clearTimer(this.timer);
    const waited = this.now() - this.firstPendingAt;
    this.timer = this.host.setTimer(() => void this.flush(), Math.max(0, Math.min(RELOAD_DEBOUNCE_MS, RELOAD_MAX_WAIT_MS - waited)));
  }

  /** The service became ready: reload what changed while it was not. */
  serviceReady(): void {
    if (this.disposed || this.deferred.size === 0) return;
    for (const [file, origin] of this.deferred) if (this.pending.get(file) !== 'save') this.pending.set(file, origin);
    this.deferred.clear();
    void this.flush();
  }

  /** Settles once no reload is running or due (tests wait on it). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async flush(): Promise<void> {
    if (this.timer !== undefined) this.host.clearTimer(this.timer);
    this.timer = undefined;
    if (this.running) {
      this.due = true;
      return;
    }
    this.running = (async () => {
      do {
        this.due = false;
        await this.reloadPending();
      } while (this.due && !this.disposed);
    })().finally(() => {
      this.running = undefined;
    });
    await this.running;
  }

  private async reloadPending(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    if (batch.size === 0 || this.disposed) return;
    const stamps = await Promise.all([...batch.keys()].map(async (file) => [file, await this.host.stamp(file)] as const));
    // A change the last reload already read (the watcher's event after a save that reloaded): nothing new.
    const fresh = stamps.filter(([file, stamp]) => this.reloadedAt.get(file) !== stamp);
    if (fresh.length === 0) return;
    const defer = () => {
      for (const [file] of fresh) this.deferred.set(file, batch.get(file)!);
    };
    if (!this.host.isReady()) return defer();
    // Stamped before the service reads them: a write after this point has another stamp, so it reloads again.
    const previous = fresh.map(([file]) => [file, this.reloadedAt.get(file)] as const);
    for (const [file, stamp] of fresh) this.reloadedAt.set(file, stamp);
    const files = fresh.map(([file]) => file);
    const delivered = await this.host.reload(files, files.every((f) => batch.get(f) === 'save') ? 'save' : 'disk');
    if (!delivered) {
      for (const [file, stamp] of previous) {
        if (stamp === undefined) this.reloadedAt.delete(file);
        else this.reloadedAt.set(file, stamp);
      }
      defer();
    }
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== undefined) this.host.clearTimer(this.timer);
    this.timer = undefined;
    this.pending.clear();
    this.deferred.clear();
  }
}
