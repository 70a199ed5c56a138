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

  it("a second name (a custom control command's CUSTOM_COMMAND:<name>): denied when either is, allowed when either is", () => {
    const type = 'CONTROL:CUSTOM_COMMAND';
    const deny = new SecurityPolicy(['CUSTOM_COMMAND:drop*'], []);
    assert.equal(deny.check(type, 'CUSTOM_COMMAND:drop_caches').allowed, false);
    assert.match(deny.check(type, 'CUSTOM_COMMAND:drop_caches').reason!, /'CUSTOM_COMMAND:drop_caches' is blocked by the deny pattern 'CUSTOM_COMMAND:drop\*'/);
    assert.equal(deny.check(type, 'CUSTOM_COMMAND:reduce_complexity').allowed, true);
    assert.equal(deny.check(type).allowed, true, 'without a second name only the type counts');
    // The defaults (*DROP*) now reach a control command's name too; a deny of the type still blocks every name.
    assert.equal(defaults().check(type, 'CUSTOM_COMMAND:drop_tables').allowed, false);
    assert.equal(new SecurityPolicy(['CONTROL:CUSTOM_COMMAND'], []).check(type, 'CUSTOM_COMMAND:reduce_complexity').allowed, false);
    // An allow list admits the command when it lists either name; deny still wins over both.
    assert.equal(new SecurityPolicy([], ['CONTROL:*']).check(type, 'CUSTOM_COMMAND:anything').allowed, true);
    assert.equal(new SecurityPolicy([], ['CUSTOM_COMMAND:warm_*']).check(type, 'CUSTOM_COMMAND:warm_up').allowed, true);
    const neither = new SecurityPolicy([], ['ECHO']).check(type, 'CUSTOM_COMMAND:warm_up');
    assert.equal(neither.allowed, false);
    assert.match(neither.reason!, /'CONTROL:CUSTOM_COMMAND' matches none of the allow patterns/);
    assert.equal(new SecurityPolicy(['*warm*'], ['CONTROL:*']).check(type, 'CUSTOM_COMMAND:warm_up').allowed, false);
  });
});
