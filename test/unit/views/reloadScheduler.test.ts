import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isServiceFile, RELOAD_DEBOUNCE_MS, RELOAD_MAX_WAIT_MS, ReloadScheduler, type ChangeOrigin } from '../../../src/views/reloadScheduler';

const folder = join('/ws', '.aios');
const file = (name: string) => join(folder, name);

/** A scheduler on a hand-driven clock and file system: timers fire when the test says, files have the stamps it sets. */
function world(options: { ready?: boolean; delivered?: boolean } = {}) {
  let now = 0;
  const timers = new Map<number, { fn: () => void; at: number }>();
  let nextTimer = 1;
  const stamps = new Map<string, string>();
  const reloads: { files: string[]; origin: ChangeOrigin }[] = [];
  let ready = options.ready ?? true;
  let delivered = options.delivered ?? true;
  let release: (() => void) | undefined;
  let hold = false;
  const scheduler = new ReloadScheduler(
    {
      stamp: (f) => Promise.resolve(stamps.get(f) ?? 'missing'),
      isReady: () => ready,
      reload: async (files, origin) => {
        reloads.push({ files: [...files].sort(), origin });
        if (hold) await new Promise<void>((r) => (release = r));
        return delivered;
      },
      setTimer: (fn, ms) => {
        const id = nextTimer++;
        timers.set(id, { fn, at: now + ms });
        return id;
      },
      clearTimer: (id) => timers.delete(id as number),
    },
    () => now,
  );
  return {
    scheduler,
    reloads,
    write(name: string, stamp: string, origin: ChangeOrigin = 'disk') {
      stamps.set(file(name), stamp);
      scheduler.changed(file(name), origin);
    },
    /** Moves the clock on by `ms`, firing the timers that are due, and lets the reloads they start finish. */
    async advance(ms: number) {
      now += ms;
      for (const [id, t] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now) {
          timers.delete(id);
          t.fn();
        }
      }
      await new Promise((r) => setImmediate(r));
      if (!hold) await scheduler.idle();
    },
    pendingTimers: () => timers.size,
    setReady(value: boolean) {
      ready = value;
    },
    setDelivered(value: boolean) {
      delivered = value;
    },
    holdReloads() {
      hold = true;
    },
    async finishReload() {
      hold = false;
      release?.();
      await new Promise((r) => setImmediate(r));
      await scheduler.idle();
    },
  };
}

