// systeminformation behind a worker thread (worker.ts): the sampler's readings cost the caller's thread one
// message each way. The worker starts at the first reading and keeps a process alive only while it owes a
// reading (milliseconds); one that fails or exits fails the readings it owed with a clear error, and the next
// reading starts another.
import { Worker } from 'node:worker_threads';
import type { SystemInfoReply, SystemInfoRequest, SystemInfoSource } from './workerProtocol';
import type { Disposable } from '../types';

export class WorkerSystemInfo implements SystemInfoSource, Disposable {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly owed = new Map<number, { resolve(result: unknown): void; reject(error: Error): void }>();
  private disposed = false;
  /** Workers started so far (a test reads it: a dead worker is replaced at the next reading). */
  started = 0;

  /** `script`: the built worker, dist/chunks/systemWorker.js. */
  constructor(private readonly script: string) {}

  currentLoad(): Promise<{ currentLoad: number }> {
    return this.call('currentLoad');
  }

  mem(): Promise<{ total: number; available: number }> {
    return this.call('mem');
  }

  processes(): Promise<{ list: Array<{ pid: number; name: string }> }> {
    return this.call('processes');
  }

  dispose(): void {
    this.disposed = true;
    const w = this.worker;
    this.worker = undefined;
    this.failOwed(new Error('the system sampler was stopped'));
    void w?.terminate();
  }

  private call<T>(method: SystemInfoRequest['method']): Promise<T> {
    if (this.disposed) return Promise.reject(new Error('the system sampler was stopped'));
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.owed.size === 0) worker.ref();
      this.owed.set(id, { resolve, reject });
      worker.postMessage({ id, method } satisfies SystemInfoRequest);
    });
  }

  private start(): Worker {
    this.started++;
    const w = new Worker(this.script);
    w.on('message', (m: SystemInfoReply) => {
      const p = this.owed.get(m.id);
      if (!p) return;
      this.owed.delete(m.id);
      if (this.owed.size === 0) w.unref();
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.result);
    });
    w.on('error', (e: Error) => this.lost(w, new Error(`the system sampler's worker failed: ${e.message}`)));
    w.on('exit', (code) => this.lost(w, new Error(`the system sampler's worker exited (code ${code})`)));
    return w;
  }

  /** A worker gone: what it owed fails, and the next reading starts a new one. */
  private lost(w: Worker, error: Error): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    this.failOwed(error);
  }

  private failOwed(error: Error): void {
    const owed = [...this.owed.values()];
    this.owed.clear();
    for (const p of owed) p.reject(error);
  }
}
