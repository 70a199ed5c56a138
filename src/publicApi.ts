// Builds the public API (src/api.ts) from the extension's services, checked against the contract's types with
// no cast, so a changed report or result shape breaks the build. What callers get is theirs: a RunContext, not
// a Flight; events as frozen copies (a listener that edits one cannot change what the tree and reports keep).
import * as vscode from 'vscode';
import type {
  AiosApi,
  AiosBatchOptions,
  AiosBatchResult,
  AiosCommandRequest,
  AiosControlOperation,
  AiosControlReply,
  AiosCommandResult,
  AiosDetailLevel,
  AiosDetailedReport,
  AiosHealth,
  AiosLoad,
  AiosRunContext,
  AiosRealtimeReport,
  AiosRunOptions,
  AiosSummaryReport,
  AiosTelemetryEvent,
} from './api';
import type { AiosContext } from './context';
import { batchWindow, functionRoute, runBatch, sourceString, validateRequest, type BatchItem, type BatchLineError, type CommandResult } from './core';
import type { ServiceState } from './python/supervisor';

/** The part of the extension's services this file uses. */
export type ApiHost = Pick<AiosContext, 'control' | 'log' | 'middleware' | 'run' | 'supervisor'>;

export const API_VERSION = '1.0.0' as const;

/** Events handed to onDidRecordEvent listeners at most this often (and at once past MAX_PENDING). */
const EVENT_BATCH_MS = 100;
const MAX_PENDING_EVENTS = 5000;
const LOAD_NOTIFY_MS = 250;
/** An extension id: publisher.name. */
const CALLER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const MAX_CALLERS = 256;

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
  private readonly ready: Promise<void>;
  private readonly callers = new Map<string, AiosApi>();

  constructor(
    private readonly ctx: ApiHost,
    private readonly version: string,
  ) {
    this.disposables.push(this.recorded, this.health, this.load);
    let last = '';
    let settle: () => void = () => undefined;
    this.ready = new Promise<void>((resolve) => (settle = resolve));
    const started = (s: ServiceState) => s.status === 'healthy' || s.status === 'unhealthy' || s.status === 'crashed';
    if (started(ctx.supervisor.state)) settle();
    this.disposables.push(
      ctx.supervisor.onDidChangeState((s) => {
        if (started(s)) settle();
        const h = healthOf(s);
        const key = JSON.stringify(h);
        if (key === last) return;
        last = key;
        this.health.fire(h);
      }),
      toDisposable(ctx.middleware.sampler.onSample(() => this.loadChanged())),
      toDisposable(ctx.middleware.telemetry.onStatsChanged(() => this.loadChanged())),
    );
  }

  /** The API as `activate()` returns it; `source` is what its commands record ('api', or 'api:<caller>': kind api, that caller). */
  build(source = 'api'): AiosApi {
    const ctx = this.ctx;
    const reports = ctx.middleware.telemetry;
    // Each report is checked against the contract's type here: a changed shape is a compile error.
    function telemetry(level: 'SUMMARY'): AiosSummaryReport;
    function telemetry(level: 'DETAILED'): AiosDetailedReport;
    function telemetry(level: 'REALTIME'): AiosRealtimeReport;
    function telemetry(level: AiosDetailLevel): AiosSummaryReport | AiosDetailedReport | AiosRealtimeReport;
    function telemetry(level: AiosDetailLevel): AiosSummaryReport | AiosDetailedReport | AiosRealtimeReport {
      if (level === 'REALTIME') return reports.query('REALTIME') satisfies AiosRealtimeReport;
      if (level === 'DETAILED') return reports.query('DETAILED') satisfies AiosDetailedReport;
      return reports.query('SUMMARY') satisfies AiosSummaryReport;
    }
    const run = <T>(commandType: string, fn: (c: AiosRunContext) => T | PromiseLike<T>, options?: AiosRunOptions) =>
      this.runFunction(source, commandType, fn, options).then((r) => withResult<Awaited<T>>(r));
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
      execute: (request, options) => ctx.run({ ...request, source }, options),
      executeBatch: (requests, options) => this.executeBatch(source, requests, options),
      run,
      control: (operation: AiosControlOperation, value?: string, parameters?: Record<string, unknown>) => this.control(source, operation, value, parameters),
      withCaller: (callerId: string) => this.forCaller(callerId),
      telemetry,
      ready: this.ready,
      health: () => healthOf(ctx.supervisor.state),
      load: () => this.currentLoad(),
      onDidRecordEvent,
      onDidChangeHealth: this.health.event,
      onDidChangeLoad: this.load.event,
    };
    return Object.freeze(api);
  }

  /** The API for one named caller: every command and control operation it makes records `api:<callerId>`. */
  private forCaller(callerId: string): AiosApi {
    if (typeof callerId !== 'string' || !CALLER_ID.test(callerId)) {
      const shown = typeof callerId === 'string' ? JSON.stringify(callerId.slice(0, 80)) : typeof callerId;
      throw new TypeError(`withCaller() takes your extension's id, like "publisher.name" (letters, digits, . _ -; at most 64), not ${shown}`);
    }
    let api = this.callers.get(callerId);
    if (!api) {
      api = this.build(sourceString('api', callerId));
      if (this.callers.size < MAX_CALLERS) this.callers.set(callerId, api);
    }
    return api;
  }

  /** A control operation from another extension, unless the user switched that off (aios.api.allowControl). */
  private control(
    source: string,
    operation: AiosControlOperation,
    value?: string,
    parameters?: Record<string, unknown>,
  ): Promise<AiosCommandResult<AiosControlReply>> {
    if (!vscode.workspace.getConfiguration('aios.api').get<boolean>('allowControl', true)) {
      const message = `Control operations through the API are off (aios.api.allowControl); ${source} asked for ${operation}`;
      this.ctx.log.warn(message);
      return Promise.resolve({
        commandId: '',
        commandType: `CONTROL:${operation}`,
        success: false,
        error: { code: 'blocked', message },
        durationMs: 0,
        throttled: false,
        delayMs: 0,
      });
    }
    return this.ctx
      .control({ operation, ...(value !== undefined ? { value } : {}), ...(parameters ? { parameters } : {}), source })
      .then((r) => withResult<AiosControlReply>(r));
  }

  /** The caller's own function under the middleware: policy on its type, an admission slot, telemetry. */
  private runFunction<T>(source: string, commandType: string, fn: (c: AiosRunContext) => T | PromiseLike<T>, options?: AiosRunOptions): Promise<CommandResult> {
    const request = { commandType, priority: options?.priority, parameters: options?.parameters, source };
    return this.ctx.middleware.execute(request, functionRoute(fn), options?.signal ? { signal: options.signal } : undefined);
  }

  private async executeBatch(source: string, requests: readonly AiosCommandRequest[], options?: AiosBatchOptions): Promise<AiosBatchResult> {
    const cfg = this.ctx.middleware.config;
    const items: BatchItem[] = [];
    const skipped: BatchLineError[] = [];
    requests.forEach((r, index) => {
      const request = typeof r === 'object' && r !== null ? { ...r, source } : r;
      try {
        validateRequest(request, cfg.maxParameterBytes);
        items.push({ line: index, request });
      } catch (e) {
        skipped.push({ line: index, message: (e as Error).message });
      }
    });
    const window = batchWindow(this.ctx.middleware);
    const outcome = await runBatch((r, o) => this.ctx.run(r, o), items, {
      signal: options?.signal,
      onProgress: options?.onProgress,
      window: window.window,
      skipped,
      keepResults: true,
    }).finally(() => window.dispose());
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
    // Copies, made here off the command's path: the originals are the ones the tree and the reports keep.
    const batch = Object.freeze(this.pending.map((e) => deepFreeze(structuredClone(e))));
    this.pending = [];
    this.recorded.fire(batch);
  }

  private loadChanged(): void {
    this.loadTimer ??= setTimeout(() => {
      this.loadTimer = undefined;
      this.load.fire(this.currentLoad());
    }, LOAD_NOTIFY_MS);
  }

  private currentLoad(): AiosLoad {
    const m = this.ctx.middleware;
    const a = m.admission;
    const s = m.sampler.latest();
    return {
      active: a.active,
      queued: { ...a.queued },
      delayed: a.delayed,
      limit: a.limit,
      paused: a.paused,
      cpuPercent: s.cpuPercent,
      memoryPercent: s.memoryPercent,
    };
  }

  dispose(): void {
    clearTimeout(this.flushTimer);
    clearTimeout(this.loadTimer);
    this.eventSubscription?.dispose();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}

function healthOf(s: ServiceState): AiosHealth {
  return { status: s.status, ...(s.pid !== undefined ? { pid: s.pid } : {}), ...(s.detail !== undefined ? { detail: s.detail } : {}) };
}

/**
 * The pipeline's result typed with what its executor answered: `result` is that answer, passed through
 * unchanged (the caller's function for run(), the service's ControlResult for control()). Every other field
 * is checked against the contract.
 */
function withResult<T>(r: CommandResult): AiosCommandResult<T> {
  const { result, ...rest } = r;
  return result === undefined ? rest : { ...rest, result: result as T };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

function toDisposable(d: { dispose(): void }): vscode.Disposable {
  return new vscode.Disposable(() => d.dispose());
}
