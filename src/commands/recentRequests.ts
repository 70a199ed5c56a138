// The requests of recent commands, so the tree's "Run Again" reruns a command with the parameters it ran with.
// Telemetry events never carry parameters (they may hold prompts or secrets), so this is the only place they
// are kept: in memory only, never written to disk, bounded by count and by bytes. No `vscode` import.
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
  private readonly lastByType = new Map<string, string>();
  private bytes = 0;

  constructor(
    private readonly maxEntries = 1000,
    private readonly maxBytes = 4 * 1024 * 1024,
  ) {}

  /** Keeps `request` under `commandId`; requests whose parameters alone exceed the byte bound are not kept. */
  remember(commandId: string, request: ValidatedRequest): void {
    const bytes = request.parametersJson.length + request.commandType.length;
    if (bytes > this.maxBytes || this.maxEntries === 0) return;
    this.forget(commandId);
    this.byId.set(commandId, { commandType: request.commandType, priority: request.priority, parameters: request.parameters, bytes });
    this.lastByType.set(request.commandType, commandId);
    this.bytes += bytes;
    while (this.byId.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.byId.keys().next().value as string;
      this.forget(oldest);
    }
  }

  get(commandId: string): RememberedRequest | undefined {
    const e = this.byId.get(commandId);
    return e && { commandType: e.commandType, priority: e.priority, parameters: e.parameters };
  }

  /** The newest remembered request of `commandType`. */
  lastOfType(commandType: string): RememberedRequest | undefined {
    const id = this.lastByType.get(commandType);
    return id === undefined ? undefined : this.get(id);
  }

  get size(): number {
    return this.byId.size;
  }

  clear(): void {
    this.byId.clear();
    this.lastByType.clear();
    this.bytes = 0;
  }

  private forget(commandId: string): void {
    const e = this.byId.get(commandId);
    if (!e) return;
    this.byId.delete(commandId);
    this.bytes -= e.bytes;
    if (this.lastByType.get(e.commandType) === commandId) this.lastByType.delete(e.commandType);
  }
}
