// The requests of recent commands, so the tree's "Run Again" reruns a command with the parameters it ran with.
// Telemetry events never carry parameters (they may hold prompts or secrets), so this is the only place they
// are kept: in memory only, never written to disk, bounded by count and by bytes. No `vscode` import.
// The newest request of each type is kept apart from the per-command entries (with its own bounds), so a
// type's Run Again still has its parameters after a burst of other commands pushed them out of the ring.
import type { Priority, ValidatedRequest } from '../core';

export interface RememberedRequest {
  readonly commandType: string;
  readonly priority: Priority;
  readonly parameters: Readonly<Record<string, unknown>>;
}

interface Entry extends RememberedRequest {
  readonly bytes: number;
}

export class RecentRequests {
  /**
   * The per-command entries, a ring in age order: `tail` is the oldest, `count` follow it. A Map by command id
   * cost ~6 µs per command in the host's profile of a batch (new string keys hashed, inserted and deleted, and
   * the holes the deletes left scanned for the oldest); a slot is O(1), and `get` (a click on Run Again) scans
   * at most `maxEntries` ids. Command ids are unique, so an id is remembered once.
   */
  private readonly ids: (string | undefined)[];
  private readonly entries: (Entry | undefined)[];
  private tail = 0;
  private count = 0;
  /** Insertion order is age order here: a type run again moves to the end. */
  private readonly lastByType = new Map<string, Entry>();
  /** The type of the newest entry in lastByType: run again, it is already at the end and is replaced in place. */
  private newestType: string | undefined;
  private bytes = 0;
  private typeBytes = 0;

  constructor(
    private readonly maxEntries = 1000,
    private readonly maxBytes = 4 * 1024 * 1024,
    private readonly maxTypes = 256,
    private readonly maxTypeBytes = 1024 * 1024,
  ) {
    this.ids = new Array<string | undefined>(maxEntries).fill(undefined);
    this.entries = new Array<Entry | undefined>(maxEntries).fill(undefined);
  }

  /** Keeps `request` under `commandId`; requests whose parameters alone exceed the byte bound are not kept. */
  remember(commandId: string, request: ValidatedRequest): void {
    const bytes = request.parametersJson.length + request.commandType.length;
    if (bytes > this.maxBytes || this.maxEntries === 0) return;
    const entry: Entry = { commandType: request.commandType, priority: request.priority, parameters: request.parameters, bytes };
    while (this.count === this.maxEntries || this.bytes + bytes > this.maxBytes) this.forgetOldest();
    const slot = (this.tail + this.count) % this.maxEntries;
    this.ids[slot] = commandId;
    this.entries[slot] = entry;
    this.count++;
    this.bytes += bytes;
    if (bytes > this.maxTypeBytes || this.maxTypes === 0) return;
    if (this.newestType !== request.commandType) this.forgetType(request.commandType);
    else this.typeBytes -= this.lastByType.get(request.commandType)!.bytes;
    this.lastByType.set(request.commandType, entry);
    this.newestType = request.commandType;
    this.typeBytes += bytes;
    while (this.lastByType.size > this.maxTypes || this.typeBytes > this.maxTypeBytes) this.forgetType(this.lastByType.keys().next().value as string);
  }

  get(commandId: string): RememberedRequest | undefined {
    for (let k = this.count - 1; k >= 0; k--) {
      const slot = (this.tail + k) % this.maxEntries;
      if (this.ids[slot] !== commandId) continue;
      const e = this.entries[slot]!;
      return { commandType: e.commandType, priority: e.priority, parameters: e.parameters };
    }
    return undefined;
  }

  /** The newest remembered request of `commandType`. */
  lastOfType(commandType: string): RememberedRequest | undefined {
    const e = this.lastByType.get(commandType);
    return e && { commandType: e.commandType, priority: e.priority, parameters: e.parameters };
  }

  get size(): number {
    return this.count;
  }

  clear(): void {
    this.ids.fill(undefined);
    this.entries.fill(undefined);
    this.tail = 0;
    this.count = 0;
    this.lastByType.clear();
    this.newestType = undefined;
    this.bytes = 0;
    this.typeBytes = 0;
  }

  private forgetOldest(): void {
    this.bytes -= this.entries[this.tail]!.bytes;
    this.ids[this.tail] = undefined;
    this.entries[this.tail] = undefined;
    this.tail = (this.tail + 1) % this.maxEntries;
    this.count--;
  }

  private forgetType(commandType: string): void {
    const e = this.lastByType.get(commandType);
    if (!e) return;
    this.lastByType.delete(commandType);
    if (this.newestType === commandType) this.newestType = undefined;
    this.typeBytes -= e.bytes;
  }
}
