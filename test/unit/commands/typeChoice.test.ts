// What Enter on Run Command's type list runs, whatever row the focus was left on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { acceptedType } from '../../../src/commands/typeChoice';

const known = ['GIT_GREP', 'ECHO', 'AI_INFERENCE', 'SLEEP'].map((commandType) => ({ commandType }));

describe('acceptedType', () => {
  it('a name typed in full runs that type, even with another row focused', () => {
    assert.equal(acceptedType('ECHO', { commandType: 'SLEEP' }, known), 'ECHO');
    assert.equal(acceptedType('ECHO', undefined, known), 'ECHO');
  });

  it('a focused row that matches the text runs, as the user chose it', () => {
    assert.equal(acceptedType('E', { commandType: 'SLEEP' }, known), 'SLEEP');
    assert.equal(acceptedType('inf', { commandType: 'AI_INFERENCE' }, known), 'AI_INFERENCE');
    assert.equal(acceptedType('NEW_TYPE', { commandType: 'NEW_TYPE' }, known), 'NEW_TYPE');
  });

  it('a focus left from before the list was filtered does not run: the first type the text begins does', () => {
    assert.equal(acceptedType('ECH', { commandType: 'GIT_GREP' }, known), 'ECHO');
    assert.equal(acceptedType('ai_inf', { commandType: 'SLEEP' }, known), 'AI_INFERENCE');
  });

  it('a text that begins no type runs as typed; nothing typed and nothing selected runs nothing', () => {
    assert.equal(acceptedType('A_TYPE_NOBODY_REGISTERED', { commandType: 'ECHO' }, known), 'A_TYPE_NOBODY_REGISTERED');
    assert.equal(acceptedType('', undefined, known), undefined);
    assert.equal(acceptedType('', { commandType: 'SLEEP' }, known), 'SLEEP');
  });
});
