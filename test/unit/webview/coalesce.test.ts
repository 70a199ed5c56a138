import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Coalescer, type Timers } from '../../../src/webview/coalesce';

/** A manual clock: timers fire only when the test advances time. */
function fakeTimers() {
  let now = 0;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const timers: Timers = {
    now: () => now,
    setTimeout: (fn, ms) => (pending.set(++seq, { at: now + ms, fn }), seq),
    clearTimeout: (h) => void pending.delete(h as number),
  };
  const advance = (ms: number) => {
    const end = now + ms;
    for (;;) {
      const next = [...pending.entries()].sort((a, b) => a[1].at - b[1].at)[0];
      if (!next || next[1].at > end) break;
      now = next[1].at;
      pending.delete(next[0]);
      next[1].fn();
    }
    now = end;
  };
  return { timers, advance, pending };
}

test('1,000 requests a second become at most 4 flushes a second', () => {
  const { timers, advance } = fakeTimers();
  let flushes = 0;
  const c = new Coalescer(() => flushes++, 250, timers);
  for (let ms = 0; ms < 10_000; ms++) {
    c.request();
    advance(1);
  }
  // One flush every 250 ms over 10 s, counting both ends.
  assert.ok(flushes >= 39 && flushes <= 41, `flushed ${flushes} times in 10 s`);
});

test('never flushes synchronously; the first request after a quiet spell flushes on the next tick', () => {
  const { timers, advance } = fakeTimers();
  let flushes = 0;
  const c = new Coalescer(() => flushes++, 250, timers);
  c.request();
  assert.equal(flushes, 0);
  advance(0);
  assert.equal(flushes, 1);
  advance(10_000);
  c.request();
  advance(0);
  assert.equal(flushes, 2);
});

test('a request inside the interval waits for its end (trailing edge), so the last change is never lost', () => {
  const { timers, advance } = fakeTimers();
  const seen: number[] = [];
  let value = 0;
  const c = new Coalescer(() => seen.push(value), 250, timers);
  c.request();
  advance(0);
  value = 1;
  c.request();
  value = 2;
  c.request();
  advance(249);
  assert.deepEqual(seen, [0]);
  advance(1);
  assert.deepEqual(seen, [0, 2]);
});

test('flushNow flushes at once and drops the pending request; cancel and dispose drop it silently', () => {
  const { timers, advance, pending } = fakeTimers();
  let flushes = 0;
  const c = new Coalescer(() => flushes++, 250, timers);
  c.request();
  c.flushNow();
  assert.equal(flushes, 1);
  assert.equal(pending.size, 0);
  c.request();
  assert.equal(c.scheduled, true);
  c.dispose();
  assert.equal(c.scheduled, false);
  advance(1000);
  assert.equal(flushes, 1);
});
