// The window server's socket handling and the protocol's pieces: a stale socket (a window that crashed or
// reloaded) is taken over with the same secret so restored terminals keep working, a live one never is, the
// private directory is made 0700, and the framing and exit codes hold.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CONTROL_WORDS, EXIT, encode, exitCodeOf, lineReader, MAX_LINE_BYTES } from '../../../src/cli/protocol';
import { CliServer, isListening, newSecret, socketLocation } from '../../../src/cli/server';
import { CONTROL_OPERATIONS } from '../../../src/python/protocol';
import type { CommandResult } from '../../../src/core/types';
import { CLI_MAIN, until, world } from './world';

const posix = process.platform !== 'win32';

function result(over: Partial<CommandResult>): CommandResult {
  return { commandId: 'c', commandType: 'T', success: false, durationMs: 1, throttled: false, delayMs: 0, ...over };
}

describe('aios protocol', () => {
  it('frames JSON lines across chunk boundaries and refuses a line that is not JSON or too long', () => {
    const got: unknown[] = [];
    const errors: string[] = [];
    const read = lineReader(
      (v) => got.push(v),
      (e) => errors.push(e),
    );
    const text = encode({ t: 'cancel' }) + encode({ t: 'exit', code: 3, signal: null });
    read(text.slice(0, 7));
    read(text.slice(7));
    assert.deepEqual(got, [{ t: 'cancel' }, { t: 'exit', code: 3, signal: null }]);
    read('not json\n');
    assert.match(errors[0], /not a JSON line/);
    read('x'.repeat(MAX_LINE_BYTES + 1));
    assert.match(errors[1], /longer than/);
  });

  it('maps results to exit codes: the program’s, then one per refusal', () => {
    assert.equal(exitCodeOf(result({ success: true, result: { exitCode: 0 } })), 0);
    assert.equal(exitCodeOf(result({ error: { code: 'exit_code', message: '', data: { exitCode: 3 } } })), 3);
    assert.equal(exitCodeOf(result({ error: { code: 'blocked', message: '' } })), EXIT.denied);
    assert.equal(exitCodeOf(result({ error: { code: 'queue_full', message: '' } })), EXIT.queueFull);
    assert.equal(exitCodeOf(result({ error: { code: 'cancelled', message: '' } })), EXIT.cancelled);
    assert.equal(exitCodeOf(result({ error: { code: 'timeout', message: '' } })), EXIT.timeout);
    assert.equal(exitCodeOf(result({ error: { code: 'invalid_request', message: '' } })), EXIT.software);
    const codes = Object.values(EXIT);
    assert.equal(new Set(codes).size, codes.length, 'every exit code means one thing');
  });

  it('aios control has a word for each of the six control operations', () => {
    assert.deepEqual(Object.values(CONTROL_WORDS).sort(), [...CONTROL_OPERATIONS].sort());
  });
});

describe('aios window server: its socket', { skip: !posix }, () => {
  it('makes the private directory 0700 even when it existed with looser permissions', () => {
    const base = mkdtempSync(join(tmpdir(), 'aios-cli-loc-'));
    try {
      const dir = join(base, `aios-cli-${process.getuid!()}`);
      mkdirSync(dir, { mode: 0o755 });
      chmodSync(dir, 0o755);
      const loc = socketLocation({ baseDir: base });
      assert.equal(loc.dir, dir);
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.match(loc.path, /aios-cli-\d+[\\/][0-9a-f]{16}\.sock$/);
      assert.notEqual(socketLocation({ baseDir: base }).path, loc.path, 'a fresh name each time');
      assert.throws(() => socketLocation({ baseDir: base, uid: process.getuid!() + 1 }), /belongs to another user|not a directory/);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('never takes over a socket a live window listens on', async () => {
    const w = await world();
    try {
      await assert.rejects(CliServer.listen({ host: w.host, path: w.server.path, secret: newSecret() }), (e: NodeJS.ErrnoException) => e.code === 'EADDRINUSE');
      assert.equal(await isListening(w.server.path), true, 'the first window still answers');
    } finally {
      await w.close();
    }
  });

  it('takes over the socket of a window that died (a reload, a crash): a terminal with its old secret works again', async () => {
    const w = await world();
    const path = w.server.path;
    await w.server.close();
    // A window killed outright leaves its socket file behind.
    const dead = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise((r) => dead.stdout.once('data', r));
    dead.kill('SIGKILL');
    await new Promise((r) => dead.on('exit', r));
    assert.equal(existsSync(path), true);
    assert.equal(await isListening(path), false);
    const again = await CliServer.listen({ host: w.host, path, secret: w.secret });
    try {
      const cli = spawn(process.execPath, [CLI_MAIN, 'run', '--type', 'AFTER_RELOAD', '--', process.execPath, '-e', '0'], { env: w.env(), stdio: 'ignore' });
      const code = await new Promise((r) => cli.on('exit', r));
      assert.equal(code, 0);
      await until(() => w.events.some((e) => e.commandType === 'AFTER_RELOAD' && e.eventType === 'COMPLETE'), 'the command after the takeover');
      assert.equal(statSync(path).mode & 0o777, 0o600);
    } finally {
      await again.close();
      await w.close();
    }
  });
});

describe('aios install', () => {
  it('writes the script, its package.json, the launchers (aios executable) and the PowerShell module; again only what changed', { skip: !posix }, async () => {
    const { installCli } = await import('../../../src/cli/install');
    const dir = mkdtempSync(join(tmpdir(), 'aios-cli-inst-'));
    try {
      const built = join(dir, 'built.js');
      writeFileSync(built, '// v1\n');
      const at = installCli(join(dir, 'cli'), built);
      assert.equal(readFileSync(at.main, 'utf8'), '// v1\n');
      assert.equal(JSON.parse(readFileSync(join(at.main, '..', 'package.json'), 'utf8')).type, 'commonjs');
      assert.equal(statSync(join(at.bin, 'aios')).mode & 0o777, 0o755);
      assert.match(readFileSync(join(at.bin, 'aios.cmd'), 'utf8'), /^@echo off\r\n/);
      assert.match(readFileSync(join(at.powershell, 'AIOS', 'AIOS.psm1'), 'utf8'), /function Invoke-AIOSCommandWithMiddleware/);
      assert.match(readFileSync(join(at.powershell, 'AIOS', 'AIOS.psd1'), 'utf8'), /FunctionsToExport/);
      const before = statSync(join(at.bin, 'aios')).mtimeMs;
      writeFileSync(built, '// v2\n');
      installCli(join(dir, 'cli'), built);
      assert.equal(readFileSync(at.main, 'utf8'), '// v2\n');
      assert.equal(statSync(join(at.bin, 'aios')).mtimeMs, before, 'an unchanged launcher is not rewritten');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
