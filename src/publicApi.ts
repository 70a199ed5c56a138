// Builds the public API (src/api.ts) from the extension's context. Only the contract's types leave here:
// the objects handed out are made for callers, never the pipeline's own (a RunContext, not a Flight).
import * as vscode from 'vscode';
import type {
  AiosApi,
  AiosBatchOptions,
  AiosBatchResult,
  AiosCommandRequest,
  AiosControlOperation,
  AiosControlReply,
  AiosCommandResult,
  AiosHealth,
  AiosLoad,
  AiosRunContext,
  AiosRunOptions,
  AiosTelemetryEvent,
} from './api';
import type { AiosContext } from './context';
import { batchWindow, functionRoute, runBatch, validateRequest, type BatchItem, type BatchLineError, type CommandResult, type DetailLevel } from './core';

/** The part of the extension's services this file uses. */
export type ApiHost = Pick<AiosContext, 'control' | 'middleware' | 'run' | 'supervisor'>;

export const API_VERSION = '1.0.0' as const;

/** Events handed to onDidRecordEvent listeners at most this often (and at once past MAX_PENDING). */
const EVENT_BATCH_MS = 100;
const MAX_PENDING_EVENTS = 5000;
const LOAD_NOTIFY_MS = 250;

export class PublicApi implements vscode.Disposable {
  private readonly disposables: vscode.Disposable[] = [];
  private readonly recorded = new vscode.EventEmitter<readonly AiosTelemetryEvent[]>();
  private readonly health = new vscode.EventEmitter<AiosHealth>();
  private readonly load = new vscode.EventEmitter<AiosLoad>();
  private eventSubscription: vscode.Disposable | undefined;
  private pending: AiosTelemetryEvent[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private loadTimer: NodeJS.Timeout | undefined;
  private recordListeners = 0;

  constructor(
    private readonly ctx: ApiHost,
    private readonly version: string,
  ) {
    this.disposables.push(this.recorded, this.health, this.load);
    let last = '';
    this.disposables.push(
      ctx.supervisor.onDidChangeState((s) => {
        const h: AiosHealth = { status: s.status, ...(s.pid !== undefined ? { pid: s.pid } : {}), ...(s.detail !== undefined ? { detail: s.detail } : {}) };
        const key = JSON.stringify(h);
        if (key === last) return;
        last = key;
        this.health.fire(h);
      }),
      toDisposable(ctx.middleware.sampler.onSample(() => this.loadChanged())),
      toDisposable(ctx.middleware.telemetry.onStatsChanged(() => this.loadChanged())),
    );
  }

  build(): AiosApi {
    const ctx = this.ctx;
    const telemetry = ((level: DetailLevel) => ctx.middleware.telemetry.query(level)) as AiosApi['telemetry'];
    const run = ((first: string | AiosCommandRequest, fn?: unknown, options?: AiosRunOptions) => {
      if (typeof first !== 'string') return ctx.run({ ...first, source: 'api' }, fn as { signal?: AbortSignal } | undefined);
      return this.runFunction(first, fn as (c: AiosRunContext) => unknown, options);
    }) as AiosApi['run'];
    const onDidRecordEvent: AiosApi['onDidRecordEvent'] = (listener, thisArgs, disposables) => {
      this.recordListeners++;
      this.eventSubscription ??= toDisposable(ctx.middleware.telemetry.onEvent((e) => this.buffer(e)));
      const sub = this.recorded.event(listener, thisArgs);
      let disposed = false;
      const d = {
        dispose: () => {
          if (disposed) return;
          disposed = true;
          sub.dispose();
          // Nobody listening: stop buffering, so events cost nothing extra.
          if (--this.recordListeners === 0) {
            this.eventSubscription?.dispose();
            this.eventSubscription = undefined;
            this.pending = [];
          }
        },
      };
      disposables?.push(d);
      return d;
    };
    const api: AiosApi = {
      apiVersion: API_VERSION,
      version: this.version,
      execute: (request, options) => ctx.run({ ...request, source: 'api' }, options),
      executeBatch: (requests, options) => this.executeBatch(requests, options),
      run,
      control: (operation: AiosControlOperation, value?: string, parameters?: Record<string, unknown>) =>
        ctx.control({ operation, ...(value !== undefined ? { value } : {}), ...(parameters ? { parameters } : {}), source: 'api' }) as Promise<
          AiosCommandResult<AiosControlReply>
        >,
      telemetry,
      onDidRecordEvent,
      onDidChangeHealth: this.health.event,
      onDidChangeLoad: this.load.event,
    };
    return Object.freeze(api);
  }

  /** The caller's own function under the middleware: policy on its type, an admission slot, telemetry. */
  private runFunction(commandType: string, fn: (c: AiosRunContext) => unknown, options?: AiosRunOptions): Promise<CommandResult> {
    const request = { commandType, priority: options?.priority, parameters: options?.parameters, source: 'api' };
    return this.ctx.middleware.execute(request, functionRoute(fn), options?.signal ? { signal: options.signal } : undefined);
  }

  private async executeBatch(requests: readonly AiosCommandRequest[], options?: AiosBatchOptions): Promise<AiosBatchResult> {
    const cfg = this.ctx.middleware.config;
    const items: BatchItem[] = [];
    const skipped: BatchLineError[] = [];
    requests.forEach((r, index) => {
      const request = typeof r === 'object' && r !== null ? { ...r, source: 'api' } : r;
      try {
        validateRequest(request, cfg.maxParameterBytes);
        items.push({ line: index, request });
      } catch (e) {
        skipped.push({ line: index, message: (e as Error).message });
      }
    });
    const outcome = await runBatch((r, o) => this.ctx.run(r, o), items, {
      signal: options?.signal,
      onProgress: options?.onProgress,
      window: batchWindow(cfg),
      skipped,
      keepResults: true,
    });
    const { results, ...counts } = outcome;
    return { ...counts, results: results.map(({ line, ...rest }) => ({ index: line, ...rest })) };
  }

  private buffer(e: AiosTelemetryEvent): void {
    this.pending.push(e);
    if (this.pending.length >= MAX_PENDING_EVENTS) {
      clearTimeout(this.flushTimer);
      this.flushTimer = undefined;
      setImmediate(() => this.flush());
    } else {
      this.flushTimer ??= setTimeout(() => this.flush(), EVENT_BATCH_MS);
    }
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0) return;
    const batch = Object.freeze(this.pending);
    this.pending = [];
    this.recorded.fire(batch);
  }

  private loadChanged(): void {
    this.loadTimer ??= setTimeout(() => {
      this.loadTimer = undefined;
      const m = this.ctx.middleware;
      const a = m.admission;
      const s = m.sampler.latest();
      this.load.fire({
        active: a.active,
        queued: { ...a.queued },
        delayed: a.delayed,
        limit: a.limit,
        paused: a.paused,
        cpuPercent: s.cpuPercent,
        memoryPercent: s.memoryPercent,
      });
    }, LOAD_NOTIFY_MS);
  }

  dispose(): void {
    clearTimeout(this.flushTimer);
    clearTimeout(this.loadTimer);
    this.eventSubscription?.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

function toDisposable(d: { dispose(): void }): vscode.Disposable {
  return new vscode.Disposable(() => d.dispose());
}
