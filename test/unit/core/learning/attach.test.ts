import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attachLearning } from '../../../../src/core/learning';
import { createMiddleware } from '../../../../src/core/pipeline';
import { StaticSampler } from '../../../../src/core/system';
import { tempDir, tick } from '../helpers';
import { offered, record } from './harness';

describe('attachLearning', () => {
  it('restores from the other windows on disk, learns live, and forecasts what is in flight', async () => {
    const dir = tempDir();
    // An earlier window: GEN took ~2 s.
    await record(offered(4, 100, 1, 2000, 0.1, 'GEN'), 64, { storageDir: dir, sessionId: 'earlier', config: { baseDelayMs: 0 } });
    const mw = createMiddleware({
      storageDir: dir,
      sessionId: 'live',
      sampler: new StaticSampler({ cpuPercent: 10, memoryPercent: 40, pythonProcesses: 0, sampledAt: 0 }),
      config: { maxConcurrency: 1, baseDelayMs: 0 },
    });
    const learning = attachLearning(mw, { storageDir: dir, restore: { maxAgeMs: Infinity } }); // the recording is from 2026-01-01
    const restored = await learning.restored;
    assert.equal(restored?.events, 200);
    assert.ok(Math.abs(learning.model.model('GEN')!.p50Ms - 2000) < 100);
    const scoredBefore = learning.model.accuracy().durations.total; // the restored ones are scored too

    const releases: Array<() => void> = [];
    const executor = (): Promise<void> => new Promise((resolve) => releases.push(resolve));
    const first = mw.execute({ commandType: 'GEN' }, executor);
    const second = mw.execute({ commandType: 'GEN' }, executor);
    await tick();
    const now = Date.now();
    const f = learning.forecast(now);
    const [running, queued] = mw.inFlight();
    const r = f.commands.get(running.commandId)!;
    const q = f.commands.get(queued.commandId)!;
    assert.equal(r.kind, 'running');
    assert.match(r.text, /^~2 s left \(p90 2 s\)$/);
    assert.equal(q.kind, 'queued');
    assert.ok(q.kind === 'queued' && Math.abs(q.waitMs - 2000) < 150, `wait ${q.kind === 'queued' && q.waitMs}`);
    assert.equal(f.drainText, 'queue drains in ~2 s');

    releases[0]();
    await first;
    await tick();
    releases[1]();
    await second;
    const a = learning.model.accuracy();
    assert.equal(a.durations.total - scoredBefore, 2, 'both live commands were predicted at their start and scored at their end');
    assert.equal(a.waits.total, 1, 'the wait shown was scored when it started');
    assert.ok(a.waits.meanBiasMs < 0, 'it started sooner than said (released at once)');
    learning.dispose();
    await mw.close();
    assert.equal(learning.model.model('GEN')!.samples, 102);
  });

  it('starts from the live events alone when the folder cannot be read', async () => {
    const mw = createMiddleware({ sampler: new StaticSampler({}) });
    const errors: Error[] = [];
    const learning = attachLearning(mw, { storageDir: '\0not a path', onError: (e) => errors.push(e) });
    assert.equal((await learning.restored)?.events ?? 0, 0);
    for (let i = 0; i < 25; i++) await mw.execute({ commandType: 'FAST' }, () => 'ok');
    assert.ok(learning.model.model('FAST'), 'learned from live events');
    learning.dispose();
    await mw.close();
  });
});
