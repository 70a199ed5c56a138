import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { serviceEnvironment } from '../../../src/python/environment';

describe('serviceEnvironment', () => {
  it("puts the service's folder first on PYTHONPATH and keeps the rest", () => {
    const base = { PYTHONPATH: '/opt/lib', HOME: '/home/u' };
    const env = serviceEnvironment(base, '/ext/python', 'linux');
    assert.equal(env.PYTHONPATH, '/ext/python:/opt/lib');
    assert.equal(env.HOME, '/home/u');
    assert.equal(env.PYTHONUNBUFFERED, '1');
    assert.equal(env.PYTHONIOENCODING, 'utf-8');
    assert.equal(base.PYTHONPATH, '/opt/lib', "the caller's object is not changed");
    assert.equal(serviceEnvironment({}, '/ext/python', 'linux').PYTHONPATH, '/ext/python');
  });

  it('matches Windows variable names whatever their case, so no duplicate reaches the child', () => {
    const env = serviceEnvironment({ PythonPath: 'C:\\lib', PythonIOEncoding: 'cp1252', Path: 'C:\\Windows' }, 'C:\\ext\\python', 'win32');
    assert.deepEqual(Object.keys(env).filter((k) => k.toUpperCase() === 'PYTHONPATH'), ['PYTHONPATH']);
    assert.equal(env.PYTHONPATH, 'C:\\ext\\python;C:\\lib');
    assert.deepEqual(Object.keys(env).filter((k) => k.toUpperCase() === 'PYTHONIOENCODING'), ['PYTHONIOENCODING']);
    assert.equal(env.PYTHONIOENCODING, 'utf-8');
    assert.equal(env.Path, 'C:\\Windows');
  });

  it('leaves a differently spelled variable alone on POSIX, where it is another variable', () => {
    const env = serviceEnvironment({ PythonPath: '/x' }, '/ext/python', 'darwin');
    assert.equal(env.PythonPath, '/x');
    assert.equal(env.PYTHONPATH, '/ext/python');
  });
});
