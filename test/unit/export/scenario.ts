// A middleware running real commands of every outcome, with the events it emitted recorded, for export tests
// to compare what a receiver got against the middleware's own counts.
import { functionExecutor } from '../../../src/core/execution/executors';
import { createMiddleware, type Middleware } from '../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../src/core/system/sampler';
import type { Priority, TelemetryEvent } from '../../../src/core/types';

export const SECRET_PARAMETER = 'hunter2-parameter-value';

export const executor = functionExecutor({
  ECHO: (p) => p,
  SLOW: () => new Promise((r) => setTimeout(r, 15)),
  FAIL: () => {
    throw new Error('kaput');
  },
  'CONTROL:FLUSH_CACHE': () => ({ flushed: true }),
});

/** Where each ECHO priority comes from: the headline's sources, and commands without one (`other`). */
const SOURCE_OF: Record<Priority, [string | undefined, string]> = {
  HIGH: ['palette', 'palette'],
  NORMAL: ['api:publisher.name', 'api'],
  LOW: [undefined, 'other'],
};

/** The commands the exporters count: every source's (terminal ones too), never control operations. */
export function exportedCommands(mw: Middleware): number {
  const { bySource } = mw.telemetry.query('SUMMARY');
  return Object.entries(bySource).reduce((n, [source, s]) => n + (source === 'control' ? 0 : s.count), 0);
}

export function middleware(sessionId = 'export-test'): Middleware {
  return createMiddleware({
    sessionId,
    sampler: new StaticSampler({ cpuPercent: 12, memoryPercent: 40, pythonProcesses: 0, sampledAt: Date.now() }),
    service: () => SERVICE,
    // One slot and a small backoff: the second of two concurrent commands is throttled.
    config: { maxConcurrency: 1, baseDelayMs: 2, maxDelayMs: 5 },
  });
}

const SERVICE = Object.freeze({ status: 'healthy', pid: 4242 });

/** What the scenario ran, by the attributes the exporters use. */
export interface Expected {
  /** `${commandType}|${priority}|${outcome}|${source}` → count */
  ends: Map<string, number>;
  events: TelemetryEvent[];
}

/**
 * Runs `rounds` of: ECHO at each priority from three sources, FAIL, a blocked DROP_TABLE, a cancelled ECHO, two
 * concurrent SLOWs (one throttled), a `false` typed in a terminal (recorded, source terminal), and a control
 * operation (never a command: exporters leave it out).
 */
export async function runScenario(mw: Middleware, rounds: number): Promise<Expected> {
  const events: TelemetryEvent[] = [];
  const sub = mw.telemetry.onEvent((e) => events.push(e));
  const ends = new Map<string, number>();
  const count = (type: string, priority: Priority, outcome: string, source = 'other') => {
    const k = `${type}|${priority}|${outcome}|${source}`;
    ends.set(k, (ends.get(k) ?? 0) + 1);
  };
  for (let i = 0; i < rounds; i++) {
    for (const priority of ['HIGH', 'NORMAL', 'LOW'] as const) {
      const [source, kind] = SOURCE_OF[priority];
      const r = await mw.execute({ commandType: 'ECHO', priority, parameters: { secret: SECRET_PARAMETER }, source }, executor);
      if (!r.success) throw new Error(`ECHO failed: ${r.error?.message}`);
      count('ECHO', priority, 'success', kind);
    }
    const control = await mw.execute({ commandType: 'CONTROL:FLUSH_CACHE', priority: 'HIGH', source: 'palette' }, executor);
    if (!control.success) throw new Error(`CONTROL:FLUSH_CACHE failed: ${control.error?.message}`);
    const id = mw.newCommandId();
    mw.record('START', id, 'TERMINAL:false', 'NORMAL', undefined, { source: 'terminal' });
    mw.record('ERROR', id, 'TERMINAL:false', 'NORMAL', 2, { code: 'exit_code', message: 'exited with code 1', exitCode: 1, source: 'terminal' }, true);
    count('TERMINAL:false', 'NORMAL', 'error', 'terminal');
    await mw.execute({ commandType: 'FAIL', priority: 'LOW' }, executor);
    count('FAIL', 'LOW', 'error');
    await mw.execute({ commandType: 'DROP_TABLE', priority: 'HIGH' }, executor);
    count('DROP_TABLE', 'HIGH', 'blocked');
    const ac = new AbortController();
    ac.abort();
    await mw.execute({ commandType: 'ECHO', priority: 'NORMAL' }, executor, { signal: ac.signal });
    count('ECHO', 'NORMAL', 'cancelled');
    const both = await Promise.all([mw.execute({ commandType: 'SLOW' }, executor), mw.execute({ commandType: 'SLOW' }, executor)]);
    if (!both.every((r) => r.success)) throw new Error('SLOW failed');
    count('SLOW', 'NORMAL', 'success');
    count('SLOW', 'NORMAL', 'success');
  }
  sub.dispose();
  return { ends, events };
}
