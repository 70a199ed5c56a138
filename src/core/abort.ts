// Racing a promise against an AbortSignal without leaking the listener: the pipeline stops waiting for an
// executor when the caller cancels, and the Python executor stops waiting for the service to start.

export type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };
export const ABORTED = Symbol('aborted');

/** What is needed of an AbortSignal to watch it: AbortSignal itself, or a pipeline Flight (which makes none). */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** Settles with the promise's outcome, or ABORTED as soon as the signal fires. Never rejects. */
export function settleOrAbort(running: Promise<unknown>, signal: CancelSignal): Promise<Settled | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    running.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve({ ok: true, value });
      },
      (error) => {
        signal.removeEventListener('abort', onAbort);
        resolve({ ok: false, error });
      },
    );
  });
}

/** `promise`, or a rejection with the signal's reason as soon as it fires. */
export async function untilAborted<T>(promise: Promise<T>, signal: CancelSignal): Promise<T> {
  const settled = await settleOrAbort(promise, signal);
  if (settled === ABORTED) throw signal.reason;
  if (!settled.ok) throw settled.error;
  return settled.value as T;
}

/** `promise`, or a rejection with the cancel reason as soon as the command (an executor's context) is cancelled. */
export function untilCancelled<T>(
  promise: Promise<T>,
  ctx: { readonly cancelled: boolean; onCancel(listener: (reason: unknown) => void): () => void },
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const off = ctx.onCancel(reject);
    promise.then(
      (v) => {
        off();
        resolve(v);
      },
      (e: unknown) => {
        off();
        reject(e);
      },
    );
  });
}
