// The REALTIME report's extra sections: parts of the product outside the pipeline (exporters, rules, the
// shared limit) register a reader; the report calls each when it is built, never on the command path.
import type { Disposable } from '../types';

const BUILT_IN = ['system', 'admission', 'service'];

export class RealtimeSections {
  private readonly readers = new Map<string, () => unknown>();

  add(name: string, read: () => unknown): Disposable {
    if (BUILT_IN.includes(name) || this.readers.has(name)) throw new Error(`the REALTIME section ${name} exists already`);
    this.readers.set(name, read);
    return { dispose: () => void this.readers.delete(name) };
  }

  /** Adds every section's current value to `state`. */
  readInto(state: Record<string, unknown>): void {
    for (const [name, read] of this.readers) state[name] = read();
  }
}