describe('reloading the service when .aios/ changes', () => {
  it('reads handlers.py, config.json and the modules and data beside them; not __pycache__ nor commands.json', () => {
    assert.equal(isServiceFile(folder, file('handlers.py')), true);
    assert.equal(isServiceFile(folder, file('config.json')), true);
    assert.equal(isServiceFile(folder, file('helpers.py')), true);
    assert.equal(isServiceFile(folder, join(folder, 'lib', 'model.py')), true);
    assert.equal(isServiceFile(folder, join(folder, '__pycache__', 'handlers.cpython-311.pyc')), false);
    assert.equal(isServiceFile(folder, join(folder, 'lib', '__pycache__', 'x.py')), false);
    assert.equal(isServiceFile(folder, file('commands.json')), false, 'the shell command types: watched on their own');
    assert.equal(isServiceFile(folder, join(folder, 'lib', 'commands.json')), true);
    assert.equal(isServiceFile(folder, file('notes.txt')), false);
    assert.equal(isServiceFile(folder, join('/ws', 'handlers.py')), false, 'outside .aios/');
    assert.equal(isServiceFile(folder, folder), false);
  });

  it('makes one reload of several writes close together (a git pull)', async () => {
    const w = world();
    w.write('handlers.py', 's1');
    await w.advance(RELOAD_DEBOUNCE_MS / 3);
    w.write('helpers.py', 's1');
    await w.advance(RELOAD_DEBOUNCE_MS / 3);
    w.write('config.json', 's1');
    await w.advance(RELOAD_DEBOUNCE_MS - 1);
    assert.equal(w.reloads.length, 0, 'still within the debounce of the last write');
    await w.advance(1);
    assert.deepEqual(w.reloads, [{ files: [file('config.json'), file('handlers.py'), file('helpers.py')].sort(), origin: 'disk' }]);
  });

  it('still reloads a stream of writes once the first has waited its longest', async () => {
    const w = world();
    for (let t = 0; t < RELOAD_MAX_WAIT_MS; t += RELOAD_DEBOUNCE_MS / 2) {
      w.write('handlers.py', `s${t}`);
      await w.advance(RELOAD_DEBOUNCE_MS / 2);
    }
    assert.equal(w.reloads.length, 1);
  });

  it('makes one reload of a save and the watcher event for the same write, whichever comes when', async () => {
    const w = world();
    w.write('handlers.py', 'saved', 'save');
    w.write('handlers.py', 'saved', 'disk'); // the watcher, at once: the same debounce
    await w.advance(RELOAD_DEBOUNCE_MS);
    assert.deepEqual(w.reloads, [{ files: [file('handlers.py')], origin: 'save' }]);
    w.write('handlers.py', 'saved', 'disk'); // the watcher, late: the content the last reload read
    await w.advance(RELOAD_DEBOUNCE_MS);
    assert.equal(w.reloads.length, 1);
    w.write('handlers.py', 'saved again', 'save'); // a save of the same text still writes: it reloads (a retry)
    await w.advance(RELOAD_DEBOUNCE_MS);
    assert.equal(w.reloads.length, 2);
  });

  it('reloads for a deleted file', async () => {
    const w = world();
    w.write('helpers.py', 'v1');
    await w.advance(RELOAD_DEBOUNCE_MS);
    w.write('helpers.py', 'missing');
    await w.advance(RELOAD_DEBOUNCE_MS);
    assert.equal(w.reloads.length, 2);
  });

  it('keeps changes made while the service is not ready, and reloads them once it is', async () => {
    const w = world({ ready: false });
    w.write('handlers.py', 'during the restart');
    await w.advance(RELOAD_DEBOUNCE_MS);
    assert.equal(w.reloads.length, 0);
    w.setReady(true);
    w.scheduler.serviceReady();
    await w.advance(0);
    assert.deepEqual(w.reloads, [{ files: [file('handlers.py')], origin: 'disk' }]);
    w.scheduler.serviceReady(); // nothing left
    await w.advance(0);
    assert.equal(w.reloads.length, 1);
  });

  it('tries a reload the service could not take again once it is back', async () => {
    const w = world({ delivered: false });
    w.write('handlers.py', 'v2');
    await w.advance(RELOAD_DEBOUNCE_MS);
    assert.equal(w.reloads.length, 1);
    w.setDelivered(true);
    w.scheduler.serviceReady();
    await w.advance(0);
    assert.equal(w.reloads.length, 2, 'not taken for a reload of that content');
  });

  it('runs one reload at a time: changes during one make one more after it', async () => {
    const w = world();
    w.holdReloads();
    w.write('handlers.py', 'v1');
    await w.advance(RELOAD_DEBOUNCE_MS);
    assert.equal(w.reloads.length, 1);
    w.write('handlers.py', 'v2');
    w.write('helpers.py', 'v2');
    await w.advance(RELOAD_DEBOUNCE_MS);
    assert.equal(w.reloads.length, 1, 'not while the first runs');
    await w.finishReload();
    assert.deepEqual(w.reloads[1], { files: [file('handlers.py'), file('helpers.py')].sort(), origin: 'disk' });
    assert.equal(w.reloads.length, 2);
  });

  it('does nothing once disposed', async () => {
    const w = world();
    w.write('handlers.py', 'v1');
    w.scheduler.dispose();
    assert.equal(w.pendingTimers(), 0);
    w.write('handlers.py', 'v2');
    await w.advance(RELOAD_DEBOUNCE_MS);
    assert.equal(w.reloads.length, 0);
  });
});
