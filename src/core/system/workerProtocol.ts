// What the system sampler reads of systeminformation, and the messages to and from its worker thread
// (worker.ts, workerSource.ts).

/** The parts of systeminformation the sampler uses; injectable for tests. */
export interface SystemInfoSource {
  currentLoad(): Promise<{ currentLoad: number }>;
  mem(): Promise<{ total: number; available: number }>;
  processes(): Promise<{ list: Array<{ pid: number; name: string }> }>;
}

export interface SystemInfoRequest {
  readonly id: number;
  readonly method: keyof SystemInfoSource;
}

export interface SystemInfoReply {
  readonly id: number;
  /** What the method of the request resolves to (the worker sends only those fields). */
  readonly result?: Awaited<ReturnType<SystemInfoSource[keyof SystemInfoSource]>>;
  readonly error?: string;
}
