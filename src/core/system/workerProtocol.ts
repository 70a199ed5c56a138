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
  readonly method: 'currentLoad' | 'mem' | 'processes';
}

export interface SystemInfoReply {
  readonly id: number;
  readonly result?: { currentLoad: number } | { total: number; available: number } | { list: Array<{ pid: number; name: string }> };
  readonly error?: string;
}
