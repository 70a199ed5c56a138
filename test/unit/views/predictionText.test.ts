// The words the views show for the learning's predictions, from a real middleware and a real model: a
// recorded earlier window taught GEN (~2 s); the live window runs one GEN, queues more behind it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attachLearning } from '../../../src/core/learning';
import { createMiddleware } from '../../../src/core/pipeline';
import { StaticSampler } from '../../../src/core/system';
import { predictionText, queueDrainText } from '../../../src/views/predictionText';
import { tempDir, tick } from '../core/helpers';
import { offered, record } from '../core/learning/harness';

describe('predictionText', () => {
  it('running: time left with its p90; queued: when it starts; the queue: when it drains; unknown types: nothing', async () => {
    const dir = tempDir();
    await record(offered(7, 100, 1, 2000, 0.1, 'GEN'), 64, { storageDir: dir, sessionId: 'earlier', config: { baseDelayMs: 0 } });
    const mw = createMiddleware({
      storageDir: dir,
      sessionId: 'live',
      sampler: new StaticSampler({ cpuPercent: 10, memoryPercent: 40, pythonProcesses: 0, sampledAt: 0 }),
      config: { maxConcurrency: 1, baseDelayMs: 0 },
    });
    const learning = attachLearning(mw, { storageDir: dir, restore: { maxAgeMs: Infinity } });
    await learning.restored;
    const releases: Array<() => void> = [];
    const executor = (): Promise<void> => new Promise((resolve) => releases.push(resolve));
    const runs = [
      mw.execute({ commandType: 'GEN' }, executor),
      mw.execute({ commandType: 'GEN' }, executor),
      mw.execute({ commandType: 'GEN' }, executor),
      mw.execute({ commandType: 'NEVER_SEEN' }, executor),
    ];
    await tick();
    const [running, second, third, unknown] = mw.inFlight();
    assert.deepEqual(
      mw.inFlight().map((f) => f.stage),
      ['running', 'queued', 'queued', 'queued'],
    );

    assert.equal(predictionText(learning, running.commandId), '~2 s left (p90 2 s)');
    assert.equal(predictionText(learning, second.commandId), 'starts in ~2 s');
    assert.equal(predictionText(learning, third.commandId), 'starts in ~4 s');
    assert.equal(predictionText(learning, unknown.commandId), 'starts in ~6 s', 'its wait is the known work ahead of it');
    assert.equal(queueDrainText(learning), 'queue drains in ~6 s');
    // One forecast for a whole refresh gives the same words.
    const forecast = learning.forecast();
    assert.equal(predictionText(learning, third.commandId, forecast), 'starts in ~4 s');
    assert.equal(predictionText(learning, 'no-such-command', forecast), undefined);

    // The unknown type running: nothing for it, nor for what waits behind it, nor for the drain.
    for (let i = 0; i < 3; i++) {
      releases[i]();
      await runs[i];
      await tick();
    }
    const behind = mw.execute({ commandType: 'GEN' }, executor);
    await tick();
    const [now, queuedBehind] = mw.inFlight();
    assert.equal(now.commandType, 'NEVER_SEEN');
    assert.equal(now.stage, 'running');
    assert.equal(predictionText(learning, now.commandId), undefined, 'an unknown type says nothing');
    assert.equal(predictionText(learning, queuedBehind.commandId), undefined, 'nor does what waits behind it');
    assert.equal(queueDrainText(learning), undefined);

    releases[3]();
    await runs[3];
    await tick();
    assert.equal(queueDrainText(learning), undefined, 'nothing waits: no drain to tell');
    releases[4]();
    await behind;
    learning.dispose();
    await mw.close();
  });
});
