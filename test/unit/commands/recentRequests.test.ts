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
    assert.equal(r.lastOfType('A'), undefined);
    assert.ok(r.get('b') && r.get('c'));
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
});
