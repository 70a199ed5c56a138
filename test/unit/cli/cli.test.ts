// `aios` end to end in plain Node: the bundled CLI as a child process against the real IPC server on a real
// socket, in front of a real middleware. Exit codes, the events, queueing and Ctrl-C, cancel from the
// window (the process tree ends), timeouts, a CLI that goes away, refusals, status, events and control.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { EXIT, PROTOCOL_VERSION } from '../../../src/cli/protocol';
import type { Executor, TelemetryEvent } from '../../../src/core/types';
import { CLI_MAIN, LAUNCHER, until, world, type World } from './world';
import { running } from '../../support/process';

const posix = process.platform !== 'win32';

/** A child's output and exit status, without blocking the event loop the server under test runs on. */
function output(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('aios CLI against a real window server', () => {
  let w: World;
  beforeEach(async () => {
    w = await world({ maxConcurrency: 1, security: { denyPatterns: ['DENIED*'] } });
  });
  afterEach(async () => {
    await w.close();
  });

  it('run: exits with the program’s code; START then ERROR with exit_code, the code and a duration', async () => {
    const r = await w.cli(['run', '--type', 'EXIT3', '--', process.execPath, '-e', 'process.exit(3)']).done;
    assert.equal(r.code, 3, r.stderr);
    const mine = w.events.filter((e) => e.commandType === 'EXIT3');
    assert.deepEqual(
      mine.map((e) => e.eventType),
      ['START', 'ERROR'],
    );
    assert.equal(mine[0].metadata?.source, 'cli');
    assert.equal(mine[1].metadata?.source, 'cli', 'the end carries its source too');
    assert.equal(mine[1].metadata?.code, 'exit_code');
    assert.match(String(mine[1].metadata?.message), /exited with code 3/);
    assert.equal(typeof mine[1].durationMs, 'number');
    assert.equal(r.stderr, '', 'the program’s own failure needs no words from aios');
  });

  it('run: exit 0 is COMPLETE; the stdio is the terminal’s (stdin reaches the program, its output comes out as is)', async () => {
    const cli = w.cli(['run', '--type', 'CAT', '--', process.execPath, '-e', 'process.stdin.pipe(process.stdout)']);
    cli.child.stdin.end('typed by a person\n');
    const r = await cli.done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'typed by a person\n');
    assert.deepEqual(
      w.events.filter((e) => e.commandType === 'CAT').map((e) => e.eventType),
      ['START', 'COMPLETE'],
    );
  });

  it('run: the type defaults to TERMINAL:<program> (wrappers and folders dropped); the priority goes through', async () => {
    const r = await w.cli(['run', '--priority', 'low', '--', 'env', 'A=1', process.execPath, '-e', '0']).done;
    assert.equal(r.code, 0, r.stderr);
    const start = w.events.find((e) => e.eventType === 'START');
    assert.equal(start?.commandType, 'TERMINAL:node');
    assert.equal(start?.priority, 'LOW');
  });

  it('run: a program a signal ends makes aios end by that signal too (a shell reports 128 + n)', { skip: !posix }, async () => {
    const r = await output('sh', ['-c', `"$0" "$1" run --type SIG -- sh -c 'kill -TERM $$'; echo "code=$?"`, process.execPath, CLI_MAIN], w.env());
    assert.match(r.stdout, /code=143/, r.stderr);
    const err = w.events.find((e) => e.commandType === 'SIG' && e.eventType === 'ERROR');
    assert.match(String(err?.metadata?.message), /SIGTERM/);
  });

  it('run: a type the policy denies prints its message and exits 77 without running anything', async () => {
    const marker = join(w.dir, 'ran');
    const r = await w.cli(['run', '--type', 'DENIED_DEPLOY', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`]).done;
    assert.equal(r.code, EXIT.denied);
    assert.match(r.stderr, /^aios: denied: .*DENIED\*/);
    assert.equal(existsSync(marker), false);
    assert.equal(w.events.find((e) => e.commandType === 'DENIED_DEPLOY')?.metadata?.code, 'blocked');
  });

  it('run: a missing program exits 127 with one line, recorded as not_found', async () => {
    const r = await w.cli(['run', '--', 'no-such-program-aios-test']).done;
    assert.equal(r.code, EXIT.notFound);
    assert.match(r.stderr, /no-such-program-aios-test: command not found/);
    assert.equal(w.events.find((e) => e.eventType === 'ERROR')?.metadata?.code, 'not_found');
    assert.equal(w.mw.admission.active, 0);
  });

  it('run: waits in the queue with a line on stderr; Ctrl-C there cancels (CANCEL, exit 130) and nothing runs', async () => {
    let release!: () => void;
    const held: Executor = () => new Promise<void>((r) => (release = r));
    const holder = w.mw.execute({ commandType: 'HOLDER' }, held);
    const marker = join(w.dir, 'ran');
    const cli = w.cli(['run', '--type', 'WAITER', '--', process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`]);
    // Over the limit, admission gives it a backoff delay first, then a place in the queue: either is waiting.
    await until(() => w.mw.inFlight().find((f) => f.commandType === 'WAITER' && (f.stage === 'queued' || f.stage === 'delayed')), 'the CLI’s command waiting');
    await until(() => /^aios: (queued NORMAL, 0 ahead|delayed NORMAL \(over the concurrency limit)/.test(cli.stderr()), 'the queue line');
    cli.child.kill('SIGINT');
    const r = await cli.done;
    assert.equal(r.code, EXIT.cancelled, r.stderr);
    const cancel = w.events.find((e) => e.commandType === 'WAITER' && e.eventType === 'CANCEL');
    assert.match(String(cancel?.metadata?.stage), /^(queued|delayed)$/);
    assert.equal(existsSync(marker), false);
    release();
    await holder;
    assert.equal(w.mw.admission.active, 0);
  });

  it('run: Cancel from the window interrupts the program and ends its whole tree; the slot comes back', { skip: !posix }, async () => {
    const pidFile = join(w.dir, 'bg.pid');
    // A background child that ignores SIGINT (as sh makes it): only the kill of the tree ends it.
    const cli = w.cli(['run', '--type', 'TREE', '--', 'sh', '-c', `sleep 300 & echo $! > ${pidFile}; sleep 300`]);
    const flight = await until(() => w.mw.inFlight().find((f) => f.commandType === 'TREE' && f.stage === 'running'), 'the command running');
    const bg = Number(await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), 'the background pid'));
    assert.ok(running(bg));
    assert.equal(w.mw.cancel(flight.commandId), true);
    const r = await cli.done;
    assert.equal(r.code, EXIT.cancelled, r.stderr);
    await until(() => !running(bg), 'the background child gone');
    assert.equal(w.events.find((e) => e.commandType === 'TREE' && e.eventType === 'CANCEL')?.metadata?.by, 'user');
    await until(() => w.mw.admission.active === 0, 'the slot back');
  });

  it('run: --timeout stops the program and exits 124 (ERROR timeout)', async () => {
    const r = await w.cli(['run', '--type', 'SLOW', '--timeout', '0.3', '--', process.execPath, '-e', 'setInterval(() => {}, 1000)']).done;
    assert.equal(r.code, EXIT.timeout, r.stderr);
    assert.equal(w.events.find((e) => e.commandType === 'SLOW' && e.eventType === 'ERROR')?.metadata?.code, 'timeout');
  });

  it('run: a CLI that goes away (its terminal closed) settles its command, running or queued: no slot is held', async () => {
    const pidFile = join(w.dir, 'orphan.pid');
    const running = w.cli([
      'run',
      '--type',
      'GONE',
      '--',
      process.execPath,
      '-e',
      `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000)`,
    ]);
    await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8'), 'the program started');
    const queued = w.cli(['run', '--type', 'GONE_Q', '--', process.execPath, '-e', '0']);
    await until(() => w.mw.inFlight().find((f) => f.commandType === 'GONE_Q'), 'the second one queued');
    queued.child.kill('SIGKILL');
    running.child.kill('SIGKILL');
    await until(() => w.mw.inFlight().length === 0, 'both commands settled');
    assert.equal(w.mw.admission.active, 0);
    assert.ok(w.events.some((e) => e.commandType === 'GONE' && e.eventType === 'CANCEL'));
    assert.ok(w.events.some((e) => e.commandType === 'GONE_Q' && e.eventType === 'CANCEL'));
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  });

  it('the launcher runs the CLI with AIOS_CLI_NODE and gives the program its own ELECTRON_RUN_AS_NODE back', { skip: !posix }, async () => {
    const show = ['run', '--type', 'ENV', '--', 'sh', '-c', 'echo "[${ELECTRON_RUN_AS_NODE-unset}]"'];
    const unset = { ...w.env() };
    delete unset.ELECTRON_RUN_AS_NODE;
    assert.equal((await w.cli(show, { launcher: true, env: unset }).done).stdout, '[unset]\n');
    assert.equal((await w.cli(show, { launcher: true, env: w.env({ ELECTRON_RUN_AS_NODE: 'mine' }) }).done).stdout, '[mine]\n');
  });

  it(
    'run: under a real pseudo-terminal the program sees a TTY on stdin and stdout',
    { skip: !posix || spawnSync('script', ['--version']).status !== 0 },
    async () => {
      const inner = `sh ${LAUNCHER} run --type TTY -- sh -c 'test -t 0 && test -t 1 && echo TTY-OK'`;
      const r = await output('script', ['-qec', inner, '/dev/null'], w.env());
      assert.match(r.stdout, /TTY-OK/, r.stderr);
      assert.equal(r.status, 0);
    },
  );

  it('status: one line (the status bar’s), --json its facts, --detail a telemetry report', async () => {
    const line = await w.cli(['status']).done;
    assert.equal(line.code, 0, line.stderr);
    assert.match(line.stdout, /^AIOS 0\/1/);
    assert.equal(line.stdout.split('\n').length, 2);
    const json = await w.cli(['status', '--json', '--detail', 'summary']).done;
    const facts = JSON.parse(json.stdout);
    assert.equal(facts.limit, 1);
    assert.equal(facts.service, 'healthy');
    assert.equal(facts.report.level, 'SUMMARY');
  });

  it('events: recent ones as JSON Lines filtered by --type; --follow streams new ones until Ctrl-C', async () => {
    await w.mw.execute({ commandType: 'PAST_ONE' }, () => 1);
    await w.mw.execute({ commandType: 'OTHER' }, () => 1);
    const past = await w.cli(['events', '--type', 'PAST_*', '--since', '10m']).done;
    const lines = past.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as TelemetryEvent);
    assert.deepEqual(
      lines.map((e) => `${e.commandType} ${e.eventType}`),
      ['PAST_ONE START', 'PAST_ONE COMPLETE'],
    );
    const follow = w.cli(['events', '--follow', '--type', 'LIVE']);
    await until(() => w.server.connectionCount === 1, 'the follower connected');
    // Connected is not yet subscribed: run until one shows up (each run is two events).
    await until(() => {
      void w.mw.execute({ commandType: 'LIVE' }, () => 1);
      return /"eventType":"COMPLETE"/.test(follow.stdout());
    }, 'a LIVE event on the follower');
    follow.child.kill('SIGINT');
    const r = await follow.done;
    assert.equal(r.code, 0);
    assert.ok(
      r.stdout
        .split('\n')
        .filter(Boolean)
        .every((l) => JSON.parse(l).commandType === 'LIVE'),
    );
  });

  it('control: each word maps to its operation through the window’s control plane (recorded as CONTROL:*)', async () => {
    const cases: [string[], string, string | undefined, unknown][] = [
      [['log-level', 'debug'], 'UPDATE_LOG_LEVEL', 'DEBUG', undefined],
      [['flush-cache'], 'FLUSH_CACHE', undefined, { cache_type: 'all' }],
      [['reload-config'], 'RELOAD_CONFIG', undefined, undefined],
      [['health-override', 'unhealthy'], 'HEALTH_OVERRIDE', 'unhealthy', undefined],
      [['bcm-reset'], 'BCM_RESET', undefined, undefined],
      [['custom', 'warm_up', '--args', '{"n":2}'], 'CUSTOM_COMMAND', undefined, { command: 'warm_up', arguments: { n: 2 } }],
    ];
    for (const [args, operation, value, parameters] of cases) {
      const r = await w.cli(['control', ...args]).done;
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      const call = w.controls.at(-1)!;
      assert.equal(call.operation, operation);
      assert.equal(call.value, value);
      assert.deepEqual(call.parameters, parameters);
      assert.equal(call.source, 'cli');
      assert.deepEqual(JSON.parse(r.stdout), { operation, applied: value ?? null });
    }
    assert.ok(w.events.some((e) => e.commandType === 'CONTROL:BCM_RESET' && e.eventType === 'COMPLETE'));
  });

  it('usage errors exit 64 with one line; --help reads as a usage line and examples', async () => {
    for (const args of [
      ['run'],
      ['bogus'],
      ['control'],
      ['control', 'log-level'],
      ['run', '--priority', 'URGENT', '--', 'true'],
      ['events', '--since', 'soon'],
      ['control', 'custom', 'x', '--args', '[1]'],
    ]) {
      const r = await w.cli(args).done;
      assert.equal(r.code, EXIT.usage, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^aios: /);
    }
    const help = await w.cli(['--help']).done;
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: aios <command>/);
    assert.match(help.stdout, /Examples:\n {2}aios run -- npm test/);
    const runHelp = await w.cli(['run', '--help']).done;
    assert.match(runHelp.stdout, /^Usage: aios run \[--type T\]/);
  });

  it('no window: one line saying what to do (69); a socket that is gone, the same; another window’s secret: reopen (76)', async () => {
    const env = { ...process.env };
    delete env.AIOS_CLI_SOCKET;
    const none = await w.cli(['run', '--', 'true'], { env }).done;
    assert.equal(none.code, EXIT.noWindow);
    assert.equal(none.stderr.trim().split('\n').length, 1);
    assert.match(none.stderr, /no VS Code window here .*integrated terminal/);
    const gone = await w.cli(['status'], { env: w.env({ AIOS_CLI_SOCKET: join(w.dir, 'gone.sock') }) }).done;
    assert.equal(gone.code, EXIT.noWindow);
    assert.match(gone.stderr, /the window of this terminal is gone/);
    const other = await w.cli(['status'], { env: w.env({ AIOS_CLI_SECRET: 'another-window' }) }).done;
    assert.equal(other.code, EXIT.protocol);
    assert.match(other.stderr, /another window .*open a new terminal/);
  });

  it('a CLI of another protocol version is told to reopen its terminal', async () => {
    const reply = await new Promise<string>((resolve) => {
      const s = connect(w.server.path);
      let text = '';
      s.setEncoding('utf8').on('data', (c: string) => (text += c));
      s.on('close', () => resolve(text));
      s.write(`${JSON.stringify({ v: PROTOCOL_VERSION + 1, secret: w.secret, op: 'status' })}\n`);
    });
    const m = JSON.parse(reply);
    assert.equal(m.t, 'error');
    assert.equal(m.code, 'protocol');
    assert.equal(m.exitCode, EXIT.protocol);
    assert.match(m.message, /open a new terminal/);
  });

  it('the socket’s directory is 0700 and the socket 0600', { skip: !posix }, () => {
    assert.equal(statSync(join(w.server.path, '..')).mode & 0o777, 0o700);
    assert.equal(statSync(w.server.path).mode & 0o777, 0o600);
  });
});
