import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../../src/core/clock';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import { tempDir } from '../helpers';

describe('StatsSnapshots', () => {
  it('a snapshot that cannot be saved is warned about once a minute, however often it is retried', async () => {
    const file = join(tempDir(), 'not-a-folder');
    writeFileSync(file, 'x'); // the storage folder is a file: every save fails
    const clock = new ManualClock();
    const warnings: string[] = [];
    const m = createMiddleware({
      storageDir: file,
      sessionId: 's1',
      clock,
      sampler: new StaticSampler({ cpuPercent: 1 }),
      log: (_l, msg) => warnings.push(msg),
    });
    const snapshotWarnings = (): number => warnings.filter((w) => /stats snapshot/.test(w)).length;
    for (let i = 0; i < 3; i++) {
      await m.execute({ commandType: 'A' }, () => i);
      await m.flush();
    }
    assert.equal(snapshotWarnings(), 1, warnings.join(' | '));
    clock.advance(60_000);
    await m.execute({ commandType: 'A' }, () => 0);
    await m.flush();
    assert.equal(snapshotWarnings(), 2, 'warned again a minute later');
    await m.close();
  });
});
