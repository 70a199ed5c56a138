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
  /** Insertion order is age order: the first entry is the oldest. */
  private readonly byId = new Map<string, Entry>();
  /** Insertion order is age order here too: a type run again moves to the end. */
  private readonly lastByType = new Map<string, Entry>();
  private bytes = 0;
  private typeBytes = 0;

  constructor(
    private readonly maxEntries = 1000,
    private readonly maxBytes = 4 * 1024 * 1024,
    private readonly maxTypes = 256,
    private readonly maxTypeBytes = 1024 * 1024,
  ) {}

  /** Keeps `request` under `commandId`; requests whose parameters alone exceed the byte bound are not kept. */
  remember(commandId: string, request: ValidatedRequest): void {
    const bytes = request.parametersJson.length + request.commandType.length;
    if (bytes > this.maxBytes || this.maxEntries === 0) return;
    this.forget(commandId);
    const entry: Entry = { commandType: request.commandType, priority: request.priority, parameters: request.parameters, bytes };
    this.byId.set(commandId, entry);
    this.bytes += bytes;
    while (this.byId.size > this.maxEntries || this.bytes > this.maxBytes) this.forget(this.byId.keys().next().value as string);
    if (bytes > this.maxTypeBytes || this.maxTypes === 0) return;
    this.forgetType(request.commandType);
    this.lastByType.set(request.commandType, entry);
    this.typeBytes += bytes;
    while (this.lastByType.size > this.maxTypes || this.typeBytes > this.maxTypeBytes) this.forgetType(this.lastByType.keys().next().value as string);
  }

  get(commandId: string): RememberedRequest | undefined {
    const e = this.byId.get(commandId);
    return e && { commandType: e.commandType, priority: e.priority, parameters: e.parameters };
  }

  /** The newest remembered request of `commandType`. */
  lastOfType(commandType: string): RememberedRequest | undefined {
    const e = this.lastByType.get(commandType);
    return e && { commandType: e.commandType, priority: e.priority, parameters: e.parameters };
  }

  get size(): number {
    return this.byId.size;
  }

  clear(): void {
    this.byId.clear();
    this.lastByType.clear();
    this.bytes = 0;
    this.typeBytes = 0;
  }

  private forget(commandId: string): void {
    const e = this.byId.get(commandId);
    if (!e) return;
    this.byId.delete(commandId);
    this.bytes -= e.bytes;
  }

  private forgetType(commandType: string): void {
    const e = this.lastByType.get(commandType);
    if (!e) return;
    this.lastByType.delete(commandType);
    this.typeBytes -= e.bytes;
  }
}
