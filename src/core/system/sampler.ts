// Background system sampler: CPU and memory about once a second, the number of other Python processes on a
// slower period (a process listing costs ~0.3 s of CPU). Timers are unref'd and chained (a slow sample never
// overlaps the next); the command path only reads the latest sample. Given a worker script, systeminformation
// runs on a worker thread (workerSource.ts): some of its readings block the thread that calls them.
import type { SamplerConfig } from '../config';
import { Listeners } from '../listeners';
import type { Disposable, SystemSample } from '../types';
import type { SystemInfoSource } from './workerProtocol';
import { WorkerSystemInfo } from './workerSource';

export interface Sampler extends Disposable {
  latest(): SystemSample;
  onSample(listener: (sample: SystemSample) => void): Disposable;
  /** Applies new periods at once (optional for injected samplers). */
  configure?(config: SamplerConfig): void;
}

export type { SystemInfoSource } from './workerProtocol';

export const EMPTY_SAMPLE: SystemSample = Object.freeze({ cpuPercent: 0, memoryPercent: 0, pythonProcesses: -1, sampledAt: 0 });

/** python, python3, python3.12, pythonw, python.exe, Python (macOS framework builds)... */
const PYTHON_PROCESS = /^python(\d+(\.\d+)*)?w?(\.exe)?$/i;

export function isPythonProcessName(name: string): boolean {
  return PYTHON_PROCESS.test(name);
}

export interface SystemSamplerOptions {
  /**
   * Defaults to the systeminformation package: on a worker thread started from `workerScript` when given
   * (the extension's dist/chunks/systemWorker.js), else loaded on this thread at the first sample.
   */
  source?: SystemInfoSource;
  workerScript?: string;
  /** Pids this extension owns (its Python service): not counted as external. */
  ownPids?: () => Iterable<number>;
  /** A failed sample, reported once per kind and message per `ERROR_REPEAT_MS` (samples run every second). */
  onError?: (error: Error) => void;
  now?: () => number;
}

/** The same sampling failure is reported again after this long, with how often it failed meanwhile. */
export const ERROR_REPEAT_MS = 60_000;

interface FailureNote {
  message: string;
  reportedAt: number;
  /** Failures with that message since it was reported. */
  since: number;
}

export class SystemSampler implements Sampler {
  private sample: SystemSample = EMPTY_SAMPLE;
  private readonly listeners = new Listeners<SystemSample>();
  private loadTimer: NodeJS.Timeout | undefined;
  private processTimer: NodeJS.Timeout | undefined;
  private disposed = false;
  private source: Promise<SystemInfoSource> | undefined;
  private worker: WorkerSystemInfo | undefined;
  private config: SamplerConfig;
  private readonly failures = new Map<'load' | 'processes', FailureNote>();

  constructor(
    config: SamplerConfig,
    private readonly opts: SystemSamplerOptions = {},
  ) {
    this.config = { ...config };
    this.scheduleLoad(0);
    this.scheduleProcesses(0);
  }

  latest(): SystemSample {
    return this.sample;
  }

  onSample(listener: (sample: SystemSample) => void): Disposable {
    return this.listeners.add(listener);
  }

