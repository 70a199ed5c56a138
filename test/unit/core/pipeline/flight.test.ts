import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
import { ABORTED } from '../../../../src/core/abort';
import { Flight } from '../../../../src/core/pipeline/flight';
import { createMiddleware, sourceTag } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import type { Executor } from '../../../../src/core/types';

function flight(): Flight {
  return new Flight('f-1', 'NOOP', 'NORMAL', sourceTag('NOOP', undefined), Date.now(), undefined);
}

describe('Flight', () => {
  it('a cancel reaches every listener once, in the order they were added, removals included', () => {
    const f = flight();
    const heard: string[] = [];
    const a = (): void => void heard.push('a');
    const b = (): void => void heard.push('b');
    f.addEventListener('abort', a); // held without an array
    f.addEventListener('abort', b);
    f.removeEventListener('abort', a);
    // `a`'s place is free, but c came after b: b must still be heard first.
    f.addEventListener('abort', () => void heard.push('c'));
    const offD = f.onCancel(() => heard.push('d'));
    f.onCancel(() => {
      throw new Error('a failing listener');
    });
    f.onCancel(() => heard.push('e'));
    offD();
    assert.equal(f.cancel('user', new Error('stop')), true);
    assert.equal(f.cancel('user', new Error('again')), false);
    assert.deepEqual(heard, ['b', 'c', 'e']);
  });

  it('a listener removed while it is the only one is not heard, and the next one added is', () => {
    const f = flight();
    const heard: string[] = [];
    const off = f.onCancel(() => heard.push('gone'));
    off();
    f.addEventListener('abort', () => void heard.push('kept'));
    f.cancel('shutdown', new Error('bye'));
    assert.deepEqual(heard, ['kept']);
    assert.equal(f.cancelledBy, 'shutdown');
  });

  it('race() settles with the outcome, and never rejects', async () => {
    assert.deepEqual(await flight().race(Promise.resolve(7)), { ok: true, value: 7 });
    const error = new Error('failed');
    assert.deepEqual(await flight().race(Promise.reject(error)), { ok: false, error });
  });

  it('race() answers ABORTED as soon as the command is cancelled, before the executor ends', async () => {
    const f = flight();
    let finish!: (v: unknown) => void;
    const running = new Promise((r) => (finish = r));
    const heard: unknown[] = [];
    f.onCancel((reason) => heard.push(reason)); // the executor's own listener is still told
    const raced = f.race(running);
    const reason = new Error('stop');
    f.cancel('caller', reason);
    assert.equal(await raced, ABORTED);
    assert.deepEqual(heard, [reason]);
    finish('late'); // a late outcome changes nothing
    await running;
    assert.equal(await raced, ABORTED);
    assert.equal(await f.race(Promise.resolve(1)), ABORTED, 'a cancelled flight races to ABORTED at once');
  });
});

describe("callers' signals", () => {
  it('one listener per signal however many commands share it; its abort cancels those in flight, as the caller', async () => {
    const m = createMiddleware({ sampler: new StaticSampler(), config: { maxConcurrency: 8, baseDelayMs: 0, maxQueueSize: 1000 } });
    const ac = new AbortController();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const ex: Executor = (req) => (req.parameters.quick ? 1 : gate.then(() => 2));
    // One finishes before the abort; 8 run and 92 wait in the queue when it comes.
    const quick = await m.execute({ commandType: 'Q', parameters: { quick: true } }, ex, { signal: ac.signal });
    assert.equal(quick.success, true);
    const slow = Array.from({ length: 100 }, () => m.execute({ commandType: 'S', parameters: {} }, ex, { signal: ac.signal }));
    await new Promise((r) => setImmediate(r));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    ac.abort(new Error('the caller left'));
    const results = await Promise.all(slow);
    release();
    assert.deepEqual(new Set(results.map((r) => r.error?.code)), new Set(['cancelled']));
    const s = m.telemetry.query('SUMMARY').overall;
    assert.equal(s.cancelledCommands, 100);
    assert.equal(s.successfulCommands, 1, 'what finished before the abort stays finished');
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    // A command with the aborted signal never starts.
    assert.equal((await m.execute({ commandType: 'Q', parameters: { quick: true } }, ex, { signal: ac.signal })).error?.code, 'cancelled');
    await m.close();
  });
});
