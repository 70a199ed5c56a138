// Which Python the test tooling runs: AIOS_PYTHON, else the usual names per platform. And which others the
// service's own tests also run on, so "Python 3.9 or newer" is checked wherever more than one is installed.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

export function pythonCommand() {
  if (process.env.AIOS_PYTHON) return [process.env.AIOS_PYTHON];
  const candidates = process.platform === 'win32' ? [['py', '-3'], ['python'], ['python3']] : [['python3'], ['python']];
  for (const c of candidates) {
    const r = spawnSync(c[0], [...c.slice(1), '-c', 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)']);
    if (r.status === 0) return c;
  }
  throw new Error('No Python 3.9+ found: install Python 3, or set AIOS_PYTHON to an interpreter.');
}

/**
 * Other interpreters for the service's tests: AIOS_EXTRA_PYTHONS (paths, separated like PATH; empty = none),
 * else one of each 3.9+ minor version pyenv has installed. Versions equal to the default's are left out.
 */
export function extraPythons(defaultCommand) {
  const version = (cmd) => {
    const r = spawnSync(cmd[0], [...cmd.slice(1), '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  const seen = new Set([version(defaultCommand)]);
  let candidates;
  if (process.env.AIOS_EXTRA_PYTHONS !== undefined) {
    candidates = process.env.AIOS_EXTRA_PYTHONS.split(delimiter).filter(Boolean);
  } else {
    const versions = join(process.env.PYENV_ROOT || join(homedir(), '.pyenv'), 'versions');
    const bin = process.platform === 'win32' ? 'python.exe' : join('bin', 'python3');
    candidates = existsSync(versions)
      ? readdirSync(versions)
          .filter((v) => /^3\.(9|\d\d)\.\d+$/.test(v))
          .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
          .map((v) => join(versions, v, bin))
          .filter((p) => existsSync(p))
      : [];
  }
  const picked = [];
  for (const path of candidates) {
    const v = version([path]);
    if (v && !seen.has(v) && Number(v.split('.')[1]) >= 9) {
      seen.add(v);
      picked.push({ path, version: v });
    }
  }
  return picked;
}
