// The model wired to a middleware: learns from its events as they happen, restored first from the telemetry
// of every window on disk, and answers the forecast for what is in flight now. One per window.
import type { Disposable, TelemetryEvent } from '../types';
import { LearningModel, type LearningOptions, type RestoreOptions, type RestoreResult } from './model';
import { forecastQueue, type FlightLike, type QueueForecast } from './predictions';

/** What learning needs of a Middleware (createMiddleware's answer fits). */
export interface LearningHost {
  readonly sessionId: string;
  readonly telemetry: { onEvent(listener: (event: TelemetryEvent) => void): Disposable };
  inFlight(): readonly FlightLike[];
  readonly admission: { readonly limit: number };
}

export interface AttachOptions extends LearningOptions {
  /** The telemetry folder to restore from (the middleware's storageDir); none: start empty. */
  storageDir?: string;
  restore?: Omit<RestoreOptions, 'excludeSessionId'>;
  /** Where a failed restore is told (the model then starts from the live events alone). */
  onError?: (e: Error) => void;
}

export interface Learning extends Disposable {
  readonly model: LearningModel;
  /** Settles when the telemetry on disk has been learned from (undefined result when there was none to read). */
  readonly restored: Promise<RestoreResult | undefined>;
  /** Predictions for every command in flight now (waits are kept to be scored when their commands start). */
  forecast(nowMs?: number): QueueForecast;
}

/** Live events that arrive while the disk is read wait for it (so the model learns in time order), up to this many. */
const MAX_BUFFERED = 10_000;

export function attachLearning(host: LearningHost, options: AttachOptions = {}): Learning {
  const model = new LearningModel(options);
  let buffer: TelemetryEvent[] | undefined = options.storageDir ? [] : undefined;
  const subscription = host.telemetry.onEvent((e) => {
    if (buffer && buffer.length < MAX_BUFFERED) buffer.push(e);
    else model.observe(e);
  });
  const drain = (): void => {
    const pending = buffer ?? [];
    buffer = undefined;
    for (const e of pending) model.observe(e);
  };
  const restored: Promise<RestoreResult | undefined> = options.storageDir
    ? model
        .restore(options.storageDir, { ...options.restore, excludeSessionId: host.sessionId })
        .then(
          (r) => r,
          (e: unknown) => {
            options.onError?.(e instanceof Error ? e : new Error(String(e)));
            return undefined;
          },
        )
        .finally(drain)
    : Promise.resolve(undefined);
  return {
    model,
    restored,
    forecast: (nowMs = Date.now()) => forecastQueue(model, host.inFlight(), host.admission.limit, nowMs, { sessionId: host.sessionId }),
    dispose: () => {
      subscription.dispose();
      buffer = undefined;
    },
  };
}
