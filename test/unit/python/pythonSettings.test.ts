import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_PYTHON_SETTINGS, validatePythonSettings } from '../../../src/python/pythonSettings';

describe('validatePythonSettings', () => {
  it('takes valid values and trims the interpreter path', () => {
    const { settings, errors } = validatePythonSettings({ healthIntervalMs: 2000, maxRestarts: 0, interpreterPath: '  /usr/bin/python3 ' });
    assert.deepEqual(errors, []);
    assert.equal(settings.healthIntervalMs, 2000);
    assert.equal(settings.maxRestarts, 0);
    assert.equal(settings.interpreterPath, '/usr/bin/python3');
  });

  it('keeps the value in force for an invalid one and names the setting, the range and what is kept', () => {
    const base = { ...DEFAULT_PYTHON_SETTINGS, healthTimeoutMs: 4000 };
    const { settings, errors } = validatePythonSettings({ healthTimeoutMs: 50, restartWindowMs: 1.5 }, base);
    assert.equal(settings.healthTimeoutMs, 4000);
    assert.equal(settings.restartWindowMs, DEFAULT_PYTHON_SETTINGS.restartWindowMs);
    assert.deepEqual(errors, [
      'aios.python.healthTimeoutMs must be an integer from 100 to 600000 (got 50); keeping 4000',
      'aios.python.restartWindowMs must be an integer from 1000 to 86400000 (got 1.5); keeping 180000',
    ]);
  });

  it('an empty or missing interpreter path means: find one', () => {
    assert.equal(validatePythonSettings({ interpreterPath: '   ' }).settings.interpreterPath, undefined);
    assert.equal(validatePythonSettings({}).settings.interpreterPath, undefined);
    assert.match(validatePythonSettings({ interpreterPath: 3 }).errors[0], /^aios\.python\.interpreterPath must be a path \(got 3\)/);
  });
});
