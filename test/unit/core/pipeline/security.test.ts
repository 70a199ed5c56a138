import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CONFIG } from '../../../../src/core/config';
import { SecurityPolicy } from '../../../../src/core/pipeline/security';

const defaults = (): SecurityPolicy => new SecurityPolicy(DEFAULT_CONFIG.security.denyPatterns, DEFAULT_CONFIG.security.allowPatterns);

describe('SecurityPolicy', () => {
  it('default deny patterns block DELETE and DROP anywhere in the type, in any case', () => {
    const p = defaults();
    for (const t of ['DELETE', 'DELETE_ALL', 'USER_DELETE', 'soft-delete-cache', 'DropTable', 'x.drop.y']) {
      assert.equal(p.check(t).allowed, false, t);
    }
    for (const t of ['ANALYZE', 'DEL', 'DRO_P', 'LIST_FILES']) assert.equal(p.check(t).allowed, true, t);
  });

  it('names the matching pattern and the setting to change', () => {
    const r = defaults().check('drop_table');
    assert.match(r.reason!, /'drop_table' is blocked by the deny pattern '\*DROP\*' \(setting aios\.security\.denyPatterns\)/);
  });

  it('matches the whole type: ? is one character, * any run, other characters are literal', () => {
    const p = new SecurityPolicy(['RM?', 'a.b', 'x+*'], []);
    assert.equal(p.check('RMX').allowed, false);
    assert.equal(p.check('RM').allowed, true);
    assert.equal(p.check('RMXX').allowed, true);
    assert.equal(p.check('a.b').allowed, false);
    assert.equal(p.check('aXb').allowed, true, '. is literal, not a regex wildcard');
    assert.equal(p.check('x+anything').allowed, false);
    assert.equal(p.check('xx').allowed, true, '+ is literal');
  });

  it('a non-empty allow list admits only matching types', () => {
    const p = new SecurityPolicy([], ['ANALYZE_*', 'health']);
    assert.equal(p.check('analyze_data').allowed, true);
    assert.equal(p.check('HEALTH').allowed, true);
    const r = p.check('TRAIN');
    assert.equal(r.allowed, false);
    assert.match(r.reason!, /matches none of the allow patterns.*aios\.security\.allowPatterns/);
  });

  it('deny wins over allow, even over an exact allow entry', () => {
    const p = new SecurityPolicy(['*DELETE*'], ['DELETE_TEMP', '*']);
    assert.equal(p.check('DELETE_TEMP').allowed, false);
    assert.equal(p.check('ANALYZE').allowed, true);
  });

  it('update() replaces the rules and forgets cached decisions', () => {
    const p = defaults();
    assert.equal(p.check('DELETE_TEMP').allowed, false);
    p.update(['*DROP*'], []);
    assert.equal(p.check('DELETE_TEMP').allowed, true);
  });

  it('stays correct past the decision cache bound', () => {
    const p = defaults();
    for (let i = 0; i < 3000; i++) assert.equal(p.check(`T${i}`).allowed, true);
    assert.equal(p.check('T_DELETE').allowed, false);
  });
});
