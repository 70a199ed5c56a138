import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeLoad, stableTail, stateWord } from '../../../src/views/treeOrder';

describe('the telemetry tree: order and wording', () => {
  it('keeps the first row in place while new items join at the bottom, and cuts back only past the maximum', () => {
    const items = Array.from({ length: 30 }, (_, i) => i);
    const first = stableTail(items, undefined, 5, 10);
    assert.deepEqual(first, [25, 26, 27, 28, 29]);
    // Three more: the same first row, the new ones below.
    const more = [...items, 30, 31, 32];
    assert.deepEqual(stableTail(more, first[0], 5, 10), [25, 26, 27, 28, 29, 30, 31, 32]);
    // Past ten rows from the first one: back to the newest five (the rows move once, not on every item).
    const many = [...more, 33, 34, 35];
    assert.deepEqual(stableTail(many, first[0], 5, 10), [31, 32, 33, 34, 35]);
  });

  it('starts again from the newest when the first row left the list (a clear, or the ring moved past it)', () => {
    assert.deepEqual(stableTail([7, 8, 9], 3, 2, 10), [8, 9]);
    assert.deepEqual(stableTail([], 3, 2, 10), []);
  });

  it('finds the first row by identity among equal-looking items', () => {
    const a = { n: 1 };
    const b = { n: 1 };
    assert.deepEqual(stableTail([a, b], b, 1, 5), [b]);
    assert.equal(stableTail([a, b], a, 1, 5)[0], a);
  });

  it('says "queued" for a command waiting for a slot, with or without backoff, everywhere', () => {
    assert.equal(stateWord('queued'), 'queued');
    assert.equal(stateWord('delayed'), 'queued');
    assert.equal(stateWord('throttled'), 'queued');
    assert.equal(stateWord('running'), 'running');
    assert.equal(stateWord('waiting'), 'waiting for the service');
    assert.equal(describeLoad(4, 16), '4 running · 16 queued');
  });
});
