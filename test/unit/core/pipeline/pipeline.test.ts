import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../../../../src/core/clock';
import { functionExecutor, shellExecutor } from '../../../../src/core/execution/executors';
import { createMiddleware, type Middleware, type MiddlewareOptions } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import { readTelemetry } from '../../../../src/core/telemetry/storage';
import {
  CommandFailure,
  customCommandPolicyName,
  type CommandResult,
  type Executor,
  type Priority,
  type ProgressUpdate,
  type TelemetryEvent,
} from '../../../../src/core/types';
import { tempDir, tick } from '../helpers';
import { running } from '../../../support/process';

function mw(over: MiddlewareOptions = {}): Middleware {
  return createMiddleware({ sampler: new StaticSampler({ cpuPercent: 10 }), clock: new ManualClock(), ...over });
}

/** An executor whose commands finish when the test says, and stop when told through ctx.signal. */
function controlled(): { executor: Executor; running: Map<string, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>; calls: string[] } {
  const running = new Map<string, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  const calls: string[] = [];
  const executor: Executor = (req, ctx) =>
    new Promise((resolve, reject) => {
      calls.push(req.commandType);
      running.set(ctx.commandId, { resolve, reject });
      ctx.signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true });
    });
  return { executor, running, calls };
}

/** A middleware with one slot, command A running on a controlled executor and command B queued behind it. */
async function twoOnOneSlot(): Promise<{ m: Middleware; c: ReturnType<typeof controlled>; a: Promise<CommandResult>; b: Promise<CommandResult> }> {
  const m = mw({ config: { maxConcurrency: 1, baseDelayMs: 0 } });
  const c = controlled();
  const a = m.execute({ commandType: 'A' }, c.executor);
  const b = m.execute({ commandType: 'B' }, c.executor);
  await tick();
  return { m, c, a, b };
}

const terminal = (e: TelemetryEvent): boolean => e.eventType === 'COMPLETE' || e.eventType === 'ERROR' || e.eventType === 'CANCEL';

