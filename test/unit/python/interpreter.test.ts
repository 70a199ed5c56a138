import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InterpreterNotFoundError, pathCandidates, probeInterpreter, resolveInterpreter, type InterpreterCandidate, type Probe } from '../../../src/python/interpreter';

/** A probe answering from a table keyed by the candidate's command line. */
function tableProbe(table: Record<string, [string, [number, number, number]] | Error>): Probe & { calls: string[] } {
  const calls: string[] = [];
  const probe = async (c: InterpreterCandidate) => {
    const key = [c.command, ...c.args].join(' ');
    calls.push(key);
    const answer = table[key];
    if (!answer) throw Object.assign(new Error(`spawn ${c.command} ENOENT`), { code: 'ENOENT' });
    if (answer instanceof Error) throw answer;
    return { executable: answer[0], version: answer[1] };
  };
  return Object.assign(probe, { calls });
}

describe('interpreter discovery', () => {
  it('prefers the setting, then the Python extension, then PATH', async () => {
    const probe = tableProbe({ '/opt/py/bin/python': ['/opt/py/bin/python3.12', [3, 12, 1]], '/env/python': ['/env/python', [3, 11, 0]], python3: ['/usr/bin/python3.11', [3, 11, 2]] });
    const fromSetting = await resolveInterpreter({ setting: ' /opt/py/bin/python ', pythonExtension: async () => '/env/python', probe, platform: 'linux' });
    assert.equal(fromSetting.source, 'setting');
    assert.equal(fromSetting.executable, '/opt/py/bin/python3.12', 'the real interpreter, not the name given');
    const fromExtension = await resolveInterpreter({ pythonExtension: async () => '/env/python', probe, platform: 'linux' });
    assert.equal(fromExtension.source, 'python-extension');
    const fromPath = await resolveInterpreter({ probe, platform: 'linux' });
    assert.equal(fromPath.source, 'path');
    assert.deepEqual(fromPath.version, [3, 11, 2]);
  });

  it('skips interpreters older than 3.9 and says why when nothing fits', async () => {
    const probe = tableProbe({ python3: ['/usr/bin/python3.8', [3, 8, 10]], python: ['/usr/bin/python2', [2, 7, 18]] });
    await assert.rejects(resolveInterpreter({ probe, platform: 'linux' }), (err: unknown) => {
      assert.ok(err instanceof InterpreterNotFoundError);
      assert.match(err.message, /python3 \(on PATH\): 3\.8\.10 is too old/);
      assert.match(err.message, /python \(on PATH\): 2\.7\.18 is too old/);
      assert.match(err.message, /set "aios\.python\.interpreterPath"/);
      return true;
    });
  });

  it('refuses a setting that does not work instead of falling back to another Python', async () => {
    const probe = tableProbe({ python3: ['/usr/bin/python3.11', [3, 11, 2]] });
    await assert.rejects(resolveInterpreter({ setting: '/nope/python', probe, platform: 'linux' }), (err: unknown) => {
      assert.ok(err instanceof InterpreterNotFoundError);
      assert.match(err.message, /\/nope\/python \(from aios\.python\.interpreterPath\): not found/);
      assert.match(err.message, /Fix or clear "aios\.python\.interpreterPath"/);
      return true;
    });
    assert.deepEqual(probe.calls, ['/nope/python'], 'PATH was not tried');
  });

  it('reports a failing Python extension lookup and goes on', async () => {
    const probe = tableProbe({ python3: ['/usr/bin/python3', [3, 10, 0]] });
    const found = await resolveInterpreter({ pythonExtension: async () => { throw new Error('API not ready'); }, probe, platform: 'linux' });
    assert.equal(found.source, 'path');
  });

  it('uses the py launcher first on Windows', () => {
    assert.deepEqual(pathCandidates('win32').map((c) => [c.command, ...c.args].join(' ')), ['py -3', 'python', 'python3']);
    assert.deepEqual(pathCandidates('darwin').map((c) => c.command), ['python3', 'python']);
  });

  it('probes a real interpreter on this machine', async () => {
    const command = process.env.AIOS_PYTHON ?? (process.platform === 'win32' ? 'python' : 'python3');
    const { executable, version } = await probeInterpreter({ command, args: [], source: 'path' });
    assert.ok(executable.length > 0);
    assert.ok(version[0] >= 3);
  });
});
