// HEALTH_OVERRIDE's values are written in the core (the endpoint and the rules check them) and in the Python
// service (which applies them): one list, compared here with the service's own check.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { HEALTH_OVERRIDE_VALUES } from '../../src/core/types';

const root = resolve(__dirname, '..', '..', '..');

describe('HEALTH_OVERRIDE values', () => {
  it("are the service's", () => {
    const service = readFileSync(join(root, 'python', 'aios_service', 'service.py'), 'utf8');
    const check = service.match(/if status not in \(([^)]*)\):/);
    assert.ok(check, 'service.py checks the override value with `if status not in (...)`');
    const values = [...check[1].matchAll(/"([a-z]+)"/g)].map((m) => m[1]);
    assert.deepEqual(values.sort(), [...HEALTH_OVERRIDE_VALUES].sort());
  });
});