  configure(config: SamplerConfig): void {
    const processesChanged = config.processIntervalMs !== this.config.processIntervalMs;
    const loadChanged = config.intervalMs !== this.config.intervalMs;
    this.config = { ...config };
    if (loadChanged) this.scheduleLoad(this.config.intervalMs);
    if (processesChanged) {
      if (config.processIntervalMs === 0) this.publish({ pythonProcesses: -1 });
      this.scheduleProcesses(this.config.processIntervalMs);
    }
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.loadTimer);
    clearTimeout(this.processTimer);
    this.worker?.dispose();
    this.listeners.clear();
  }

  /** One CPU + memory measurement now (also used by the timer). */
  async sampleLoad(): Promise<void> {
    const si = await this.si();
    const [load, mem] = await Promise.all([si.currentLoad(), si.mem()]);
    const memoryPercent = mem.total > 0 ? ((mem.total - mem.available) / mem.total) * 100 : 0;
    this.publish({ cpuPercent: round1(load.currentLoad), memoryPercent: round1(memoryPercent) });
  }

  /** One count of other Python processes now (also used by the timer). */
  async sampleProcesses(): Promise<void> {
    const si = await this.si();
    const { list } = await si.processes();
    const own = new Set<number>(this.opts.ownPids?.() ?? []);
    own.add(process.pid);
    let n = 0;
    for (const p of list) if (!own.has(p.pid) && isPythonProcessName(p.name)) n++;
    this.publish({ pythonProcesses: n });
  }

  private si(): Promise<SystemInfoSource> {
    this.source ??= this.opts.source
      ? Promise.resolve(this.opts.source)
      : this.opts.workerScript
        ? Promise.resolve((this.worker = new WorkerSystemInfo(this.opts.workerScript)))
        : import('systeminformation').then((m) => (m.default ?? m) as unknown as SystemInfoSource);
    return this.source;
  }

  private publish(change: Partial<SystemSample>): void {
    if (this.disposed) return;
    this.sample = Object.freeze({ ...this.sample, ...change, sampledAt: this.opts.now?.() ?? Date.now() });
    this.listeners.fire(this.sample);
  }

  /** A missing worker script, say, fails every sample: one line a minute in the log, not one a second. */
  private failed(kind: 'load' | 'processes', message: string): void {
    const now = this.opts.now?.() ?? Date.now();
    const note = this.failures.get(kind);
    const again = note !== undefined && note.message === message ? note : undefined;
    if (again !== undefined && now - again.reportedAt < ERROR_REPEAT_MS) {
      again.since++;
      return;
    }
    const repeats = again !== undefined && again.since > 0 ? ` (${again.since + 1} times in the last ${Math.round((now - again.reportedAt) / 1000)} s)` : '';
    this.failures.set(kind, { message, reportedAt: now, since: 0 });
    this.opts.onError?.(new Error(message + repeats));
  }

  private scheduleLoad(delay: number): void {
    clearTimeout(this.loadTimer);
    if (this.disposed) return;
    this.loadTimer = setTimeout(() => {
      this.sampleLoad()
        .then(
          () => this.failures.delete('load'),
          (e: Error) => this.failed('load', `CPU/memory sampling failed: ${e.message}`),
        )
        .finally(() => this.scheduleLoad(this.config.intervalMs));
    }, delay);
    this.loadTimer.unref();
  }

  private scheduleProcesses(delay: number): void {
    clearTimeout(this.processTimer);
    if (this.disposed || this.config.processIntervalMs === 0) return;
    this.processTimer = setTimeout(() => {
      this.sampleProcesses()
        .then(
          () => this.failures.delete('processes'),
          (e: Error) => this.failed('processes', `Python process counting failed: ${e.message}`),
        )
        .finally(() => this.scheduleProcesses(this.config.processIntervalMs));
    }, delay);
    this.processTimer.unref();
  }
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/** A sampler that reports what it is told: for tests, benches and hosts that measure elsewhere. */
export class StaticSampler implements Sampler {
  private sample: SystemSample;
  private readonly listeners = new Listeners<SystemSample>();

  constructor(sample: Partial<SystemSample> = {}) {
    this.sample = Object.freeze({ ...EMPTY_SAMPLE, ...sample });
  }

  latest(): SystemSample {
    return this.sample;
  }

  onSample(listener: (sample: SystemSample) => void): Disposable {
    return this.listeners.add(listener);
  }

  set(change: Partial<SystemSample>): void {
    this.sample = Object.freeze({ ...this.sample, ...change });
    this.listeners.fire(this.sample);
  }

  dispose(): void {
    this.listeners.clear();
  }
}
