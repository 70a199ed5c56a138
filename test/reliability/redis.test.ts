// Redis faults while two middlewares contend for one shared limit (aios.cluster), on Debian's real
// redis-server: a third member holding slots is killed (SIGKILL), then redis-server is killed and started
// again, then frozen (SIGSTOP) and thawed. Throughout, every command is accounted; a command admitted under
// the shared limit never brings the cluster above it (except while commands admitted under the fallback still
// run, as docs/ADMISSION.md says); each member warns once per outage and rejoins. Counts and invariants only;
// times go into the table as figures.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createMiddleware, type Middleware } from '../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../src/core/system/sampler';
import type { Priority } from '../../src/core/types';
import { RedisServer } from '../support/redis';
import { record } from './table';

const LIMIT = 4;
const HELD = 2;
const LEASE_MS = 1500;
const PRIORITIES: Priority[] = ['HIGH', 'NORMAL', 'LOW'];

async function until(what: string, ok: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Member {
  name: 'a' | 'b';
  mw: Middleware;
  warnings: string[];
  rejoined: number;
}

const redis = new RedisServer();
after(() => redis.dispose());

describe('reliability: Redis faults under a shared limit', () => {
  it(
    'two members contend while a holder is killed and redis-server is killed, restarted, frozen and thawed',
    { timeout: 120_000, skip: process.platform === 'win32' ? 'SIGSTOP is POSIX only' : undefined },
    async () => {
      await redis.start();
      const cluster = `rel-${randomBytes(4).toString('hex')}`;
      const holder = spawn(process.execPath, [join(__dirname, 'holder.js'), redis.url, cluster, String(LEASE_MS), String(HELD)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const holderGone = new Promise((r) => holder.once('exit', r));
      const members: Member[] = [];
      let stopping = false;
      try {
        await new Promise<void>((resolve, reject) => {
          let out = '';
          holder.stdout.on('data', (c: Buffer) => {
            out += c.toString();
            if (out.includes(`holding ${HELD}`)) resolve();
          });
          holder.once('exit', (code) => reject(new Error(`the holder exited (${code}) before holding its slots: ${out}`)));
        });
        for (const name of ['a', 'b'] as const) {
          const m: Member = { name, mw: undefined!, warnings: [], rejoined: 0 };
          m.mw = createMiddleware({
            sampler: new StaticSampler(),
            log: (level, message) => {
              if (level === 'warn') m.warnings.push(message);
              if (level === 'info' && /reaches Redis again/.test(message)) m.rejoined++;
            },
            config: {
              maxConcurrency: LIMIT,
              baseDelayMs: 0,
              maxQueueSize: 100_000,
              cluster: { redisUrl: redis.url, name: cluster, leaseMs: LEASE_MS, timeoutMs: 300 },
            },
          });
          members.push(m);
        }
        const shared = () => members.every((m) => m.mw.admission.shared?.status === 'shared');
        const fallback = () => members.every((m) => m.mw.admission.shared?.status === 'fallback');
        await until('both members in the cluster', shared);

        // The load: six submitters per member, in a closed loop, until told to stop.
        let running = 0;
        let fallbackRunning = 0;
        let holderHolds = HELD;
        let peak = 0;
        let overLimit = 0;
        let sharedStarts = 0;
        let done = 0;
        let failed = 0;
        const executor = (m: Member, k: number) => async () => {
          const admittedShared = m.mw.admission.shared?.status === 'shared';
          running++;
          if (!admittedShared) fallbackRunning++;
          else if (fallbackRunning === 0) {
            // Under the shared limit, with nothing admitted under a fallback still running: the cluster's limit holds.
            sharedStarts++;
            peak = Math.max(peak, running);
            if (running + holderHolds > LIMIT) overLimit++;
          }
          await new Promise((r) => setTimeout(r, 1 + (k % 4)));
          running--;
          if (!admittedShared) fallbackRunning--;
        };
        let k = 0;
        const loops = members.flatMap((m) =>
          Array.from({ length: 6 }, async () => {
            while (!stopping) {
              const i = k++;
              const r = await m.mw.execute({ commandType: 'WORK', priority: PRIORITIES[i % 3] }, executor(m, i));
              done++;
              if (!r.success) failed++;
            }
          }),
        );
        const more = async (n: number) => {
          const target = done + n;
          await until(`${n} more commands`, () => done >= target);
        };
        const phase = { holder: { peak: 0 }, afterKill: { peak: 0, slotsBackMs: 0 } };

        // 1. A third member holds 2 of the 4 slots: the two contenders share the other 2.
        await more(300);
        phase.holder.peak = peak;
        // 2. It is killed (no goodbye to Redis): its slots come back when its lease ends.
        peak = 0;
        const killedAt = performance.now();
        holder.kill('SIGKILL');
        // From now on Redis frees its slots whenever its lease ends: the invariant is the cluster's limit alone.
        holderHolds = 0;
        await holderGone;
        await until('the cluster used in full again', () => running === LIMIT && fallbackRunning === 0 && shared());
        phase.afterKill.slotsBackMs = Math.round(performance.now() - killedAt);
        await more(300);
        phase.afterKill.peak = peak;

        // 3. redis-server killed: both fall back to their own limit (one warning each), commands go on.
        await redis.stop('SIGKILL');
        await until('both on their own limit', fallback);
        await more(300);
        await redis.start();
        await until('both back in the cluster', shared);
        await more(300);
        const afterRestart = members.map((m) => m.warnings.length);

        // 4. redis-server frozen with every connection open: calls time out, both fall back; thawed, they rejoin.
        redis.freeze(true);
        await until('both on their own limit while Redis is frozen', fallback);
        await more(300);
        redis.freeze(false);
        await until('both back in the cluster after the thaw', shared);
        peak = 0;
        await more(300);
        const peakAfterThaw = peak;

        stopping = true;
        await Promise.all(loops);
        assert.equal(failed, 0, 'every command ran');
        assert.equal(
          members.reduce((sum, m) => sum + m.mw.telemetry.query('SUMMARY').overall.totalCommands, 0),
          done,
          'the stats count every command once',
        );
        assert.equal(overLimit, 0, `${overLimit} of ${sharedStarts} starts under the shared limit found the cluster over it`);
        assert.equal(phase.holder.peak, LIMIT - HELD, 'while the holder lived, the two contenders shared what it left');
        assert.equal(phase.afterKill.peak, LIMIT, 'its slots came back');
        assert.equal(peakAfterThaw, LIMIT, 'the shared limit applies, in full, after the thaw');
        assert.deepEqual(afterRestart, [1, 1], 'one warning per member for the killed Redis');
        assert.deepEqual(
          members.map((m) => m.warnings.length),
          [2, 2],
          `one warning per member per outage: ${members.map((m) => m.warnings.join(' | ')).join(' || ')}`,
        );
        for (const m of members) for (const w of m.warnings) assert.match(w, /cannot use Redis at redis:\/\/127\.0\.0\.1:\d+.*aios\.maxConcurrency \(4\)/);
        assert.deepEqual(
          members.map((m) => m.rejoined),
          [2, 2],
          'each rejoined after each outage',
        );
        record({
          property: 'Redis faults under a shared limit',
          tried: `2 members, limit ${LIMIT}, ${done} commands; a holder of ${HELD} slots killed; redis-server killed and restarted, then frozen and thawed`,
          held: `0 of ${sharedStarts} shared starts over the limit; peaks ${phase.holder.peak} with the holder, ${LIMIT} after (slots back ${phase.afterKill.slotsBackMs} ms after the kill, lease ${LEASE_MS} ms); 1 warning per member per outage; both rejoined each time; all ran`,
        });
      } finally {
        stopping = true;
        redis.freeze(false);
        if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
        await holderGone;
        await Promise.all(members.map((m) => m.mw.close()));
      }
    },
  );
});
