import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentRequests } from '../../../src/commands/recentRequests';
import type { ValidatedRequest } from '../../../src/core';

const request = (commandType: string, parameters: Record<string, unknown> = {}): ValidatedRequest => ({
  commandType,
  priority: 'HIGH',
  parameters,
  parametersJson: JSON.stringify(parameters),
});

describe('RecentRequests', () => {
  it('gives back the request a command ran with, and the newest of its type', () => {
    const r = new RecentRequests();
    r.remember('a', request('ECHO', { text: 'one' }));
    r.remember('b', request('ECHO', { text: 'two' }));
    assert.deepEqual(r.get('a'), { commandType: 'ECHO', priority: 'HIGH', parameters: { text: 'one' } });
    assert.deepEqual(r.lastOfType('ECHO')?.parameters, { text: 'two' });
    assert.equal(r.get('zzz'), undefined);
    assert.equal(r.lastOfType('SLEEP'), undefined);
  });

  it('forgets the oldest beyond its count', () => {
    const r = new RecentRequests(2);
    r.remember('a', request('A'));
    r.remember('b', request('B'));
    r.remember('c', request('C'));
    assert.equal(r.size, 2);
    assert.equal(r.get('a'), undefined);
    assert.ok(r.get('b') && r.get('c'));
  });

  it("keeps each type's newest request after a burst of others pushed it out of the per-command ring", () => {
    const r = new RecentRequests(10);
    r.remember('marked', request('ECHO', { marker: 1 }));
    for (let i = 0; i < 1000; i++) r.remember(`load-${i}`, request('UI_LOAD', { i }));
    assert.equal(r.get('marked'), undefined);
    assert.deepEqual(r.lastOfType('ECHO')?.parameters, { marker: 1 });
    assert.deepEqual(r.lastOfType('UI_LOAD')?.parameters, { i: 999 });
    assert.equal(r.size, 10);
  });

  it('bounds the newest-of-type entries by count and bytes, forgetting the type least recently run', () => {
    const r = new RecentRequests(100, 10_000, 2, 100);
    r.remember('a', request('A'));
    r.remember('b', request('B'));
    r.remember('a2', request('A', { again: true }));
    r.remember('c', request('C'));
    assert.equal(r.lastOfType('B'), undefined, 'B was run least recently');
    assert.deepEqual(r.lastOfType('A')?.parameters, { again: true });
    assert.ok(r.lastOfType('C'));
    r.remember('big', request('D', { s: 'x'.repeat(200) }));
    assert.equal(r.lastOfType('D'), undefined, 'larger than the bytes for types: not kept as a type');
    assert.ok(r.get('big'), 'but kept for its own row');
    assert.ok(r.lastOfType('A') && r.lastOfType('C'), 'and it evicts nothing');
    r.clear();
    assert.equal(r.lastOfType('A'), undefined);
  });

  it('forgets the oldest beyond its bytes, and never keeps one larger than the bound', () => {
    const r = new RecentRequests(100, 100);
    r.remember('a', request('X', { s: 'x'.repeat(60) }));
    r.remember('b', request('X', { s: 'y'.repeat(60) }));
    assert.equal(r.get('a'), undefined, 'two requests of ~70 bytes do not fit in 100');
    assert.ok(r.get('b'));
    r.remember('huge', request('X', { s: 'z'.repeat(200) }));
    assert.equal(r.get('huge'), undefined);
    assert.ok(r.get('b'), 'an oversized request evicts nothing');
  });

  it('wraps around its ring: the newest stay findable, the bytes of those forgotten are given back', () => {
    const r = new RecentRequests(3, 1000);
    for (let i = 0; i < 10; i++) r.remember(`c${i}`, request('ECHO', { i }));
    assert.equal(r.size, 3);
    assert.deepEqual(
      ['c6', 'c7', 'c8', 'c9'].map((id) => r.get(id)?.parameters),
      [undefined, { i: 7 }, { i: 8 }, { i: 9 }],
    );
    // Three of 11 bytes each are kept ({"i":7} and ECHO): one of 990 fits only once all three are forgotten.
    r.remember('big', request('ECHO', { s: 'x'.repeat(978) }));
    assert.equal(r.size, 1);
    assert.ok(r.get('big'));
    assert.equal(r.get('c9'), undefined);
    // 990 + 12 > 1000: the big one goes to make room.
    r.remember('c10', request('ECHO', { i: 10 }));
    assert.equal(r.size, 1);
    assert.equal(r.get('big'), undefined);
    assert.deepEqual(r.get('c10')?.parameters, { i: 10 });
  });
});
