// A promise resolved by its owner later, without a closure per promise (~100 bytes each at 1e6 queued
// commands): the Promise constructor calls one shared executor synchronously, and the owner picks the
// resolver up right after with lastResolver(). Used by admission's queue and the flight's race.

let last: (value: never) => void = () => undefined;

function capture(resolve: (value: never) => void): void {
  last = resolve;
}

/** A new promise; call lastResolver() next, before any other pending(), to get what resolves it. */
export function pending<T>(): Promise<T> {
  return new Promise<T>(capture);
}

/** The resolver of the promise the last pending() made. */
export function lastResolver<T>(): (value: T) => void {
  return last as (value: T) => void;
}
