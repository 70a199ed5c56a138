import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { RingBuffer } from '../../../src/shared/ringBuffer';

test('RingBuffer keeps the newest `capacity` items in order', () => {
  const r = new RingBuffer<number>(3);
  assert.deepEqual(r.toArray(), []);
  for (let i = 1; i <= 5; i++) r.push(i);
  assert.deepEqual(r.toArray(), [3, 4, 5]);
  assert.equal(r.length, 3);
  assert.equal(r.at(0), 3);
  assert.equal(r.last(), 5);
  assert.equal(r.at(3), undefined);
  assert.equal(r.shift(), 3);
  r.push(6);
  r.push(7);
  assert.deepEqual(r.toArray(), [5, 6, 7]);
  r.clear();
  assert.equal(r.length, 0);
  assert.throws(() => new RingBuffer(0), RangeError);
});
