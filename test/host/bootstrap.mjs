// Entry of `npm start` and `npm test` on a fresh clone: installs the locked dependencies when they are
// missing or stale (only Node built-ins are used before that), then hands over.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.mjs';

function depsStale() {
  const installed = join(repoRoot, 'node_modules', '.package-lock.json');
  if (!existsSync(installed)) return true;
  return statSync(join(repoRoot, 'package-lock.json')).mtimeMs > statSync(installed).mtimeMs;
}

if (depsStale()) {
  process.stderr.write('[bootstrap] installing dependencies (npm ci)\n');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: repoRoot,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
}

const [what, ...rest] = process.argv.slice(2);
process.argv = [process.argv[0], process.argv[1], ...rest];
if (what === 'start') await import('./start.mjs');
else if (what === 'test') await import('../run.mjs');
else if (what === 'screenshots') await import('./screenshots.mjs');
else {
  process.stderr.write(`usage: bootstrap.mjs start|test|screenshots [args]\n`);
  process.exit(2);
}