describe('pipeline', () => {
  it('runs a command: START then COMPLETE, result returned', async () => {
    const m = mw();
    const events: string[] = [];
    m.telemetry.onEvent((e) => events.push(e.eventType));
    const r = await m.execute({ commandType: 'ECHO', parameters: { x: 1 } }, functionExecutor({ ECHO: (p) => p }));
    assert.equal(r.success, true);
    assert.deepEqual(r.result, { x: 1 });
    assert.match(r.commandId, /^[0-9a-f]{8}-[0-9a-z]+$/);
    assert.deepEqual(events, ['START', 'COMPLETE']);
    await m.close();
  });

  it('every event of a command carries its source kind and caller, its end included, whatever the outcome', async () => {
    const clock = new ManualClock();
    const m = mw({ clock, config: { maxConcurrency: 1, baseDelayMs: 0, security: { denyPatterns: ['DENIED*'] } } });
    const events: TelemetryEvent[] = [];
    m.telemetry.onEvent((e) => events.push(e));
    const ex = functionExecutor({
      ECHO: (p) => p,
      BOOM: () => Promise.reject(new Error('no')),
      PROGRAM: () => ({ exitCode: 0 }),
      'CONTROL:RELOAD_CONFIG': () => ({}),
    });
    await m.execute({ commandType: 'ECHO', source: 'api:publisher.name' }, ex);
    await m.execute({ commandType: 'BOOM', source: 'palette' }, ex);
    await m.execute({ commandType: 'PROGRAM', source: 'cli' }, ex);
    await m.execute({ commandType: 'DENIED_X', source: 'task' }, ex);
    await m.execute({ commandType: 'ECHO', priority: 'URGENT', source: 'batch:nightly' }, ex);
    await m.execute({ commandType: 'CONTROL:RELOAD_CONFIG', source: 'palette' }, ex);
    await m.execute({ commandType: 'ECHO' }, ex);
    // One waits for the slot (its events carry the wait and the source), one is cancelled while it waits.
    const c = controlled();
    const first = m.execute({ commandType: 'HOLD', source: 'endpoint:curl' }, c.executor);
    const queued = m.execute({ commandType: 'ECHO', source: 'endpoint:curl' }, ex);
    const abort = new AbortController();
    const cancelled = m.execute({ commandType: 'ECHO', source: 'task' }, ex, { signal: abort.signal });
    await tick();
    abort.abort();
    await cancelled;
    clock.advance(5);
    c.running.values().next().value!.resolve('done');
    await Promise.all([first, queued]);
    const waited = events.filter((e) => e.commandType === 'ECHO' && e.metadata?.source === 'endpoint');
    assert.deepEqual(
      waited.map((e) => ({ ...e.metadata })),
      [
        { waitMs: 5, source: 'endpoint', caller: 'curl' },
        { waitMs: 5, source: 'endpoint', caller: 'curl' },
      ],
      'a command that waited: its wait and its source',
    );
    const seen = events.map((e) => [e.eventType, e.commandType, e.metadata?.source, e.metadata?.caller]);
    assert.deepEqual(seen, [
      ['START', 'ECHO', 'api', 'publisher.name'],
      ['COMPLETE', 'ECHO', 'api', 'publisher.name'],
      ['START', 'BOOM', 'palette', undefined],
      ['ERROR', 'BOOM', 'palette', undefined],
      ['START', 'PROGRAM', 'cli', undefined],
      ['COMPLETE', 'PROGRAM', 'cli', undefined],
      ['ERROR', 'DENIED_X', 'task', undefined],
      ['ERROR', '(invalid)', 'batch', 'nightly'],
      ['START', 'CONTROL:RELOAD_CONFIG', 'control', 'palette'],
      ['COMPLETE', 'CONTROL:RELOAD_CONFIG', 'control', 'palette'],
      ['START', 'ECHO', 'other', undefined],
      ['COMPLETE', 'ECHO', 'other', undefined],
      ['START', 'HOLD', 'endpoint', 'curl'],
      ['CANCEL', 'ECHO', 'task', undefined],
      ['COMPLETE', 'HOLD', 'endpoint', 'curl'],
      ['START', 'ECHO', 'endpoint', 'curl'],
      ['COMPLETE', 'ECHO', 'endpoint', 'curl'],
    ]);
    assert.equal(events.find((e) => e.commandType === 'PROGRAM' && e.eventType === 'COMPLETE')?.metadata?.exitCode, 0);
    const o = m.telemetry.query('SUMMARY');
    assert.deepEqual(Object.keys(o.bySource), ['palette', 'api', 'task', 'batch', 'cli', 'endpoint', 'other', 'control']);
    assert.equal(o.overall.controlOperations.count, 1);
    assert.equal(o.overall.totalCommands, 9, 'every command but the control operation');
    await m.close();
  });

  it('resolves, never rejects, with stable codes for each failure', async () => {
    const m = mw({ config: { maxConcurrency: 1, maxQueueSize: 0 } });
    const ex = functionExecutor({
      BOOM: () => {
        throw new Error('kaput');
      },
      CODED: () => {
        throw new CommandFailure('service_unavailable', 'The service is restarting');
      },
    });
    assert.equal((await m.execute({ commandType: 'x y' }, ex)).error?.code, 'invalid_request');
    assert.equal((await m.execute({ commandType: 'BOOM' }, ex)).error?.code, 'executor_error');
    assert.deepEqual((await m.execute({ commandType: 'CODED' }, ex)).error, { code: 'service_unavailable', message: 'The service is restarting' });
    assert.equal((await m.execute({ commandType: 'NOPE' }, ex)).error?.code, 'unknown_command_type');
    const hold = controlled();
    const first = m.execute({ commandType: 'SLOW' }, hold.executor);
    const full = await m.execute({ commandType: 'SLOW' }, hold.executor);
    assert.equal(full.error?.code, 'queue_full');
    assert.match(full.error.message, /aios\.maxQueueSize/);
    hold.running.values().next().value!.resolve(1);
    await first;
    await m.close();
    assert.equal((await m.execute({ commandType: 'ECHO' }, ex)).error?.code, 'closed');
  });

  it('an executor that answers synchronously: its value, its throw, a cancel during it, a thenable; each frees its slot', async () => {
    const m = mw({ config: { maxConcurrency: 1, baseDelayMs: 0 } });
    const events: string[] = [];
    m.telemetry.onEvent((e) => events.push(`${e.commandType}:${e.eventType}`));
    assert.equal((await m.execute({ commandType: 'V' }, () => 42)).result, 42);
    const thrown = await m.execute({ commandType: 'T' }, () => {
      throw new CommandFailure('service_unavailable', 'nope');
    });
    assert.deepEqual(thrown.error, { code: 'service_unavailable', message: 'nope' });
    const cancelled = await m.execute({ commandType: 'C' }, (_r, ctx) => {
      m.cancel(ctx.commandId);
      return 'not the answer';
    });
    assert.equal(cancelled.error?.code, 'cancelled');
    assert.match(cancelled.error.message, /while running/);
    const thenable = { then: (resolve: (v: unknown) => void) => resolve('later') };
    assert.equal((await m.execute({ commandType: 'P' }, () => thenable as unknown as Promise<unknown>)).result, 'later');
    assert.deepEqual(events, ['V:START', 'V:COMPLETE', 'T:START', 'T:ERROR', 'C:START', 'C:CANCEL', 'P:START', 'P:COMPLETE']);
    assert.equal(m.telemetry.query('REALTIME').admission.active, 0, 'every slot given back (one slot: P could not have run otherwise)');
    await m.close();
  });

  it('a blocked command never reaches its executor and is recorded as ERROR with reason blocked', async () => {
    const m = mw();
    let called = false;
    const r = await m.execute({ commandType: 'drop_table' }, async () => (called = true));
    assert.equal(called, false);
    assert.equal(r.error?.code, 'blocked');
    const [e] = m.telemetry.recentEvents();
    assert.equal(e.eventType, 'ERROR');
    assert.equal(e.metadata?.code, 'blocked');
    assert.equal(m.telemetry.query('SUMMARY').overall.blockedCommands, 1);
    await m.close();
  });

  it('a custom control command is also checked by its name, CUSTOM_COMMAND:<name>: blocked, recorded, never run', async () => {
    const m = mw({ config: { security: { denyPatterns: ['CUSTOM_COMMAND:drop*'], allowPatterns: [] } } });
    const ran: string[] = [];
    const run = (name: string) =>
      m.execute({ commandType: 'CONTROL:CUSTOM_COMMAND', priority: 'HIGH', parameters: { command: name } }, () => void ran.push(name), {
        bypassAdmission: true,
        policyName: customCommandPolicyName(name),
      });
    const blocked = await run('drop_caches');
    assert.equal(blocked.error?.code, 'blocked');
    assert.equal(
      blocked.error.message,
      "Command type 'CUSTOM_COMMAND:drop_caches' is blocked by the deny pattern 'CUSTOM_COMMAND:drop*' (setting aios.security.denyPatterns)",
    );
    assert.equal((await run('reduce_complexity')).success, true);
    assert.deepEqual(ran, ['reduce_complexity'], 'the blocked one never reached its executor');
    const events = m.telemetry
      .recentEvents()
      .map((e) => `${e.eventType} ${e.commandType} ${e.metadata?.code === undefined ? '' : JSON.stringify(e.metadata.code)}`.trim());
    assert.deepEqual(events, ['ERROR CONTROL:CUSTOM_COMMAND "blocked"', 'START CONTROL:CUSTOM_COMMAND', 'COMPLETE CONTROL:CUSTOM_COMMAND']);
    assert.equal(m.checkPolicy('CONTROL:CUSTOM_COMMAND', 'CUSTOM_COMMAND:DROP_ALL').allowed, false, 'case-insensitive, like every pattern');
    await m.close();
  });

  describe('cancellation at every stage', () => {
    it('before submission', async () => {
      const m = mw();
      const r = await m.execute({ commandType: 'A' }, controlled().executor, { signal: AbortSignal.abort() });
      assert.equal(r.error?.code, 'cancelled');
      assert.deepEqual(
        m.telemetry.recentEvents().map((e) => e.eventType),
        ['CANCEL'],
      );
      await m.close();
    });

    it('while queued and while delayed: CANCEL, slot and timers untouched', async () => {
      const clock = new ManualClock();
      const m = mw({ clock, config: { maxConcurrency: 1, baseDelayMs: 100 } });
      const c = controlled();
      const running = m.execute({ commandType: 'A' }, c.executor);
      const ac = new AbortController();
      const delayed = m.execute({ commandType: 'B' }, c.executor, { signal: ac.signal });
      assert.equal(m.admission.delayed, 1);
      ac.abort();
      const r = await delayed;
      assert.equal(r.error?.code, 'cancelled');
      assert.equal(r.throttled, true);
      assert.equal(clock.pendingTimers, 0);
      assert.deepEqual(
        m.telemetry.recentEvents().map((e) => e.eventType),
        ['START', 'THROTTLE', 'CANCEL'],
      );
      assert.equal(m.telemetry.recentEvents()[2].metadata?.stage, 'delayed');
      c.running.values().next().value!.resolve('ok');
      assert.equal((await running).success, true);
      assert.equal(m.admission.active, 0);
      assert.deepEqual(c.calls, ['A']);
      await m.close();
    });

    it('while running: answers at once, tells the executor, frees the slot when it stops', async () => {
      const m = mw({ config: { maxConcurrency: 1 } });
      const ac = new AbortController();
      let seen: AbortSignal | undefined;
      let finish: () => void = () => undefined;
      const executor: Executor = (_r, ctx) => {
        seen = ctx.signal;
        return new Promise((resolve) => (finish = () => resolve('late')));
      };
      const p = m.execute({ commandType: 'A' }, executor, { signal: ac.signal });
      await tick();
      ac.abort();
      const r = await p;
      assert.equal(r.error?.code, 'cancelled');
      assert.equal(seen?.aborted, true);
      assert.equal(m.admission.active, 1, 'the executor has not stopped yet: the slot stays taken');
      finish();
      await tick();
      assert.equal(m.admission.active, 0);
      const types = m.telemetry.recentEvents().map((e) => e.eventType);
      assert.deepEqual(types, ['START', 'CANCEL'], 'the late result is not recorded');
      await m.close();
    });

    it('close cancels queued commands and aborts running ones', async () => {
      const { m, a, b } = await twoOnOneSlot();
      await m.close();
      const [ra, rb] = await Promise.all([a, b]);
      assert.equal(ra.error?.code, 'cancelled');
      assert.match(ra.error.message, /shut down while the command was running/);
      assert.equal(rb.error?.code, 'cancelled');
      assert.match(rb.error.message, /shut down before the command started/);
    });
  });

  it('progress: throttled, queued, running for a delayed command', async () => {
    const clock = new ManualClock();
    const m = mw({ clock, config: { maxConcurrency: 1, baseDelayMs: 100 } });
    const c = controlled();
    const first = m.execute({ commandType: 'A' }, c.executor);
    const progress: ProgressUpdate[] = [];
    const second = m.execute({ commandType: 'B', priority: 'HIGH' }, c.executor, { onProgress: (p) => progress.push(p) });
    clock.advance(100);
    c.running.values().next().value!.resolve(1);
    await first;
    await tick();
    assert.deepEqual(
      progress.map((p) => p.stage),
      ['throttled', 'queued', 'running'],
    );
    assert.equal(progress[0].delayMs, 100);
    assert.equal(progress[0].queuePosition, 1);
    for (const v of c.running.values()) v.resolve(2);
    const r = await second;
    assert.equal(r.throttled, true);
    assert.equal(r.delayMs, 100);
    const throttle = m.telemetry.recentEvents().find((e) => e.eventType === 'THROTTLE')!;
    assert.equal(throttle.metadata?.delayMs, 100);
    assert.equal(throttle.metadata?.queuePosition, 1);
    assert.match(String(throttle.metadata?.reason), /over the concurrency limit/);
    await m.close();
  });

  it('progress: an executor that waits on something else says so, then running again', async () => {
    const m = mw({ config: { baseDelayMs: 0 } });
    const progress: ProgressUpdate[] = [];
    let endWait: (() => void) | undefined;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const waiting = functionExecutor({
      A: async (_p, ctx) => {
        endWait = ctx.waiting('waiting for the service (starting)');
        await gate;
        endWait();
        return 'done';
      },
    });
    const r = m.execute({ commandType: 'A' }, waiting, { onProgress: (p) => progress.push(p) });
    await tick();
    assert.deepEqual(
      progress.map((p) => [p.stage, p.reason]),
      [
        ['running', ''],
        ['waiting', 'waiting for the service (starting)'],
      ],
    );
    release();
    assert.equal((await r).result, 'done');
    assert.deepEqual(
      progress.map((p) => p.stage),
      ['running', 'waiting', 'running'],
    );
    // Without a listener the executor can still call it.
    assert.equal((await m.execute({ commandType: 'A' }, waiting)).result, 'done');
    await m.close();
  });

  it('lists commands in flight with their stage, and cancel(commandId) ends a queued one in CANCEL', async () => {
    const { m, c, a, b } = await twoOnOneSlot();
    const listed = m.inFlight();
    assert.deepEqual(
      listed.map((f) => [f.commandType, f.stage]),
      [
        ['A', 'running'],
        ['B', 'queued'],
      ],
    );
    const events: TelemetryEvent[] = [];
    m.telemetry.onEvent((e) => events.push(e));
    assert.equal(m.cancel(listed[1].commandId), true);
    const rb = await b;
    assert.equal(rb.error?.code, 'cancelled');
    assert.match(rb.error.message, /before it started from the list of running commands/);
    assert.deepEqual(events.at(-1)?.metadata, { code: 'cancelled', stage: 'queued', by: 'user', source: 'other' });
    assert.deepEqual(c.calls, ['A'], 'a cancelled queued command never reaches its executor');
    assert.equal(m.cancel(listed[1].commandId), false, 'gone from the list once ended');
    c.running.get(listed[0].commandId)!.resolve('done');
    assert.equal((await a).success, true);
    assert.deepEqual(m.inFlight(), []);
    await m.close();
  });

  it('inFlight({submittedBy, max}) lists the older ones only, at most max; countInFlight counts them running and queued apart', async () => {
    const clock = new ManualClock();
    const m = mw({ clock, config: { maxConcurrency: 2, baseDelayMs: 0 } });
    const c = controlled();
    const runs = [
      m.execute({ commandType: 'OLD1' }, c.executor),
      m.execute({ commandType: 'OLD2' }, c.executor),
      m.execute({ commandType: 'OLD3' }, c.executor),
    ];
    await tick();
    const cutoff = clock.epochMs();
    clock.advance(1000);
    runs.push(m.execute({ commandType: 'NEW' }, c.executor));
    await tick();
    assert.deepEqual(
      m.inFlight({ submittedBy: cutoff }).map((f) => [f.commandType, f.stage]),
      [
        ['OLD1', 'running'],
        ['OLD2', 'running'],
        ['OLD3', 'queued'],
      ],
    );
    assert.deepEqual(
      m.inFlight({ submittedBy: cutoff, max: 2 }).map((f) => f.commandType),
      ['OLD1', 'OLD2'],
    );
    assert.deepEqual(m.countInFlight(cutoff), { running: 2, queued: 1 });
    assert.deepEqual(m.countInFlight(), { running: 2, queued: 2 });
    assert.deepEqual(m.countInFlight(cutoff - 1), { running: 0, queued: 0 });
    assert.equal(m.inFlight().length, 4);
    for (const f of m.inFlight()) m.cancel(f.commandId);
    await Promise.all(runs);
    assert.deepEqual(m.countInFlight(), { running: 0, queued: 0 });
    await m.close();
  });

  it('cancel(commandId) stops a running command: its executor is told, through onCancel and its signal', async () => {
    const m = mw();
    let heard: unknown;
    let signalAborted = false;
    const executor: Executor = (_req, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.onCancel((reason) => (heard = reason));
        ctx.signal.addEventListener('abort', () => {
          signalAborted = true;
          reject(new Error('stopped'));
        });
      });
    const run = m.execute({ commandType: 'LONG', parameters: {} }, executor);
    await tick();
    const [flight] = m.inFlight();
    assert.equal(flight.stage, 'running');
    assert.ok(flight.startedAt !== undefined && flight.startedAt >= flight.submittedAt);
    assert.equal(m.cancel(flight.commandId, 'enough'), true);
    const r = await run;
    assert.equal(r.error?.code, 'cancelled');
    assert.equal((heard as Error).message, 'enough');
    assert.equal(signalAborted, true);
    assert.equal(m.telemetry.query('SUMMARY').overall.cancelledCommands, 1);
    assert.equal(m.cancel('no-such-id'), false);
    await m.close();
  });

  it("a caller's signal, the UI and shutdown are told apart in CANCEL's metadata", async () => {
    const m = mw({ config: { maxConcurrency: 1, baseDelayMs: 0 } });
    const c = controlled();
    const ac = new AbortController();
    const byCaller = m.execute({ commandType: 'A' }, c.executor, { signal: ac.signal });
    const atShutdown = m.execute({ commandType: 'B' }, c.executor);
    await tick();
    const events: TelemetryEvent[] = [];
    m.telemetry.onEvent((e) => events.push(e));
    ac.abort();
    assert.match((await byCaller).error!.message, /cancelled while running$/);
    await m.close();
    // A gave its slot back when its executor stopped, so B was running when the middleware closed.
    assert.match((await atShutdown).error!.message, /shut down while the command was running/);
    assert.deepEqual(
      events.filter((e) => e.eventType === 'CANCEL').map((e) => e.metadata?.by),
      ['caller', 'shutdown'],
    );
  });

  it('bypassAdmission runs a command while admission is paused and the only slot is busy, and takes no slot', async () => {
    const { m, c, a, b } = await twoOnOneSlot();
    m.pause();
    const before = m.admission;
    const r = await m.execute({ commandType: 'CONTROL:UPDATE_LOG_LEVEL' }, functionExecutor({ 'CONTROL:UPDATE_LOG_LEVEL': () => 'applied' }), {
      bypassAdmission: true,
    });
    assert.equal(r.success, true);
    assert.equal(r.result, 'applied');
    assert.deepEqual(m.admission, before, 'the limit, the queue and the running count are as they were');
    m.resume();
    c.running.get(m.inFlight()[0].commandId)!.resolve('a');
    await a;
    await tick();
    c.running.get(m.inFlight()[0].commandId)!.resolve('b');
    assert.equal((await b).success, true);
    assert.equal(m.admission.active, 0, 'no slot was released that was not taken');
    await m.close();
  });

  it('updateConfig applies at once and returns readable errors', async () => {
    const { m, c, a, b } = await twoOnOneSlot();
    assert.equal(m.admission.active, 1);
    assert.deepEqual(m.updateConfig({ maxConcurrency: 2, baseDelayMs: -1 }), ['baseDelayMs must be an integer from 0 to 60000 (got -1); keeping 0']);
    await tick();
    assert.equal(m.admission.active, 2);
    m.updateConfig({ security: { denyPatterns: ['A*'] } });
    assert.equal((await m.execute({ commandType: 'ANALYZE' }, c.executor)).error?.code, 'blocked');
    for (const v of c.running.values()) v.resolve(0);
    await Promise.all([a, b]);
    await m.close();
  });

  it('pause holds commands, resume runs them', async () => {
    const m = mw({ config: { baseDelayMs: 0 } });
    m.pause();
    assert.equal(m.paused, true);
    let done = false;
    const p = m.execute({ commandType: 'A' }, functionExecutor({ A: () => 1 })).then(() => (done = true));
    await tick();
    assert.equal(done, false);
    assert.equal(m.admission.queued.NORMAL, 1);
    m.resume();
    await p;
    await m.close();
  });

  it('REALTIME shows system, admission and service state', async () => {
    const m = mw({ service: () => ({ status: 'healthy', pid: 99 }) });
    const r = m.telemetry.query('REALTIME');
    assert.equal(r.system.cpuPercent, 10);
    assert.equal(r.admission.limit, 4);
    assert.equal(r.service.status, 'healthy');
    await m.close();
  });

  it('sections other parts add: DETAILED ones in DETAILED and REALTIME, REALTIME ones only there, read at each query', async () => {
    const m = mw();
    let reads = 0;
    const learning = m.addDetailedSection('learning', () => ({ read: ++reads }));
    const exports = m.addRealtimeSection('export', () => ({ ok: true }));
    const sections = (level: 'SUMMARY' | 'DETAILED' | 'REALTIME') => {
      const r = m.telemetry.query(level) as unknown as Record<string, unknown>;
      return { learning: r.learning, export: r.export };
    };
    assert.deepEqual(sections('SUMMARY'), { learning: undefined, export: undefined });
    assert.deepEqual(sections('DETAILED'), { learning: { read: 1 }, export: undefined });
    assert.deepEqual(sections('REALTIME'), { learning: { read: 2 }, export: { ok: true } });
    assert.throws(() => m.addRealtimeSection('learning', () => 0), /the report section learning exists already/);
    assert.throws(() => m.addDetailedSection('byType', () => 0), /the report section byType exists already/, "a report's own field is not a section");
    learning.dispose();
    exports.dispose();
    assert.deepEqual(sections('REALTIME'), { learning: undefined, export: undefined });
    await m.close();
  });

  it('callers that only await promises still let the writer write while their commands go on', async () => {
    // Without a turn of the event loop the writer never hears a write end: events piled up until the
    // backlog held admission (megabytes), and the disk and the commands took turns instead of overlapping.
    const dir = tempDir();
    const m = mw({ storageDir: dir, clock: undefined, config: { maxConcurrency: 8, baseDelayMs: 0 } });
    let done = 0;
    let writtenMidway = -1;
    const ex = functionExecutor({
      A: () => {
        if (++done === 2500) writtenMidway = m.telemetry.query('SUMMARY').storage.writtenEvents;
      },
    });
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        for (let i = 0; i < 50; i++) assert.equal((await m.execute({ commandType: 'A' }, ex)).success, true);
      }),
    );
    // 5000 events (~1.5 MB) by then: far below the backlog's hold, far above a write batch.
    assert.ok(writtenMidway > 0, `events written before the last command: ${writtenMidway}`);
    assert.equal(m.admission.paused, false);
    await m.close();
    assert.equal(m.telemetry.query('SUMMARY').storage.writtenEvents, 2 * 64 * 50);
  });

  it('persists events and restores counts after a restart', async () => {
    const dir = tempDir();
    const ex = functionExecutor({ A: () => 1 });
    const first = mw({ storageDir: dir, sessionId: 'w1' });
    await first.execute({ commandType: 'A' }, ex);
    await first.execute({ commandType: 'DROP_X' }, ex);
    await first.close();
    const second = mw({ storageDir: dir, sessionId: 'w2' });
    const s = second.telemetry.query('SUMMARY');
    assert.equal(s.storage.restored, true);
    assert.equal(s.overall.totalCommands, 2);
    assert.equal(s.overall.blockedCommands, 1);
    await second.execute({ commandType: 'A' }, ex);
    await second.close();
    const third = mw({ storageDir: dir, sessionId: 'w3' });
    assert.equal(third.telemetry.query('DETAILED').byType.A.count, 2);
    await third.close();
    const r = await readTelemetry(dir);
    assert.deepEqual(
      r.events.map((e) => e.eventType),
      ['START', 'COMPLETE', 'ERROR', 'START', 'COMPLETE'],
    );
  });

  it('two windows at once on one storage folder: a file each, no interleaved lines, stats of their own', async () => {
    const dir = tempDir();
    const ex = functionExecutor({ A: () => 1, B: () => 2 });
    // No sessionId given, as the extension does: each middleware must make a distinct one.
    const w1 = mw({ storageDir: dir });
    const w2 = mw({ storageDir: dir });
    assert.notEqual(w1.sessionId, w2.sessionId);
    for (let i = 0; i < 50; i++)
      await Promise.all([w1.execute({ commandType: 'A' }, ex), w2.execute({ commandType: 'B' }, ex), w2.execute({ commandType: 'B' }, ex)]);
    await Promise.all([w1.close(), w2.close()]);
    const files = readdirSync(dir).sort();
    const events = files.filter((f) => f.startsWith('events-'));
    assert.equal(events.length, 2, `one events file per window: ${files.join(', ')}`);
    for (const file of events) {
      const lines = readFileSync(join(dir, file), 'utf8').trimEnd().split('\n');
      const sessions = new Set(lines.map((l) => (JSON.parse(l) as TelemetryEvent).user.sessionId));
      assert.equal(sessions.size, 1, `${file} holds the lines of one window only`);
      assert.ok(file.includes(String([...sessions][0])), `${file} is named after its window`);
    }
    const stats = files.filter((f) => f.startsWith('stats-'));
    assert.equal(stats.length, 2, `one stats snapshot per window: ${files.join(', ')}`);
    const counts = stats.map((f) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { overall: { count: number } }).overall.count).sort((a, b) => a - b);
    assert.deepEqual(counts, [50, 100]);
  });

  it('accounting invariant: every command ends in exactly one of COMPLETE, ERROR or CANCEL (property)', async () => {
    type Op =
      | { kind: 'submit'; type: string; priority: Priority; withSignal: boolean }
      | { kind: 'complete' | 'fail' | 'cancel'; index: number }
      | { kind: 'advance'; ms: number }
      | { kind: 'limit'; n: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant('submit' as const),
        type: fc.constantFrom('A', 'B', 'DROP_IT', 'bad type'),
        priority: fc.constantFrom<Priority>('HIGH', 'NORMAL', 'LOW'),
        withSignal: fc.boolean(),
      }),
      fc.record({ kind: fc.constantFrom('complete' as const, 'fail' as const, 'cancel' as const), index: fc.nat(40) }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 300 }) }),
      fc.record({ kind: fc.constant('limit' as const), n: fc.integer({ min: 1, max: 3 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 50 }), fc.boolean(), async (ops, paused) => {
        const clock = new ManualClock();
        const m = mw({ clock, config: { maxConcurrency: 2, baseDelayMs: 50, maxQueueSize: 5, agingMs: 100 } });
        if (paused) m.pause();
        const events: TelemetryEvent[] = [];
        m.telemetry.onEvent((e) => events.push(e));
        const c = controlled();
        const submitted: Array<{ result: Promise<import('../../../../src/core/types').CommandResult>; abort?: AbortController }> = [];
        for (const o of ops) {
          if (o.kind === 'submit') {
            const abort = o.withSignal ? new AbortController() : undefined;
            submitted.push({ result: m.execute({ commandType: o.type, priority: o.priority }, c.executor, { signal: abort?.signal }), abort });
          } else if (o.kind === 'advance') clock.advance(o.ms);
          else if (o.kind === 'limit') m.updateConfig({ maxConcurrency: o.n });
          else if (o.kind === 'cancel') submitted[o.index]?.abort?.abort();
          else {
            const entry = [...c.running.values()][o.index % Math.max(1, c.running.size)];
            if (o.kind === 'complete') entry?.resolve('ok');
            else entry?.reject(new Error('failed'));
          }
          await tick();
        }
        m.resume();
        for (let i = 0; i < 20 && submitted.length > 0; i++) {
          clock.advance(1000);
          for (const v of c.running.values()) v.resolve('ok');
          await tick();
        }
        const results = await Promise.all(submitted.map((s) => s.result));
        // Exactly one terminal event per command, matching its result.
        const ends = new Map<string, TelemetryEvent[]>();
        for (const e of events.filter(terminal)) ends.set(e.commandId, [...(ends.get(e.commandId) ?? []), e]);
        assert.equal(ends.size, submitted.length);
        for (const r of results) {
          const mine = ends.get(r.commandId)!;
          assert.equal(mine.length, 1, `${r.commandId}: ${mine.map((e) => e.eventType).join(', ')}`);
          const expected = r.success ? 'COMPLETE' : r.error?.code === 'cancelled' ? 'CANCEL' : 'ERROR';
          assert.equal(mine[0].eventType, expected);
        }
        const o = m.telemetry.query('SUMMARY').overall;
        assert.equal(o.totalCommands, submitted.length);
        assert.equal(o.totalCommands, o.successfulCommands + o.failedCommands + o.cancelledCommands);
        assert.equal(o.throttledCommands, events.filter((e) => e.eventType === 'THROTTLE').length);
        const state = m.admission;
        assert.equal(state.active, 0);
        assert.deepEqual(state.queued, { HIGH: 0, NORMAL: 0, LOW: 0 });
        assert.equal(clock.pendingTimers, 0, 'no timer left behind');
        await m.close();
      }),
      { numRuns: 150 },
    );
  });
});

