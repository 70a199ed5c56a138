// Provisions the real VS Code host used by `npm start` and `npm test`: code-server from npm, which needs
// Node 24 (the `node-<os>-<arch>` npm package ships it), plus Debian's chromium to drive it. Everything
// goes into a git-ignored cache folder (like test-electron's .vscode-test/) and is reused after the first
// run; a marker file says an install finished, so a broken half-install is redone, never trusted.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

export const CODE_SERVER_VERSION = '4.139.1';
export const NODE_VERSION = '24.21.0';
const DEBIAN_PACKAGES = ['chromium', 'libkrb5-dev'];

import { repoRoot } from './paths.mjs';
export { repoRoot };
export const cacheDir = resolve(process.env.AIOS_HOST_CACHE ?? join(repoRoot, '.vscode-test'));

const log = (msg) => process.stderr.write(`[host] ${msg}\n`);

function nodePackageName() {
  const os = { linux: 'linux', darwin: 'darwin', win32: 'win' }[process.platform];
  if (!os) throw new Error(`No Node ${NODE_VERSION} package on npm for platform ${process.platform}`);
  return `node-${os}-${process.arch}`;
}

export function paths() {
  const node24Dir = join(cacheDir, `node-${NODE_VERSION}`);
  const node24 = process.platform === 'win32' ? join(node24Dir, 'bin', 'node.exe') : join(node24Dir, 'bin', 'node');
  const csPrefix = join(cacheDir, `code-server-${CODE_SERVER_VERSION}`);
  const codeServer = join(csPrefix, 'node_modules', 'code-server');
  return { node24Dir, node24, csPrefix, codeServer, entry: join(codeServer, 'out', 'node', 'entry.js') };
}

/** The browser that playwright-core drives: AIOS_CHROMIUM, else Debian's. */
export function chromiumPath() {
  return process.env.AIOS_CHROMIUM ?? '/usr/bin/chromium';
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

function missingDebianPackages(names) {
  if (process.platform !== 'linux' || !existsSync('/usr/bin/dpkg-query')) return [];
  return names.filter((name) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', name], { encoding: 'utf8' });
    return !(r.stdout ?? '').includes('install ok installed');
  });
}

let aptUpdated = false;

/**
 * Installs the Debian packages `names` that are missing, when running as root on Debian/Ubuntu; otherwise
 * throws with the apt-get line to run. `purpose` says in the message what they are for. Elsewhere (no dpkg)
 * nothing is checked: the caller finds its program or says what to install.
 */
export function ensureDebianPackages(names, purpose) {
  const missing = missingDebianPackages(names);
  if (missing.length === 0) return;
  if (!isRoot() || !existsSync('/usr/bin/apt-get')) {
    throw new Error(
      `${purpose} needs the Debian packages: ${missing.join(', ')}.\n` +
        `Install them with: sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`,
    );
  }
  log(`installing Debian packages: ${missing.join(', ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  aptUpdated = true;
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
}

function ensureSystemPackages() {
  ensureDebianPackages(DEBIAN_PACKAGES, 'The VS Code host');
  if (!existsSync(chromiumPath())) {
    throw new Error(`Chromium not found at ${chromiumPath()}: install it, or set AIOS_CHROMIUM to its path.`);
  }
}

function ensureNode24() {
  const { node24Dir, node24 } = paths();
  const marker = join(node24Dir, '.complete');
  if (existsSync(marker)) return;
  rmSync(node24Dir, { recursive: true, force: true });
  mkdirSync(node24Dir, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'aios-node24-'));
  try {
    log(`fetching Node ${NODE_VERSION} from the npm registry (${nodePackageName()})`);
    execFileSync('npm', ['pack', `${nodePackageName()}@${NODE_VERSION}`, '--pack-destination', tmp, '--silent'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      shell: process.platform === 'win32',
    });
    const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack produced no tarball for ${nodePackageName()}`);
    execFileSync('tar', ['xzf', join(tmp, tarball), '--strip-components=1', '-C', node24Dir], { stdio: 'inherit' });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  if (!existsSync(node24)) throw new Error(`Node ${NODE_VERSION} package did not contain ${node24}`);
  writeFileSync(marker, NODE_VERSION);
}

function ensureCodeServer() {
  const { node24Dir, csPrefix, entry } = paths();
  const marker = join(csPrefix, '.complete');
  if (existsSync(marker) && existsSync(entry)) return;
  rmSync(csPrefix, { recursive: true, force: true });
  mkdirSync(csPrefix, { recursive: true });
  writeFileSync(join(csPrefix, 'package.json'), JSON.stringify({ name: 'aios-vscode-host', private: true }));
  log(`installing code-server ${CODE_SERVER_VERSION} into ${csPrefix} (once; ~2-3 minutes)`);
  // code-server's install script runs whichever `node` is first on PATH and refuses anything but Node 24;
  // its native modules build against Node 24's headers.
  // Under `npm test` the outer npm (on the project's Node) exports npm_* and NODE variables that make the
  // nested install's scripts run on that Node instead: start from an environment without them.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|node$|init_cwd$)/i.test(k)));
  const sep = process.platform === 'win32' ? ';' : ':';
  const env = {
    ...inherited,
    PATH: `${join(node24Dir, 'bin')}${sep}${process.env.PATH}`,
    npm_config_nodedir: node24Dir,
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
  execFileSync('npm', ['install', '--prefix', csPrefix, '--no-save', '--loglevel=error', `code-server@${CODE_SERVER_VERSION}`], {
    stdio: 'inherit',
    env,
    shell: process.platform === 'win32',
  });
  if (!existsSync(entry)) throw new Error(`code-server install finished without ${entry}`);
  writeFileSync(marker, CODE_SERVER_VERSION);
}

/** Makes the host ready and returns where its parts are. Idempotent and cheap once provisioned. */
export function provision() {
  ensureSystemPackages();
  ensureNode24();
  ensureCodeServer();
  return { ...paths(), chromium: chromiumPath() };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const p = provision();
    log(`ready: code-server ${CODE_SERVER_VERSION} at ${p.codeServer}`);
  } catch (err) {
    log(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
}
