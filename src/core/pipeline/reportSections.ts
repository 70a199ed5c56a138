// The DETAILED and REALTIME reports' extra sections: parts of the product outside the pipeline (the learning,
// exporters, rules, the shared limit) register a reader; the report calls each when it is built, never on the
// command path. A DETAILED section is in REALTIME reports too (REALTIME is DETAILED and the state now).
import type { Disposable } from '../types';

/** The reports' own fields: a section may not take one of these names. */
const BUILT_IN = ['level', 'generatedAt', 'overall', 'storage', 'byType', 'recentEvents', 'system', 'admission', 'service'];

export type SectionLevel = 'DETAILED' | 'REALTIME';

export class ReportSections {
  private readonly readers = new Map<string, { read: () => unknown; level: SectionLevel }>();

  add(name: string, read: () => unknown, level: SectionLevel): Disposable {
    if (BUILT_IN.includes(name) || this.readers.has(name)) throw new Error(`the report section ${name} exists already`);
    this.readers.set(name, { read, level });
    return { dispose: () => void this.readers.delete(name) };
  }

  /** Adds the current value of every section of `level` to `state`. */
  readInto(state: Record<string, unknown>, level: SectionLevel): void {
    for (const [name, r] of this.readers) if (r.level === level) state[name] = r.read();
  }
}
