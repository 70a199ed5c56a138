// Starts code-server (a real VS Code host) on loopback with everything it writes kept in a temp folder,
// in its own process group so that disposing it also ends its extension host, watcher and the Python
// service the extension started. Cleanup runs on normal exit, Ctrl-C and SIGTERM alike.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const log = (msg) => process.stderr.write(`[host] ${msg}\n`);

/** Settings that keep the workbench quiet and offline; callers may add their own. */
const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none',
  'chat.disableAIFeatures': true,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'workbench.tips.enabled': false,
  'git.enabled': false,
  'security.workspace.trust.enabled': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
};

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

/** One temp root for everything a run writes: code-server data, extensions, XDG dirs, browser profile. */
export function makeSandbox(prefix = 'aios-host-') {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const dirs = {
    root,
    data: join(root, 'data'),
    exts: join(root, 'extensions'),
    xdgConfig: join(root, 'xdg-config'),
    xdgData: join(root, 'xdg-data'),
    xdgCache: join(root, 'xdg-cache'),
  };
  for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
  return dirs;
}

/** XDG variables that keep code-server and Chromium from writing under the user's home. */
export function sandboxEnv(sandbox) {
  return { XDG_CONFIG_HOME: sandbox.xdgConfig, XDG_DATA_HOME: sandbox.xdgData, XDG_CACHE_HOME: sandbox.xdgCache };
}

function killGroup(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (process.platform === 'win32') {
    spawnSync('taskkill', ['/pid', String(child.pid), '/T', '/F'], { stdio: 'ignore' });
    return;
  }
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return; // the group is already gone
  }
  // Give the extension host a moment to deactivate (it stops the Python service), then make sure.
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    try {
      process.kill(-child.pid, 0);
    } catch {
      return;
    }
    spawnSync('sleep', ['0.1']);
  }
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/**
 * Starts code-server and resolves once /healthz answers.
 * @param {{ host: ReturnType<import('./provision.mjs').provision>, folder: string, sandbox?: ReturnType<typeof makeSandbox>,
 *           settings?: object, smokeTestDriver?: boolean, extensionLinks?: Record<string,string>, verbose?: boolean,
 *           env?: Record<string,string>, port?: number }} opts
 */
export async function startCodeServer(opts) {
  const sandbox = opts.sandbox ?? makeSandbox();
  const port = opts.port ?? (await freePort());
  mkdirSync(join(sandbox.data, 'User'), { recursive: true });
  writeFileSync(join(sandbox.data, 'User', 'settings.json'), JSON.stringify({ ...QUIET_SETTINGS, ...opts.settings }, null, 2));
  for (const [name, target] of Object.entries(opts.extensionLinks ?? {})) {
    // A symlink (a junction on Windows) is how code-server picks up an unpacked extension.
    const { symlinkSync } = await import('node:fs');
    symlinkSync(target, join(sandbox.exts, name), process.platform === 'win32' ? 'junction' : 'dir');
  }
  const args = [
    opts.host.entry,
    '--config',
    join(sandbox.root, 'config.yaml'),
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--user-data-dir',
    sandbox.data,
    '--extensions-dir',
    sandbox.exts,
  ];
  if (opts.smokeTestDriver) args.push('--vscode-option', 'enable-smoke-test-driver');
  args.push(opts.folder);

  const logFile = join(sandbox.root, 'code-server.log');
  const out = createWriteStream(logFile);
  const child = spawn(opts.host.node24, args, {
    detached: process.platform !== 'win32',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...sandboxEnv(sandbox), ...opts.env },
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream.pipe(out, { end: false });
    if (opts.verbose) stream.pipe(process.stderr, { end: false });
  }

  let disposed = false;
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    killGroup(child);
    process.off('exit', dispose);
    rmSync(sandbox.root, { recursive: true, force: true, maxRetries: 3 });
  };
  process.on('exit', dispose);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      dispose();
      process.exit(130);
    });
  }

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      const tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
      dispose();
      throw new Error(`code-server exited with code ${child.exitCode} before it was ready:\n${tail}`);
    }
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      dispose();
      throw new Error(`code-server did not answer ${url}/healthz within 60 s (log: ${logFile})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  log(`code-server is up at ${url}`);
  return { url, port, sandbox, child, logFile, dispose };
}

/** Launches Debian's Chromium through playwright-core with a profile inside the sandbox. */
export async function launchBrowser(host, sandbox) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: host.chromium,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    env: { ...process.env, ...sandboxEnv(sandbox) },
  });
}
