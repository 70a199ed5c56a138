import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forecastQueue, formatDuration, formatRemaining, LearningModel, predictRunning, type FlightLike } from '../../../../src/core/learning';
import type { TelemetryEvent } from '../../../../src/core/types';

const SYSTEM = { platform: 'linux', arch: 'x64', nodeVersion: 'v20', cpuCount: 2, cpuPercent: 10, memoryPercent: 40, pythonProcesses: 0 };
const T0 = Date.UTC(2026, 0, 1);

function ev(at: number, eventType: 'START' | 'COMPLETE', commandId: string, commandType: string, durationMs?: number, session = 's1'): TelemetryEvent {
  return {
    timestamp: new Date(T0 + at).toISOString(),
    eventType,
    commandId,
    commandType,
    priority: 'NORMAL',
    ...(durationMs !== undefined ? { durationMs } : {}),
    user: { sessionId: session },
    system: SYSTEM,
    service: {},
  };
}

/** A model that has seen `n` commands of `type`, one at a time, taking durations from `ms(i)`. */
function taught(type: string, n: number, ms: (i: number) => number, model = new LearningModel()): LearningModel {
  let t = 0;
  for (let i = 0; i < n; i++) {
    const d = ms(i);
    model.observe(ev(t, 'START', `${type}-${i}`, type));
    t += d;
    model.observe(ev(t, 'COMPLETE', `${type}-${i}`, type, d));
  }
  return model;
}

const flight = (
  commandId: string,
  commandType: string,
  stage: FlightLike['stage'],
  submittedAt: number,
  startedAt?: number,
  priority: FlightLike['priority'] = 'NORMAL',
): FlightLike => ({
  commandId,
  commandType,
  priority,
  stage,
  submittedAt,
  ...(startedAt !== undefined ? { startedAt } : {}),
});

describe('predictions', () => {
  it('a running command: the p50 and p90 of the time left given how long it ran, in words', () => {
    // Durations spread evenly over 2..20 s.
    const m = taught('GEN', 1000, (i) => 2000 + ((i * 7919) % 1000) * 18);
    const now = T0 + 10_000_000;
    const fresh = predictRunning(m, flight('c1', 'GEN', 'running', now - 1000, now - 1000), now)!;
    assert.ok(Math.abs(fresh.remainingMs - 10_000) < 700, `p50 left ${fresh.remainingMs}`); // median 11 s - 1 s run
    assert.ok(Math.abs(fresh.remainingP90Ms - 17_200) < 900, `p90 left ${fresh.remainingP90Ms}`);
    assert.equal(fresh.overdue, false);
    assert.match(fresh.text, /^~(9|10|11) s left \(p90 1[6-8] s\)$/);
    // Having run 14 s of 2..20: the rest is uniform over 0..6 s.
    const late = predictRunning(m, flight('c2', 'GEN', 'running', now - 14_000, now - 14_000), now)!;
    assert.ok(Math.abs(late.remainingMs - 3000) < 500, `${late.remainingMs}`);
    assert.ok(Math.abs(late.expectedRemainingMs - 3000) < 500, `${late.expectedRemainingMs}`);
    const over = predictRunning(m, flight('c3', 'GEN', 'running', now - 25_000, now - 25_000), now)!;
    assert.equal(over.overdue, true);
    assert.match(over.text, /^longer than usual/);
    assert.equal(predictRunning(m, flight('c4', 'NEVER_SEEN', 'running', now, now), now), undefined, 'unknown types say nothing');
  });

  it('queued commands: queue position × mean time / limit (plus what the running ones have left); the drain time', () => {
    const m = taught('FIX', 200, () => 4000); // always 4 s
    const now = T0 + 10_000_000;
    const inFlight = [
      flight('r1', 'FIX', 'running', now - 1000, now - 1000), // 3 s left
      flight('r2', 'FIX', 'running', now - 3000, now - 3000), // 1 s left
      flight('q1', 'FIX', 'queued', now - 500),
      flight('q2', 'FIX', 'delayed', now - 400),
      flight('q0', 'FIX', 'queued', now - 100, undefined, 'HIGH'), // HIGH goes first
    ];
    const f = forecastQueue(m, inFlight, 2, now, { sessionId: 's1' });
    const w = (id: string): number => {
      const p = f.commands.get(id)!;
      assert.equal(p.kind, 'queued');
      return p.kind === 'queued' ? p.waitMs : NaN;
    };
    const near = (a: number, b: number): boolean => Math.abs(a - b) < 250;
    // Work ahead of the first: 3 + 1 s over 2 slots; each one more ahead adds 4 s / 2.
    assert.ok(near(w('q0'), 2000), `${w('q0')}`);
    assert.ok(near(w('q1'), 4000), `${w('q1')}`);
    assert.ok(near(w('q2'), 6000), `${w('q2')}`);
    assert.deepEqual(
      [...f.commands.values()].filter((p) => p.kind === 'queued').map((p) => p.kind === 'queued' && p.queuePosition),
      [1, 2, 3],
    );
    assert.equal(f.waiting, 3);
    assert.ok(near(f.drainMs!, 6000));
    assert.equal(f.drainText, 'queue drains in ~6 s');
    assert.equal(f.commands.get('q1')!.text, 'starts in ~4 s');
  });

  it('says nothing of waits that depend on an unknown type', () => {
    const m = taught('FIX', 200, () => 4000);
    const now = T0 + 10_000_000;
    const f = forecastQueue(m, [flight('r1', 'FIX', 'running', now, now), flight('q1', 'NEW', 'queued', now), flight('q2', 'FIX', 'queued', now)], 1, now);
    assert.ok(f.commands.has('r1'));
    assert.ok(f.commands.has('q1'), 'what is ahead of it is known');
    assert.equal(f.commands.has('q2'), false, 'behind an unknown one: nothing');
    assert.equal(f.drainMs, undefined);
    assert.equal(f.drainText, undefined);
    const unknownRunning = forecastQueue(m, [flight('r1', 'NEW', 'running', now, now), flight('q1', 'FIX', 'queued', now)], 1, now);
    assert.equal(unknownRunning.commands.size, 0);
    assert.equal(forecastQueue(m, [], 4, now).drainMs, 0);
  });

  it('scores the waits it predicted when their commands start', () => {
    const m = taught('FIX', 200, () => 4000);
    const now = T0 + 10_000_000;
    forecastQueue(m, [flight('r1', 'FIX', 'running', now - 1000, now - 1000), flight('q1', 'FIX', 'queued', now)], 1, now, { sessionId: 's1' });
    m.observe(ev(10_000_000 - 1000, 'START', 'r1', 'FIX'));
    m.observe(ev(10_000_000 + 3500, 'START', 'q1', 'FIX')); // predicted ~3 s, started after 3.5 s
    const waits = m.accuracy().waits;
    assert.equal(waits.predictions, 1);
    assert.ok(Math.abs(waits.meanBiasMs - 500) < 250, `bias ${waits.meanBiasMs}`);
  });

  it('words for durations', () => {
    assert.equal(formatDuration(400), '<1 s');
    assert.equal(formatDuration(4200), '4 s');
    assert.equal(formatDuration(83_000), '1 min 23 s');
    assert.equal(formatDuration(720_000), '12 min');
    assert.equal(formatDuration(7_500_000), '2 h 5 min');
    assert.equal(formatRemaining(4000, 11_000), '~4 s left (p90 11 s)');
  });
});
