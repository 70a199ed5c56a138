// Debian's real redis-server for the cluster tier and the in-host suite: on 127.0.0.1, a free port, no persistence, its folder in a
// temp dir; stopped, killed or frozen (and started again on the same port) by the test. The tier installs the package when root.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net';

export const REDIS_SERVER = process.env.AIOS_REDIS_SERVER ?? '/usr/bin/redis-server';

/** One PING over a raw socket: true when the server answers +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.once('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'aios-redis-'));
  private output = '';
  port = 0;

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts it (on the same port as before when started again) and waits until it answers PING. */
  async start(): Promise<void> {
    if (!existsSync(REDIS_SERVER))
      throw new Error(`redis-server not found at ${REDIS_SERVER}: run the cluster tier as root (it installs Debian's redis-server), or set AIOS_REDIS_SERVER`);
    if (this.port === 0) this.port = await freePort();
    const child = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'warning', '--daemonize', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    const keep = (c: Buffer) => (this.output = (this.output + c.toString()).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (await ping(this.port)) return;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on port ${this.port}: ${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops it (SIGTERM; SIGKILL: no chance to close anything) and waits until the process is gone. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }

  /** POSIX: freezes it (SIGSTOP) with its connections open, or thaws it (SIGCONT). */
  freeze(frozen: boolean): void {
    this.child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  async dispose(): Promise<void> {
    this.freeze(false);
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
