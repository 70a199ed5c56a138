// The supervisor's lifecycle in plain Node: fake processes, a manual clock, and every decision checked — the
// backoff sequence, the crash window, giving up and recovering, stop() and restart() at awkward moments, a
// hang treated as a crash, callers waiting for a (re)start, the onReady hook, and the one line per crash.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock';
import {
  RESTART_HINT,
  ServiceLifecycle,
  ServiceUnavailableError,
  StartFailure,
  backoffDelay,
  isLanguageClientNoise,
  type ExitStatus,
  type LifecycleSettings,
  type LifecycleSnapshot,
  type LogLevel,
  type ServiceHandle,
  type StartReason,
} from '../../../src/python/lifecycle';

const flush = async (rounds = 10) => {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
};

let nextPid = 1000;

class FakeProcess implements ServiceHandle {
  readonly pid = nextPid++;
  exit: ExitStatus | undefined;
  readonly exited: Promise<ExitStatus>;
  killed = 0;
  stopped = 0;
  pings = 0;
  /** How it answers aios/health. */
  health: 'answer' | 'hang' | 'error' = 'answer';
  private resolveExit!: (e: ExitStatus) => void;

  constructor() {
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  die(exit: ExitStatus = { code: null, signal: 'SIGKILL' }): void {
    if (this.exit) return;
    this.exit = exit;
    this.resolveExit(exit);
  }

  kill(): void {
    this.killed++;
    this.die({ code: null, signal: 'SIGKILL' });
  }

  stop(): Promise<void> {
    this.stopped++;
    this.die({ code: 0, signal: null });
    return Promise.resolve();
  }

  ping(signal: AbortSignal): Promise<string> {
    this.pings++;
    if (this.health === 'answer') return Promise.resolve(`healthy ${this.pid}`);
    if (this.health === 'error') return Promise.reject(new Error('handler raised'));
    return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('cancelled'))));
  }
}

type Step = 'ok' | 'manual' | Error;

interface Launch {
  signal: AbortSignal;
  proc: FakeProcess;
  resolve(): void;
  reject(err: Error): void;
}

class Harness {
  readonly clock = new ManualClock();
  readonly logs: { level: LogLevel; message: string }[] = [];
  readonly changes: LifecycleSnapshot[] = [];
  readonly started: { pid: number; reason: StartReason }[] = [];
  readonly gaveUp: string[] = [];
  readonly launches: Launch[] = [];
  /** What the next launches do; past the end, 'ok'. */
  readonly steps: Step[] = [];
  settings: LifecycleSettings = { healthIntervalMs: 60_000, healthTimeoutMs: 3000, maxRestarts: 5, restartWindowMs: 180_000 };
  onReady: ((proc: FakeProcess, reason: StartReason) => Promise<void>) | undefined;
  readonly life: ServiceLifecycle<FakeProcess, string>;

  constructor(init: Partial<LifecycleSettings> = {}) {
    this.settings = { ...this.settings, ...init };
    this.life = new ServiceLifecycle<FakeProcess, string>({
      clock: this.clock,
      settings: () => this.settings,
      launch: (signal) => this.launch(signal),
      ping: (proc, signal) => proc.ping(signal),
      onReady: (proc, reason) => (this.onReady ? this.onReady(proc, reason) : Promise.resolve()),
      log: (level, message) => this.logs.push({ level, message }),
      onChange: (s) => this.changes.push(s),
      onStarted: (proc, reason) => this.started.push({ pid: proc.pid, reason }),
      onGaveUp: (detail) => this.gaveUp.push(detail),
    });
  }

  private launch(signal: AbortSignal): Promise<FakeProcess> {
    const step = this.steps.shift() ?? 'ok';
    const proc = new FakeProcess();
    return new Promise((resolve, reject) => {
      const entry: Launch = { signal, proc, resolve: () => resolve(proc), reject };
      this.launches.push(entry);
      // As the real launch does: an abandoned start kills what it started, and the connect then fails.
      signal.addEventListener('abort', () => {
        proc.kill();
        reject(new StartFailure('it was ended by SIGKILL during start-up'));
      });
      if (step === 'ok') resolve(proc);
      else if (step instanceof Error) reject(step);
    });
  }

