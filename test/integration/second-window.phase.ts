// Runs in a second window that storage.test.ts opens on the same folder (the same user data, so the same
// telemetry folder): it runs commands for a while, as the first window does at the same time, then tells the
// first window who it was. Its counts are added to the suite's through the UI bridge.
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aios, waitUntil } from './util';

describe('a second window on the same telemetry folder', function () {
  this.timeout(120_000);

  it('runs commands while the first window runs its own', async () => {
    const api = await aios();
    await waitUntil(() => api.context.supervisor.state.status === 'healthy', 60_000, 'the service of the second window');
    const until = Date.now() + Number(process.env.AIOS_WINDOW_RUN_MS ?? 8000);
    let commands = 0;
    while (Date.now() < until) {
      const r = await api.execute({ commandType: 'ECHO', parameters: { window: 2, n: commands } });
      assert.equal(r.success, true, JSON.stringify(r.error));
      commands++;
    }
    await api.context.middleware.flush();
    writeFileSync(join(process.env.AIOS_TEST_RESULTS!, 'second-window.json'), JSON.stringify({ sessionId: api.context.middleware.sessionId, commands }));
  });
});