describe('adaptive admission through the pipeline', () => {
  it('feeds each command’s running time (not its wait) and logs every limit change at debug level', async () => {
    const clock = new ManualClock();
    const logs: string[] = [];
    const m = mw({
      clock,
      log: (level, message) => logs.push(`${level}: ${message}`),
      config: { maxConcurrency: 2, baseDelayMs: 0, throttle: { mode: 'adaptive', minConcurrency: 1, maxConcurrency: 8 } },
    });
    const changes: string[] = [];
    m.onLimitChange((c) => changes.push(`${c.from}->${c.to}`));
    assert.equal(m.admission.mode, 'adaptive');
    assert.equal(m.admission.limit, 2);
    const c = controlled();
    // 12 commands on 2 slots, each running 30 ms: 10 wait in the queue first, up to 150 ms.
    const results = Array.from({ length: 12 }, () => m.execute({ commandType: 'A' }, c.executor));
    await tick();
    while (c.running.size > 0) {
      clock.advance(30);
      for (const [id, r] of [...c.running]) {
        c.running.delete(id);
        r.resolve(1);
      }
      await tick();
    }
    const durations = (await Promise.all(results)).map((r) => r.durationMs);
    assert.equal(Math.max(...durations), 180, 'the last one waited 150 ms and ran 30');
    clock.advance(1000); // the window ends
    assert.equal(m.admission.adaptive?.shortRttMs, 30);
    // The first window is only a guess at the no-load latency: a probe at half the limit measures it.
    assert.deepEqual(changes, ['2->1']);
    assert.deepEqual(logs, ['debug: limit 2 -> 1 (adaptive): probing the no-load latency at 1 (long RTT 30 ms)']);
    assert.equal(m.telemetry.query('REALTIME').admission.mode, 'adaptive');
    // A mode switch applies at once, and is logged too.
    m.updateConfig({ throttle: { mode: 'fixed' } });
    assert.equal(m.admission.mode, 'fixed');
    assert.equal(m.admission.limit, 2);
    assert.equal(logs.at(-1), 'debug: limit 1 -> 2 (fixed): aios.maxConcurrency is 2');
    await m.close();
    assert.equal(clock.pendingTimers, 0);
  });

  it('refuses min > max from updateConfig with a message naming both settings', async () => {
    const m = mw({ settingPrefix: 'aios.' });
    assert.deepEqual(m.updateConfig({ throttle: { mode: 'adaptive', minConcurrency: 9, maxConcurrency: 3 } }), [
      'aios.throttle.minConcurrency (9) must not be greater than aios.throttle.maxConcurrency (3); keeping 1..64',
    ]);
    assert.equal(m.admission.mode, 'adaptive');
    assert.deepEqual(m.admission.adaptive && [m.admission.adaptive.minLimit, m.admission.adaptive.maxLimit], [1, 64]);
    await m.close();
  });
});

