import type { Disposable } from './types';

/** A listener set whose members cannot break each other or the caller. */
export class Listeners<T> {
  private readonly set = new Set<(value: T) => void>();

  get size(): number {
    return this.set.size;
  }

  add(listener: (value: T) => void): Disposable {
    this.set.add(listener);
    return { dispose: () => void this.set.delete(listener) };
  }

  fire(value: T): void {
    for (const l of this.set) {
      try {
        l(value);
      } catch {
        // A listener's failure is its own; the pipeline and the other listeners go on.
      }
    }
  }

  clear(): void {
    this.set.clear();
  }
}
