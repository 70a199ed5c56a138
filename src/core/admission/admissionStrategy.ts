// The fixed limit (aios.maxConcurrency), the simplest strategy; the contract every strategy follows is in types.ts.
import type { AdmissionLimits, LimitChange, LimitHost, LimitStrategy } from './types';

/** "limit 12 -> 9: short RTT 41 ms vs long 23 ms, gradient 0.84" */
export function describeLimitChange(c: LimitChange): string {
  return `limit ${c.from} -> ${c.to} (${c.mode}): ${c.reason}`;
}

/** The original behaviour: the limit is aios.maxConcurrency. */
export class FixedLimit implements LimitStrategy {
  readonly mode = 'fixed' as const;
  readonly wantsSamples = false;
  private host: LimitHost | undefined;
  private limit = 0;

  start(host: LimitHost, limits: AdmissionLimits): { limit: number; reason: string } {
    this.host = host;
    this.limit = limits.maxConcurrency;
    return { limit: this.limit, reason: `aios.maxConcurrency is ${this.limit}` };
  }

  configure(limits: AdmissionLimits): void {
    if (limits.maxConcurrency === this.limit) return;
    this.limit = limits.maxConcurrency;
    this.host?.setLimit(this.limit, `aios.maxConcurrency is ${this.limit}`);
  }

  sample(): void {
    // The fixed limit does not follow latency.
  }

  stop(): void {
    this.host = undefined;
  }

  describe(): undefined {
    return undefined;
  }
}
