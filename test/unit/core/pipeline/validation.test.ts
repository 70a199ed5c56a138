import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestError, validateRequest } from '../../../../src/core/pipeline/validation';

const bad = (input: unknown, pattern: RegExp, max = 1024): void =>
  assert.throws(
    () => validateRequest(input, max),
    (e: unknown) => e instanceof RequestError && e.code === 'invalid_request' && pattern.test(e.message),
  );

describe('validateRequest', () => {
  it('normalises priority and serialises parameters once', () => {
    const r = validateRequest({ commandType: 'ANALYZE', priority: 'high', parameters: { a: 1 } }, 1024);
    assert.equal(r.priority, 'HIGH');
    assert.equal(r.parametersJson, '{"a":1}');
    assert.deepEqual(validateRequest({ commandType: 'x' }, 1024).parameters, {});
    assert.equal(validateRequest({ commandType: 'x' }, 1024).priority, 'NORMAL');
  });

  it('explains each kind of bad input', () => {
    bad(null, /must be an object/);
    bad({ commandType: '' }, /commandType must be 1-128 characters/);
    bad({ commandType: 'rm -rf /' }, /commandType must be/);
    bad({ commandType: 'A'.repeat(129) }, /commandType must be/);
    bad({ commandType: 'X', priority: 'URGENT' }, /priority must be HIGH, NORMAL or LOW \(got "URGENT"\)/);
    bad({ commandType: 'X', parameters: [1] }, /parameters must be an object/);
    bad({ commandType: 'X', parameters: { n: 1n } }, /parameters must be plain JSON data/);
    bad({ commandType: 'X', source: 5 }, /source must be a string/);
  });

  it('bounds parameters by their UTF-8 size, not their length', () => {
    validateRequest({ commandType: 'X', parameters: { s: 'a'.repeat(100) } }, 120);
    bad(
      { commandType: 'X', parameters: { s: 'é'.repeat(100) } },
      /parameters are 208 bytes as JSON, more than the 120 allowed \(setting aios\.maxParameterBytes\)/,
      120,
    );
  });

  it('rejects cycles with a readable message', () => {
    const p: Record<string, unknown> = {};
    p.self = p;
    bad({ commandType: 'X', parameters: p }, /plain JSON data/);
  });
});
