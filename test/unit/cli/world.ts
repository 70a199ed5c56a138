// A window for the CLI tests: a real middleware, the real IPC server on a real socket, and the real bundled
// CLI (dist/cli/aios.js, built by esbuild.mjs, installed with its launchers by installCli) started as a
// child process, through its launcher or not.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { installCli } from '../../../src/cli/install';
import { CliServer, newSecret, socketLocation, type CliControlCall, type CliHost } from '../../../src/cli/server';
import { createMiddleware, type Middleware } from '../../../src/core/pipeline';
import { StaticSampler } from '../../../src/core';
import type { TelemetryEvent } from '../../../src/core/types';

export function repoRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`No repository root above ${__dirname}`);
    dir = parent;
  }
  return dir;
}

/** The CLI as esbuild.mjs builds it, and as the extension installs it (with its launchers) for terminals. */
export const BUILT_CLI = join(repoRoot(), 'dist', 'cli', 'aios.js');
const installDir = mkdtempSync(join(tmpdir(), 'aios-cli-install-'));
const installed = installCli(installDir, BUILT_CLI);
process.on('exit', () => rmSync(installDir, { recursive: true, force: true }));
export const CLI_MAIN = installed.main;
export const LAUNCHER = join(installed.bin, 'aios');

export interface World {
  mw: Middleware;
  server: CliServer;
  host: CliHost;
  secret: string;
  dir: string;
  events: TelemetryEvent[];
  controls: CliControlCall[];
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Starts `aios <args>` (node dist/cli/aios.js, or the sh launcher). */
  cli(args: string[], options?: { launcher?: boolean; env?: NodeJS.ProcessEnv; cwd?: string }): Cli;
  close(): Promise<void>;
}

export interface Cli {
  child: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  /** Exit code (or 128 + signal number, as a shell would report it) and the output. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

export async function world(config: Record<string, unknown> = {}): Promise<World> {
  const mw = createMiddleware({ sampler: new StaticSampler({ cpuPercent: 10 }), config });
  const events: TelemetryEvent[] = [];
  mw.telemetry.onEvent((e) => events.push(e));
  const controls: CliControlCall[] = [];
  const host: CliHost = {
    execute: (request, executor, options) => mw.execute(request, executor, options),
    // The window's control plane runs through the same pipeline without a slot; its service is a function here.
    control: (call, options) =>
      mw.execute(
        { commandType: `CONTROL:${call.operation}`, priority: 'HIGH', parameters: { ...call.parameters }, source: call.source },
        () => {
          controls.push(call);
          return { operation: call.operation, applied: call.value ?? null };
        },
        { signal: options.signal, bypassAdmission: true },
      ),
    status: () => ({ admission: mw.admission, service: { status: 'healthy' }, system: mw.sampler.latest() }),
    query: (level) => mw.telemetry.query(level),
    recentEvents: () => mw.telemetry.recentEvents(),
    onEvent: (listener) => mw.telemetry.onEvent(listener),
  };
  const dir = mkdtempSync(join(tmpdir(), 'aios-cli-test-'));
  const secret = newSecret();
  const server = await CliServer.listen({ host, path: socketLocation({ baseDir: dir }).path, secret });
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    ...process.env,
    AIOS_CLI_SOCKET: server.path,
    AIOS_CLI_SECRET: secret,
    AIOS_CLI_NODE: process.execPath,
    AIOS_CLI_MAIN: CLI_MAIN,
    ...extra,
  });
  const running = new Set<ChildProcessWithoutNullStreams>();
  return {
    mw,
    server,
    host,
    secret,
    dir,
    events,
    controls,
    env,
    cli(args, options = {}) {
      const child = options.launcher
        ? spawn('sh', [LAUNCHER, ...args], { env: options.env ?? env(), cwd: options.cwd })
        : spawn(process.execPath, [CLI_MAIN, ...args], { env: options.env ?? env(), cwd: options.cwd });
      running.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) =>
        child.on('close', (code, signal) => {
          running.delete(child);
          resolve({ code, signal, stdout, stderr });
        }),
      );
      return { child, stdout: () => stdout, stderr: () => stderr, done };
    },
    async close() {
      for (const c of running) c.kill('SIGKILL');
      await server.close();
      await mw.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `probe` is truthy; fails naming `what` after a failsafe far above any expected wait. */
export async function until<T>(probe: () => T | undefined | false, what: string, failsafeMs = 20_000): Promise<T> {
  const deadline = Date.now() + failsafeMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`never saw ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
