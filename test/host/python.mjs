// Which Python the test tooling runs: AIOS_PYTHON, else the usual names per platform.
import { spawnSync } from 'node:child_process';

export function pythonCommand() {
  if (process.env.AIOS_PYTHON) return [process.env.AIOS_PYTHON];
  const candidates = process.platform === 'win32' ? [['py', '-3'], ['python'], ['python3']] : [['python3'], ['python']];
  for (const c of candidates) {
    const r = spawnSync(c[0], [...c.slice(1), '-c', 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)']);
    if (r.status === 0) return c;
  }
  throw new Error('No Python 3.9+ found: install Python 3, or set AIOS_PYTHON to an interpreter.');
}
