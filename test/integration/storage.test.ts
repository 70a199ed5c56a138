// Telemetry on disk with several windows, for real: a second workbench window on the same folder writes to
// the same extension storage while this one does.
import * as assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeWindow, openWindow, requireUi, windowExit } from './ui';
import { aios, waitUntil } from './util';

const EVENTS = /^events-(.+)-(\d+)\.jsonl$/;

describe('telemetry files with two windows open', function () {
  this.timeout(180_000);

  it("two windows at once on one storage folder: a file each, no interleaved lines, neither window's stats overwritten", async function () {
    requireUi(this);
    const api = await aios();
    const dir = join(api.context.extension.globalStorageUri.fsPath, 'telemetry');
    const mine = api.context.middleware.sessionId;
    const report = join(process.env.AIOS_TEST_RESULTS!, 'second-window.json');
    const id = await openWindow('second-window', { AIOS_WINDOW_RUN_MS: '12000' });
    try {
      // Once the second window writes, run commands here too: both at once.
      await waitUntil(
        () => readdirSync(dir).some((f) => EVENTS.test(f) && !f.includes(mine)) || undefined,
        90_000,
        'the second window to write its first events',
      );
      const until = Date.now() + 4000;
      let ran = 0;
      while (Date.now() < until) {
        assert.equal((await api.execute({ commandType: 'ECHO', parameters: { window: 1, n: ran } })).success, true);
        ran++;
      }
      const exit = await waitUntil(async () => (await windowExit(id)) ?? undefined, 90_000, 'the second window to finish');
      assert.equal(exit, 0, 'the second window ran its commands');
      await api.context.middleware.flush();
      assert.ok(existsSync(report), 'the second window said who it was');
      const other = JSON.parse(readFileSync(report, 'utf8')) as { sessionId: string; commands: number };
      assert.notEqual(other.sessionId, mine, 'each extension host has a session id of its own');

      const files = readdirSync(dir);
      const bySession = new Map<string, string[]>();
      for (const f of files) {
        const m = EVENTS.exec(f);
        if (m) bySession.set(m[1], [...(bySession.get(m[1]) ?? []), f]);
      }
      assert.ok(bySession.get(mine)?.length, `events of this window in their own file: ${files.join(', ')}`);
      assert.ok(bySession.get(other.sessionId)?.length, `events of the second window in their own file: ${files.join(', ')}`);
      for (const [session, names] of bySession) {
        for (const name of names) {
          const lines = readFileSync(join(dir, name), 'utf8').split('\n').filter(Boolean);
          const foreign = lines.filter((l) => (JSON.parse(l) as { user: { sessionId: string } }).user.sessionId !== session);
          assert.equal(foreign.length, 0, `${name} holds only its own window's lines`);
        }
      }
      const stats = (session: string) => JSON.parse(readFileSync(join(dir, `stats-${session}.json`), 'utf8')) as { overall: { count: number } };
      assert.equal(stats(mine).overall.count, api.telemetry('SUMMARY').overall.totalCommands, "this window's stats are its own, not overwritten");
      assert.ok(stats(other.sessionId).overall.count >= other.commands, "the second window's stats hold its commands");
    } finally {
      await closeWindow(id);
    }
  });
});