describe('executors', () => {
  it('functionExecutor passes parameters, the id and the signal', async () => {
    const m = mw();
    let ctxId = '';
    const r = await m.execute(
      { commandType: 'SUM', parameters: { a: 2, b: 3 } },
      functionExecutor({
        SUM: (p, ctx) => {
          ctxId = ctx.commandId;
          assert.ok(ctx.signal instanceof AbortSignal);
          return (p.a as number) + (p.b as number);
        },
      }),
    );
    assert.equal(r.result, 5);
    assert.equal(ctxId, r.commandId);
    await m.close();
  });

  it('shellExecutor runs a program without a shell, reports exit codes, and stops on cancel', async () => {
    const m = createMiddleware({ sampler: new StaticSampler() });
    const node = process.execPath; // a program present on every platform the tests run on
    const ex = shellExecutor({
      PRINT: { file: node, args: (p) => ['-e', 'process.stdout.write(process.argv[1])', String(p.text)] },
      EXIT3: { file: node, args: ['-e', 'process.exit(3)'] },
      HANG: { file: node, args: ['-e', 'setInterval(() => {}, 1000)'] },
    });
    const printed = await m.execute({ commandType: 'PRINT', parameters: { text: '$(echo injected); rm -rf /' } }, ex);
    assert.equal(printed.success, true);
    assert.equal((printed.result as { stdout: string }).stdout, '$(echo injected); rm -rf /', 'arguments reach the program verbatim');
    const failed = await m.execute({ commandType: 'EXIT3' }, ex);
    assert.equal(failed.error?.code, 'exit_code');
    assert.match(failed.error.message, /exited with code 3/);
    const ac = new AbortController();
    const hang = m.execute({ commandType: 'HANG' }, ex, { signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    assert.equal((await hang).error?.code, 'cancelled');
    assert.equal((await m.execute({ commandType: 'OTHER' }, ex)).error?.code, 'unknown_command_type');
    // The slot is released when the killed program's pipes have closed: poll for it (the cap only bounds a failure).
    for (let i = 0; i < 100 && m.admission.active > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(m.admission.active, 0, 'the killed process released its slot');
    await m.close();
  });

  it(
    'shellExecutor ends what the program started too, on cancel and on timeout, even after the program exited',
    { skip: process.platform === 'win32' && 'uses sh' },
    async () => {
      const m = createMiddleware({ sampler: new StaticSampler(), config: { baseDelayMs: 0 } });
      const dir = tempDir();
      // A program that starts a grandchild and waits for it, writing the grandchild's pid first. A grandchild
      // that lives its whole life leaves a marker, so a regression fails (slowly) instead of passing.
      const natural = join(dir, 'natural');
      const spawning = (file: string) => ({ file: 'sh', args: ['-c', `(sleep 300; touch '${natural}') & echo $! > '${file}'; wait`] });
      // A program that exits at once, leaving a grandchild that ignores SIGTERM and holds its output open.
      const leaving = (file: string) => ({ file: 'sh', args: ['-c', `(trap '' TERM; sleep 300; touch '${natural}') & echo $! > '${file}'; exit 0`] });
      const ex = shellExecutor({
        CANCEL: spawning(join(dir, 'cancel.pid')),
        TIMEOUT: { ...spawning(join(dir, 'timeout.pid')), timeoutMs: 500 },
        LEAVE: leaving(join(dir, 'leave.pid')),
      });
      const grandchild = async (file: string) => {
        for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 20));
        return Number(readFileSync(file, 'utf8').trim());
      };
      const ac = new AbortController();
      const cancelled = m.execute({ commandType: 'CANCEL' }, ex, { signal: ac.signal });
      const first = await grandchild(join(dir, 'cancel.pid'));
      assert.ok(running(first));
      ac.abort();
      assert.equal((await cancelled).error?.code, 'cancelled');
      const timedOut = await m.execute({ commandType: 'TIMEOUT' }, ex);
      assert.equal(timedOut.error?.code, 'timeout');
      const second = await grandchild(join(dir, 'timeout.pid'));
      const ac2 = new AbortController();
      const left = m.execute({ commandType: 'LEAVE' }, ex, { signal: ac2.signal });
      const third = await grandchild(join(dir, 'leave.pid'));
      ac2.abort();
      assert.equal((await left).error?.code, 'cancelled');
      // The pipeline answers a cancel at once; the executor ends the group as soon as the program exits.
      for (let i = 0; i < 100 && (running(first) || running(second) || running(third)); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(running(first), false, "the cancelled program's grandchild was ended");
      assert.equal(running(second), false, "the timed-out program's grandchild was ended");
      assert.equal(running(third), false, 'a grandchild ignoring SIGTERM, left by a program that had exited, was ended');
      // A slot is released when the executor has finished (its output pipes closed), just after the tree ended.
      for (let i = 0; i < 100 && m.admission.active > 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(m.admission.active, 0, 'every slot was released');
      assert.equal(existsSync(natural), false, 'no grandchild lived its whole life');
      await m.close();
    },
  );
});
