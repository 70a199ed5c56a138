import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { interpreterChoices, interpreterPaths } from '../../../src/python/interpreterChoices';

describe('interpreter choices', () => {
  it('finds the Python extension, workspace venvs, PATH and pyenv, in that order, each path once (POSIX layout)', () => {
    const files = new Set([
      '/ext/python',
      '/w/.venv/bin/python',
      '/w/env/bin/python',
      '/usr/bin/python3',
      '/usr/bin/python',
      '/home/u/.pyenv/versions',
      '/home/u/.pyenv/versions/3.11.7/bin/python',
      '/home/u/.pyenv/shims/python3',
    ]);
    const found = interpreterPaths({
      platform: 'linux',
      env: { PATH: '/home/u/.pyenv/shims:/usr/bin:/usr/bin' },
      folders: ['/w'],
      pythonExtension: '/ext/python',
      home: '/home/u',
      exists: (p) => files.has(p),
      list: () => ['3.11.7', '3.12.1'],
    });
    assert.deepEqual(found, [
      { path: '/ext/python', source: 'python-extension' },
      { path: '/w/.venv/bin/python', source: 'workspace venv' },
      { path: '/w/env/bin/python', source: 'workspace venv' },
      { path: '/usr/bin/python3', source: 'PATH' },
      { path: '/usr/bin/python', source: 'PATH' },
      { path: '/home/u/.pyenv/versions/3.11.7/bin/python', source: 'pyenv' },
    ]);
  });

  it('uses the Windows layout: Scripts\\python.exe, py.exe on Path, pyenv-win', () => {
    const files = new Set(['C:\\w\\.venv\\Scripts\\python.exe', 'C:\\Py\\python.exe', 'C:\\Windows\\py.exe', 'C:\\Users\\u\\.pyenv\\pyenv-win\\versions']);
    const found = interpreterPaths({
      platform: 'win32',
      env: { Path: 'C:\\Py;C:\\Windows' },
      folders: ['C:\\w'],
      home: 'C:\\Users\\u',
      exists: (p) => files.has(p),
      list: () => [],
    });
    assert.deepEqual(
      found.map((c) => c.path),
      ['C:\\w\\.venv\\Scripts\\python.exe', 'C:\\Py\\python.exe', 'C:\\Windows\\py.exe'],
    );
  });

  it('probes the real ones: a workspace venv stays apart from the Python it was made from', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aios-venv-'));
    try {
      const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
      // A venv without pip: fast, offline.
      execFileSync(python, ['-m', 'venv', '--without-pip', join(dir, '.venv')]);
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      symlinkSync(python, join(bin, 'python3'));
      const choices = await interpreterChoices({ platform: 'linux', env: { PATH: bin }, folders: [dir], home: dir });
      assert.deepEqual(
        choices.map((c) => [c.path, c.source]),
        [
          [join(dir, '.venv', 'bin', 'python'), 'workspace venv'],
          [join(bin, 'python3'), 'PATH'],
        ],
      );
      assert.ok(choices.every((c) => c.version[0] === 3 && !c.tooOld));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
