// The VS Code glue of `aios`: starts the window's IPC server (src/cli/server.ts) and puts `aios` on every
// integrated terminal's PATH through the extension's EnvironmentVariableCollection (as VS Code's git
// extension brings its askpass helper), with the socket, the secret and the host's Node. The collection
// persists across reloads, so the values are replaced on every activation; the socket path and secret of
// the last activation are taken over when nothing answers there any more, so the terminals a reload
// restores keep working.
import { accessSync, constants, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import * as vscode from 'vscode';
import type { AiosContext } from '../context';
import { installCli } from './install';
import { ENV } from './protocol';
import { CliServer, isListening, newSecret, socketLocation, type CliHost } from './server';

/** The part of the extension's services `aios` uses. */
export type CliRegisterHost = Pick<AiosContext, 'middleware' | 'router' | 'control' | 'supervisor' | 'log' | 'extension'>;

/** The extension's context as the CLI server sees it: the one place that knows both. */
export function cliHostOf(ctx: CliRegisterHost): CliHost {
  const { middleware } = ctx;
  return {
    execute: (request, executor, options) => middleware.execute(ctx.router.withDefaultPriority(request), executor, options),
    control: (call, options) => ctx.control(call, options),
    status: () => ({ admission: middleware.admission, service: ctx.supervisor.state, system: middleware.sampler.latest() }),
    query: (level) => middleware.telemetry.query(level),
    recentEvents: () => middleware.telemetry.recentEvents(),
    onEvent: (listener) => middleware.telemetry.onEvent(listener),
  };
}

/** The CLI as built into the extension: installCli copies it from here. */
export function builtCli(extensionPath: string): string {
  return join(extensionPath, 'dist', 'cli', 'aios.js');
}

export function registerCli(ctx: CliRegisterHost): vscode.Disposable {
  let server: CliServer | undefined;
  let disposed = false;
  void start(ctx).then(
    (s) => {
      if (disposed) void s?.close();
      else server = s;
    },
    (err: unknown) => ctx.log.warn(`aios in terminals is off: ${err instanceof Error ? err.message : String(err)}`),
  );
  return {
    dispose: () => {
      disposed = true;
      void server?.close();
    },
  };
}

async function start(ctx: CliRegisterHost): Promise<CliServer | undefined> {
  const built = builtCli(ctx.extension.extensionPath);
  if (!existsSync(built)) {
    ctx.log.warn(`aios in terminals is off: ${built} is missing (build the extension)`);
    return undefined;
  }
  // One folder per version: a window of another version keeps its own files.
  const version = (ctx.extension.extension.packageJSON as { version: string }).version;
  const paths = installCli(join(ctx.extension.globalStorageUri.fsPath, 'cli', version), built);
  const collection = ctx.extension.environmentVariableCollection;
  const host = cliHostOf(ctx);
  const log = (level: 'debug' | 'info' | 'warn', message: string) => ctx.log[level](`aios: ${message}`);

  // The last activation's socket, when this window's restored terminals still name it and nobody answers there.
  const previousPath = collection.get(ENV.socket)?.value;
  const previousSecret = collection.get(ENV.secret)?.value;
  let server: CliServer | undefined;
  let secret = previousSecret;
  if (previousPath && previousSecret && ownLocation(previousPath) && !(await isListening(previousPath))) {
    server = await CliServer.listen({ host, path: previousPath, secret: previousSecret, log }).catch(() => undefined);
  }
  if (!server) {
    secret = newSecret();
    server = await CliServer.listen({ host, path: socketLocation({ baseDir: runtimeDir() }).path, secret, log });
  }

  collection.description = new vscode.MarkdownString(
    "Puts `aios` on `PATH`: `aios run -- <program>` runs a program through this window's AIOS Middleware (policy, queue, telemetry, Cancel).",
  );
  collection.replace(ENV.socket, server.path);
  collection.replace(ENV.secret, secret!);
  collection.replace(ENV.node, process.execPath);
  collection.replace(ENV.main, paths.main);
  collection.prepend('PATH', paths.bin + delimiter);
  // PowerShell finds the AIOS module (Invoke-AIOSCommandWithMiddleware…) by this path.
  collection.prepend('PSModulePath', paths.powershell + delimiter);
  log('info', `listening on ${server.path}; integrated terminals opened from now on have aios on PATH (the launchers are in ${paths.bin})`);
  return server;
}

/** A socket path this extension makes (not one some other setting pointed at). */
function ownLocation(path: string): boolean {
  if (path.startsWith('\\\\.\\pipe\\aios-cli-')) return process.platform === 'win32';
  return /^aios-cli-\d+$/.test(dirname(path).split(/[\\/]/).pop() ?? '') && path.endsWith('.sock');
}

/** $XDG_RUNTIME_DIR (private to the user, cleared at log-out) when usable, else the temp folder. */
function runtimeDir(): string {
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg && process.platform !== 'win32') {
    try {
      accessSync(xdg, constants.W_OK);
      return xdg;
    } catch {
      // not writable: the temp folder
    }
  }
  return tmpdir();
}
