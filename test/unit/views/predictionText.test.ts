// The words the views show for the learning's predictions, from a real middleware and a real model: a
// recorded earlier window taught GEN (~2 s); the live window runs one GEN, queues more behind it. And the
// words of the DETAILED report for how the predictions fared, from the real scorer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { functionExecutor } from '../../../src/core/execution';
import { PredictionScorer, attachLearning } from '../../../src/core/learning';
import { createMiddleware } from '../../../src/core/pipeline';
import { StaticSampler } from '../../../src/core/system';
import { accuracyText, learningSection, predictionText, queueDrainText } from '../../../src/views/predictionText';
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

describe('accuracyText', () => {
  it("says how the predictions fared in plain words, from the scorer's figures", () => {
    const scorer = new PredictionScorer(4);
    // GEN predicted p50 10 ms, p90 20 ms each time; |actual - p50| = 2, 1, 30, 8, 5.
    for (const actual of [12, 9, 40, 18, 15]) scorer.scoreDuration('GEN', 10, 20, actual);
    scorer.scoreDuration('ONCE', 100, 200, 150);
    scorer.scoreWait(1000, 1800);
    scorer.scoreWait(2000, 2400);
    assert.deepEqual(accuracyText(scorer.report()), {
      // The window of 4: 40, 18, 15 and ONCE's 150; covered 3 of 4, under the p50 none; errors 30, 8, 5, 50 (relative: 75, 44, 33, 33 %).
      durations: 'p90 covered 75 % of the last 4 scored durations (6 in all); p50 covered 0 %; mean error 23 ms, typically off by 44 %',
      waits: 'mean error 600 ms over 2 scored waits; they took 600 ms longer than predicted on average',
      byType: {
        GEN: 'p90 covered 80 % of 5 scored durations; mean error 9.2 ms',
        ONCE: 'p90 covered 100 % of 1 scored duration; mean error 50 ms',
      },
    });
    scorer.scoreWait(3000, 1000);
    assert.equal(accuracyText(scorer.report()).waits, 'mean error 1.07 s over 3 scored waits; they took 267 ms less than predicted on average');
    assert.deepEqual(accuracyText(new PredictionScorer().report()), {
      durations: 'no duration predictions scored yet (a command type is predicted once it has run often enough)',
      waits: 'no wait predictions scored yet',
      byType: {},
    });
  });

  it("the DETAILED report's learning section: the words first, the model's own figures, the types it knows", async () => {
    const mw = createMiddleware({
      sessionId: 'accuracy',
      sampler: new StaticSampler({ cpuPercent: 10, memoryPercent: 40, pythonProcesses: 0, sampledAt: 0 }),
      config: { baseDelayMs: 0 },
    });
    const learning = attachLearning(mw, { minSamples: 3 });
    const executor = functionExecutor({ WORK: () => new Promise((r) => setTimeout(r, 2)) });
    for (let i = 0; i < 8; i++) assert.equal((await mw.execute({ commandType: 'WORK' }, executor)).success, true);
    const section = learningSection(learning.model);
    const accuracy = learning.model.accuracy();
    assert.deepEqual(Object.keys(section), ['summary', 'events', 'types', 'accuracy'], 'the words come first in the document');
    assert.deepEqual(section.accuracy, accuracy);
    assert.deepEqual(section.types, ['WORK']);
    assert.equal(accuracy.byType.WORK.predictions, 5, 'the 4th to the 8th were predicted');
    assert.deepEqual(section.summary, accuracyText(accuracy));
    assert.match(section.summary.durations, /^p90 covered \d+ % of 5 scored durations; p50 covered \d+ %; mean error [\d.]+ m?s, typically off by \d+ %$/);
    learning.dispose();
    await mw.close();
  });
});