  get proc(): FakeProcess {
    return this.launches[this.launches.length - 1].proc;
  }

  /** Log lines at warn and error: the ones a crash may produce. */
  problems(): string[] {
    return this.logs.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => l.message);
  }

  async advance(ms: number): Promise<void> {
    this.clock.advance(ms);
    await flush();
  }

  /** advance() in steps, letting promises settle after each (as real time would between timers). */
  async walk(ms: number, step: number): Promise<void> {
    for (let t = 0; t < ms; t += step) await this.advance(Math.min(step, ms - t));
  }

  /** Kills the running process as a user's `kill -9` would, and lets the lifecycle see it. */
  async crash(): Promise<void> {
    this.proc.die({ code: null, signal: 'SIGKILL' });
    await flush();
  }
}

describe('ServiceLifecycle', () => {
  it('starts: running with the pid, one initial health ping, reason "first", no downSince', async () => {
    const h = new Harness();
    const proc = await h.life.start();
    assert.equal(h.life.phase, 'running');
    assert.equal(h.life.snapshot.pid, proc.pid);
    assert.equal(h.life.snapshot.downSince, undefined);
    assert.deepEqual(h.started, [{ pid: proc.pid, reason: 'first' }]);
    assert.equal(proc.pings, 1, 'the first health snapshot is fetched at once');
    assert.equal(await h.life.ready(), proc);
    assert.deepEqual(
      h.changes.map((c) => c.phase),
      ['starting', 'running'],
    );
    assert.deepEqual(h.problems(), []);
  });

  it('backoff delays double from 500 ms up to 10 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 20].map(backoffDelay), [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });

  it('restarts after each crash with the backoff sequence, one log line per crash, then gives up once', async () => {
    const h = new Harness({ maxRestarts: 5 });
    await h.life.start();
    const expected = [500, 1000, 2000, 4000, 8000];
    for (const [i, delay] of expected.entries()) {
      const before = h.problems().length;
      const launches = h.launches.length;
      await h.crash();
      assert.equal(h.life.phase, 'backingOff');
      const lines = h.problems().slice(before);
      assert.equal(lines.length, 1, `one line for crash ${i + 1}: ${JSON.stringify(lines)}`);
      assert.match(lines[0], new RegExp(`stopped unexpectedly: it was ended by SIGKILL \\(pid \\d+\\); restarting in ${delay} ms \\(restart ${i + 1} of at most 5\\)$`));
      await h.advance(delay - 1);
      assert.equal(h.launches.length, launches, `no restart before ${delay} ms`);
      await h.advance(1);
      assert.equal(h.launches.length, launches + 1, `restarted after ${delay} ms`);
      assert.equal(h.life.phase, 'running');
      assert.equal(h.life.snapshot.restarts, i + 1);
    }
    assert.deepEqual(
      h.started.map((s) => s.reason),
      ['first', 'crash', 'crash', 'crash', 'crash', 'crash'],
    );
    const before = h.problems().length;
    await h.crash();
    assert.equal(h.life.phase, 'gaveUp');
    assert.deepEqual(h.problems().slice(before), [h.gaveUp[0]], 'giving up is the one line of the last crash');
    assert.equal(h.gaveUp.length, 1);
    assert.match(h.gaveUp[0], /it failed 6 times within 180 s, so it was not restarted again$/);
    await h.advance(600_000);
    assert.equal(h.launches.length, 6, 'no restart after giving up');
    assert.equal(h.gaveUp.length, 1, 'told once');
    await assert.rejects(h.life.ready(), (err: Error) => err instanceof ServiceUnavailableError && err.message.includes(RESTART_HINT));
  });

  it('counts only the crashes within restartWindowMs', async () => {
    const h = new Harness({ maxRestarts: 2, restartWindowMs: 10_000 });
    await h.life.start();
    await h.crash();
    await h.advance(500);
    await h.crash();
    assert.match(h.problems().at(-1)!, /restarting in 1000 ms \(restart 2 of at most 2\)/);
    await h.advance(1000);
    // Both crashes leave the window: the next one is the first again, with the shortest delay.
    await h.advance(10_000);
    await h.crash();
    assert.match(h.problems().at(-1)!, /restarting in 500 ms \(restart 1 of at most 2\)/);
    await h.advance(500);
    await h.crash();
    await h.advance(1000);
    await h.crash();
    assert.equal(h.life.phase, 'gaveUp', 'three crashes within 10 s with maxRestarts 2');
    assert.match(h.gaveUp[0], /it failed 3 times within 10 s/);
  });

  it('maxRestarts 0 gives up at the first crash', async () => {
    const h = new Harness({ maxRestarts: 0 });
    await h.life.start();
    await h.crash();
    assert.equal(h.life.phase, 'gaveUp');
    assert.match(h.gaveUp[0], /failed 1 time within/);
  });

  it('after giving up, restart() starts again with a clean crash history', async () => {
    const h = new Harness({ maxRestarts: 1 });
    await h.life.start();
    await h.crash();
    await h.advance(500);
    await h.crash();
    assert.equal(h.life.phase, 'gaveUp');
    const proc = await h.life.restart();
    assert.equal(h.life.phase, 'running');
    assert.equal(h.life.snapshot.restarts, 0);
    assert.equal(h.started.at(-1)?.reason, 'restart');
    assert.equal(await h.life.ready(), proc);
    await h.crash();
    assert.match(h.problems().at(-1)!, /restarting in 500 ms \(restart 1 of at most 1\)/);
  });

  it('stop() during a backoff cancels the restart and fails the callers waiting for it', async () => {
    const h = new Harness();
    await h.life.start();
    await h.crash();
    assert.equal(h.life.phase, 'backingOff');
    const waiting = h.life.ready();
    await h.life.stop();
    assert.equal(h.life.phase, 'stopped');
    await assert.rejects(waiting, /was stopped/);
    await h.advance(60_000);
    assert.equal(h.launches.length, 1, 'no restart after stop()');
    await assert.rejects(h.life.ready(), ServiceUnavailableError);
  });

  it('stop() during a start abandons it: the process is ended, start() rejects, nothing is counted or retried', async () => {
    const h = new Harness();
    h.steps.push('manual');
    const starting = h.life.start();
    await flush();
    const waiting = h.life.ready();
    await h.life.stop();
    assert.equal(h.launches[0].signal.aborted, true);
    assert.equal(h.launches[0].proc.killed, 1);
    await assert.rejects(starting, /stopped while it was starting/);
    await assert.rejects(waiting, /was stopped/);
    assert.equal(h.life.phase, 'stopped');
    assert.deepEqual(h.problems(), [], 'a stop is not a failure');
    await h.advance(60_000);
    assert.equal(h.launches.length, 1);
  });

  it('a process that comes up after its start was abandoned is stopped, not kept', async () => {
    const h = new Harness();
    h.steps.push('manual');
    const starting = h.life.start();
    await flush();
    // This launch ignores the abort (as one still resolving the interpreter would) and comes up anyway.
    const late = h.launches[0];
    const stopping = h.life.stop();
    late.resolve();
    await stopping;
    await assert.rejects(starting);
    assert.equal(h.life.phase, 'stopped');
    assert.ok(late.proc.exit, 'the late process was ended');
  });

  it('restart() while starting abandons that start; callers waiting get the new process', async () => {
    const h = new Harness();
    h.steps.push('manual', 'manual');
    const first = h.life.start();
    await flush();
    const waiting = h.life.ready();
    const restarting = h.life.restart();
    await flush();
    assert.equal(h.launches.length, 2, 'a second process is starting');
    assert.equal(h.launches[0].signal.aborted, true);
    await assert.rejects(first, /stopped while it was starting/);
    h.launches[1].resolve();
    const proc = await restarting;
    assert.equal(proc, h.launches[1].proc);
    assert.equal(await waiting, proc, 'the waiter was carried over, not failed');
    assert.deepEqual(h.started, [{ pid: proc.pid, reason: 'restart' }]);
  });

  it('restart() from running: every snapshot until the new start says restarting, with downSince set', async () => {
    const h = new Harness();
    const old = await h.life.start();
    h.changes.length = 0;
    const proc = await h.life.restart();
    assert.equal(old.stopped, 1, 'the old process was stopped cleanly');
    assert.notEqual(proc, old);
    const between = h.changes.slice(0, h.changes.findIndex((c) => c.phase === 'starting'));
    assert.deepEqual(
      between.map((c) => [c.phase, c.restarting]),
      [
        ['stopping', true],
        ['stopped', true],
      ],
    );
    assert.ok(between.every((c) => c.downSince !== undefined));
    assert.equal(h.changes.at(-1)?.restarting, false);
    assert.deepEqual(h.problems(), []);
  });

  it('restart({ fresh: true }) reports reason "fresh", kept through a start that fails and is retried', async () => {
    const h = new Harness();
    await h.life.start();
    h.steps.push(new Error('boom'));
    await assert.rejects(h.life.restart({ fresh: true }), /boom/);
    assert.equal(h.life.phase, 'backingOff');
    assert.match(h.problems().at(-1)!, /^The Python service failed to start: boom; restarting in 500 ms \(restart 1 of at most 5\)$/);
    await h.advance(500);
    assert.equal(h.life.phase, 'running');
    assert.deepEqual(
      h.started.map((s) => s.reason),
      ['first', 'fresh'],
    );
  });

  it('a hung service (no health answer in time) is ended and restarted as a crash, in one log line', async () => {
    const h = new Harness({ healthIntervalMs: 5000, healthTimeoutMs: 3000 });
    const proc = await h.life.start();
    await flush(); // the first ping is answered
    proc.health = 'hang';
    await h.advance(5000); // the periodic ping goes out
    assert.equal(h.life.phase, 'running');
    await h.advance(2999);
    assert.equal(h.life.phase, 'running', 'not before the timeout');
    await h.advance(1);
    assert.equal(h.life.phase, 'backingOff');
    assert.equal(proc.killed, 1, 'the hung process was ended');
    assert.deepEqual(h.problems(), [
      `The Python service did not answer a health check within 3000 ms, so it was ended (pid ${proc.pid}); restarting in 500 ms (restart 1 of at most 5)`,
    ]);
    assert.match(await h.life.describeExit(), /did not answer a health check within 3000 ms/);
    await h.advance(500);
    assert.equal(h.life.phase, 'running');
    assert.deepEqual(
      h.started.map((s) => s.reason),
      ['first', 'hang'],
    );
    assert.equal(h.problems().length, 1, 'the exit the kill caused is not a second crash');
  });

  it('a health ping that fails with an error is not a hang', async () => {
    const h = new Harness({ healthIntervalMs: 1000 });
    const proc = await h.life.start();
    proc.health = 'error';
    await h.walk(5000, 1000);
    assert.equal(h.life.phase, 'running');
    assert.equal(proc.killed, 0);
    assert.ok(proc.pings >= 5);
    assert.ok(h.logs.some((l) => l.level === 'debug' && /health check failed: handler raised/.test(l.message)));
  });

  it('a changed health interval applies at once', async () => {
    const h = new Harness({ healthIntervalMs: 60_000 });
    const proc = await h.life.start();
    h.settings = { ...h.settings, healthIntervalMs: 1000 };
    h.life.settingsChanged();
    await h.walk(3000, 500);
    assert.equal(proc.pings, 1 + 3);
  });

  it('callers waiting during a backoff get the restarted process; a failed restart keeps them waiting', async () => {
    const h = new Harness();
    await h.life.start();
    await h.crash();
    const waiting = h.life.ready();
    let settled = false;
    void waiting.then(() => (settled = true));
    h.steps.push(new Error('no luck'));
    await h.advance(500); // this restart fails
    assert.equal(h.life.phase, 'backingOff');
    assert.equal(settled, false);
    await h.advance(1000);
    assert.equal(await waiting, h.proc);
    assert.equal(h.life.phase, 'running');
  });

  it('callers waiting are failed when it gives up', async () => {
    const h = new Harness({ maxRestarts: 1 });
    await h.life.start();
    await h.crash();
    const waiting = h.life.ready();
    h.steps.push(new Error('still broken'));
    await h.advance(500);
    await assert.rejects(waiting, (err: Error) => err instanceof ServiceUnavailableError && /still broken/.test(err.message) && err.message.includes(RESTART_HINT));
    assert.equal(h.life.phase, 'gaveUp');
  });

  it('a start that cannot succeed by retrying (no interpreter) gives up at once, once', async () => {
    const h = new Harness();
    h.steps.push(new StartFailure('No Python 3.9+ found to run the AIOS service.', false));
    await assert.rejects(h.life.start(), /No Python 3\.9\+ found/);
    assert.equal(h.life.phase, 'gaveUp');
    assert.deepEqual(h.gaveUp, ['No Python 3.9+ found to run the AIOS service.']);
    assert.deepEqual(h.problems(), ['No Python 3.9+ found to run the AIOS service.']);
    await h.advance(600_000);
    assert.equal(h.launches.length, 1);
    assert.notEqual(h.life.snapshot.downSince, undefined);
  });

  it('a start without an answer within the start timeout is abandoned and retried', async () => {
    const h = new Harness();
    h.steps.push('manual');
    const starting = h.life.start();
    await h.advance(29_999);
    assert.equal(h.life.phase, 'starting');
    await h.advance(1);
    await assert.rejects(starting, /no answer to initialize within 30 s/);
    assert.equal(h.launches[0].signal.aborted, true);
    assert.equal(h.life.phase, 'backingOff');
    await h.advance(500);
    assert.equal(h.life.phase, 'running');
    assert.equal(h.started[0].reason, 'first', 'a retried start keeps its reason');
  });

  it('start() during a start joins it; start() during a backoff starts at once', async () => {
    const h = new Harness();
    h.steps.push('manual');
    const a = h.life.start();
    const b = h.life.start();
    await flush();
    assert.equal(h.launches.length, 1);
    h.launches[0].resolve();
    assert.equal(await a, await b);
    await h.crash();
    assert.equal(h.life.phase, 'backingOff');
    await h.life.start();
    assert.equal(h.launches.length, 2, 'no wait for the delay');
    assert.equal(h.started.at(-1)?.reason, 'crash');
    await h.advance(10_000);
    assert.equal(h.launches.length, 2, 'the cancelled backoff timer does not start a third');
  });

  it('onReady runs before anyone gets the new process; its failure is logged and the service runs anyway', async () => {
    const h = new Harness();
    let release!: () => void;
    const reasons: StartReason[] = [];
    h.onReady = (_proc, reason) => {
      reasons.push(reason);
      return new Promise<void>((r) => (release = r));
    };
    const starting = h.life.start();
    await flush();
    const waiting = h.life.ready();
    let got = false;
    void waiting.then(() => (got = true));
    await flush();
    assert.equal(h.life.phase, 'starting');
    assert.equal(h.life.handle, undefined);
    assert.equal(got, false, 'not handed out while onReady runs');
    release();
    assert.equal(await starting, await waiting);
    assert.deepEqual(reasons, ['first']);

    h.onReady = () => Promise.reject(new Error('replay broke'));
    await h.life.restart();
    assert.equal(h.life.phase, 'running');
    assert.ok(h.logs.some((l) => l.level === 'warn' && l.message === 'Preparing the new Python service failed: replay broke'));
  });

  it('a process that dies while onReady runs is a failed start, retried', async () => {
    const h = new Harness();
    h.onReady = async (proc) => {
      proc.die({ code: 1, signal: null });
      await flush(2);
    };
    await assert.rejects(h.life.start(), /it exited with code 1 during start-up/);
    assert.equal(h.life.phase, 'backingOff');
    h.onReady = undefined;
    await h.advance(500);
    assert.equal(h.life.phase, 'running');
  });

  it('a process that ends itself with a reason (a handlers module that never finishes importing) is not restarted', async () => {
    const reason = 'importing the workspace handlers module /ws/.aios/handlers.py did not finish within limits.importTimeoutMs';
    // While onReady waits for an answer that never comes: the exit ends the wait, and the start gives up at once.
    const h = new Harness();
    h.onReady = (proc) => {
      proc.die({ code: 78, signal: null, reason });
      return new Promise<void>(() => undefined);
    };
    await assert.rejects(h.life.start(), new RegExp(`^ServiceUnavailableError: The Python service stopped itself during start-up: ${reason}$`));
    assert.equal(h.life.phase, 'gaveUp');
    assert.deepEqual(h.gaveUp, [`The Python service stopped itself during start-up: ${reason}`]);
    await h.advance(600_000);
    assert.equal(h.launches.length, 1, 'never started again by itself');
    // While running (a RELOAD_CONFIG that imports forever): one line, gave up, no restart; start() tries again.
    const r = new Harness();
    const proc = await r.life.start();
    proc.die({ code: 78, signal: null, reason });
    await flush();
    assert.equal(r.life.phase, 'gaveUp');
    assert.deepEqual(r.problems(), [`The Python service stopped itself (pid ${proc.pid}): ${reason}`]);
    assert.equal(await r.life.describeExit(), `it stopped itself: ${reason}`);
    await r.advance(600_000);
    assert.equal(r.launches.length, 1);
    await r.life.start();
    assert.equal(r.life.phase, 'running');
  });

  it('downSince: set when the service goes down, kept while it restarts, cleared when it runs', async () => {
    const h = new Harness();
    await h.life.start();
    await h.advance(1234);
    const crashedAt = h.clock.epochMs();
    await h.crash();
    assert.equal(h.life.snapshot.downSince, crashedAt);
    await h.advance(400);
    assert.equal(h.life.snapshot.downSince, crashedAt);
    h.steps.push('manual');
    await h.advance(100);
    assert.equal(h.life.phase, 'starting');
    assert.equal(h.life.snapshot.downSince, crashedAt, 'still down while the new process starts');
    h.launches.at(-1)!.resolve();
    await flush();
    assert.equal(h.life.phase, 'running');
    assert.equal(h.life.snapshot.downSince, undefined);
    await h.advance(10);
    const stoppedAt = h.clock.epochMs();
    await h.life.stop();
    assert.equal(h.life.snapshot.downSince, stoppedAt);
  });

  it('the exit during stop() is expected, not a crash', async () => {
    const h = new Harness();
    const proc = await h.life.start();
    await h.life.stop();
    assert.equal(proc.stopped, 1);
    assert.equal(h.life.phase, 'stopped');
    assert.deepEqual(h.problems(), []);
    await h.advance(60_000);
    assert.equal(h.launches.length, 1);
  });

  it('describeExit() says how the last process ended', async () => {
    const h = new Harness();
    await h.life.start();
    await h.crash();
    assert.equal(await h.life.describeExit(), 'it was ended by SIGKILL');
    await h.advance(500);
    h.proc.die({ code: 3, signal: null });
    await flush();
    assert.equal(h.life.lastExitDescription, 'it exited with code 3');
  });

  it('after dispose() nothing starts', async () => {
    const h = new Harness();
    await h.life.start();
    await h.life.dispose();
    await assert.rejects(h.life.start(), /shutting down/);
    await assert.rejects(h.life.restart(), /shutting down/);
  });
});

describe('isLanguageClientNoise', () => {
  it("recognises the client's connection noise and nothing the service says", () => {
    for (const noise of [
      'Connection to server got closed. Server will not be restarted.',
      'Stopping server failed\nError: Connection is disposed.\n    at throwIfClosedOrDisposed (x.js:1:1)',
      'Stopping server timed out',
      'Server initialization failed.\n  Message: Pending response rejected since connection got disposed\n  Code: -32097',
      'Client AIOS Python Service: connection to server is erroring.\nwrite EPIPE',
      'Sending request failed.',
    ]) {
      assert.equal(isLanguageClientNoise(noise), true, noise);
    }
    for (const line of [
      '[aios_service] aios-service 0.1.0 ready (pid 1, Python 3.11.7)',
      '[python] Traceback (most recent call last):',
      'Handling connection close failed',
      'the user wrote: Connection to server got closed. (quoted)',
    ]) {
      assert.equal(isLanguageClientNoise(line), false, line);
    }
  });
});
