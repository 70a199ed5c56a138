// The shared limit where no Redis answers (the Redis tier, test/cluster, has a real one): a refused
// connection and a server that takes the connection but never answers. Commands must run under the local
// limit after one warning, and never wait for Redis. Plus the aios.cluster.* settings.
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { limitMode } from '../../../../../src/core/admission/admission';
import { DEFAULT_CONFIG, redactRedisUrl, validateConfig } from '../../../../../src/core/config';
import { createMiddleware, type LogLevel } from '../../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../../src/core/system/sampler';

/** A port nothing listens on (bound, then closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Takes connections and never answers a byte. */
function blackhole(): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve) =>
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve({ port: (server.address() as { port: number }).port, server, sockets })),
  );
}

function middleware(redisUrl: string, logs: { level: LogLevel; message: string }[], timeoutMs = 200) {
  return createMiddleware({
    sampler: new StaticSampler(),
    log: (level, message) => logs.push({ level, message }),
    config: { maxConcurrency: 3, baseDelayMs: 0, cluster: { redisUrl, name: 'unit', timeoutMs } },
  });
}

describe('the shared limit without a Redis', () => {
  it('a refused connection: one warning, then the local limit aios.maxConcurrency', async () => {
    const logs: { level: LogLevel; message: string }[] = [];
    const mw = middleware(`redis://user:s3cret@127.0.0.1:${await closedPort()}`, logs);
    after(() => mw.close());
    const changes: string[] = [];
    mw.onLimitChange((c) => changes.push(`${c.mode} ${c.from}->${c.to}`));
    assert.equal(mw.admission.mode, 'shared');
    let running = 0;
    let most = 0;
    const t0 = performance.now();
    const results = await Promise.all(
      Array.from({ length: 30 }, () =>
        mw.execute({ commandType: 'WORK' }, async () => {
          most = Math.max(most, ++running);
          await new Promise((r) => setTimeout(r, 2));
          running--;
        }),
      ),
    );
    assert.ok(
      results.every((r) => r.success),
      'every command ran',
    );
    assert.ok(performance.now() - t0 < 3000, 'nothing waited for Redis');
    assert.equal(most, 3, 'the local limit');
    const s = mw.admission;
    assert.equal(s.shared?.status, 'fallback');
    assert.equal(s.limit, 3);
    assert.match(s.limitReason, /unreachable .*local limit aios\.maxConcurrency 3/);
    assert.ok(changes.includes('shared 0->3'), changes.join());
    // More time, more reconnect attempts, more commands: still one warning, and no password anywhere.
    await new Promise((r) => setTimeout(r, 300));
    await mw.execute({ commandType: 'WORK' }, () => Promise.resolve());
    const warnings = logs.filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 1, JSON.stringify(logs));
    assert.match(warnings[0].message, /cannot use Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:\d+ .*aios\.maxConcurrency \(3\)/);
    assert.ok(!JSON.stringify(logs).includes('s3cret') && !JSON.stringify(mw.admission).includes('s3cret'), 'the password is never shown');
  });

  it('a server that never answers: queued commands start under the local limit, none waits for ever', async () => {
    const hole = await blackhole();
    after(() => {
      for (const s of hole.sockets) s.destroy();
      hole.server.close();
    });
    const logs: { level: LogLevel; message: string }[] = [];
    const mw = middleware(`redis://127.0.0.1:${hole.port}`, logs, 100);
    after(() => mw.close());
    const t0 = performance.now();
    const r = await mw.execute({ commandType: 'WORK' }, () => Promise.resolve('ran'));
    const waited = performance.now() - t0;
    assert.equal(r.success, true);
    assert.ok(hole.sockets.size > 0, 'it did connect');
    // Connecting gets max(timeoutMs, 1 s): a TLS handshake to a remote Redis needs that much room.
    assert.ok(waited >= 900 && waited < 3000, `fell back after ${Math.round(waited)} ms`);
    assert.equal(mw.admission.shared?.status, 'fallback');
    assert.match(mw.admission.shared?.lastError ?? '', /no answer|timed out/i);
    assert.equal(logs.filter((l) => l.level === 'warn').length, 1);
  });
});

describe('aios.cluster.* settings', () => {
  it('off by default', () => {
    assert.deepEqual(DEFAULT_CONFIG.cluster, { redisUrl: '', name: 'default', leaseMs: 10_000, timeoutMs: 1000 });
    assert.equal(limitMode(DEFAULT_CONFIG), 'fixed');
  });

  it('a Redis URL makes the limit shared, whatever aios.throttle.mode says', () => {
    const { config } = validateConfig({ throttle: { mode: 'adaptive' }, cluster: { redisUrl: ' rediss://gpu.example:6380/2 ' } });
    assert.equal(config.cluster.redisUrl, 'rediss://gpu.example:6380/2');
    assert.equal(limitMode(config), 'shared');
    assert.equal(limitMode({ ...config, cluster: { ...config.cluster, redisUrl: '' } }), 'adaptive');
  });

  it('refuses what is not a Redis URL, a bad name or an out-of-range lease, naming the setting and never the password', () => {
    const { config, errors } = validateConfig(
      { cluster: { redisUrl: 'http://u:pw@host', name: 'my team', leaseMs: 10, timeoutMs: 0, port: 1 } },
      undefined,
      'aios.',
    );
    assert.deepEqual(config.cluster, DEFAULT_CONFIG.cluster);
    assert.deepEqual(errors, [
      'unknown setting aios.cluster.port ignored (known: redisUrl, name, leaseMs, timeoutMs)',
      'aios.cluster.redisUrl must start with redis:// or rediss:// (got "http://u:***@host"); keeping ""',
      'aios.cluster.name must be 1 to 64 letters, digits, ".", "_" or "-" (got "my team"); keeping "default"',
      'aios.cluster.leaseMs must be an integer from 1000 to 86400000 (got 10); keeping 10000',
      'aios.cluster.timeoutMs must be an integer from 10 to 60000 (got 0); keeping 1000',
    ]);
    assert.match(validateConfig({ cluster: { redisUrl: 'not a url' } }).errors[0], /must be a URL/);
    assert.match(validateConfig({ cluster: { redisUrl: 6379 } }).errors[0], /must be a string/);
    assert.match(validateConfig({ cluster: 'redis://x' }).errors[0], /cluster must be an object/);
  });

  it('redacts passwords', () => {
    assert.equal(redactRedisUrl('redis://:pw@h:1'), 'redis://:***@h:1');
    assert.equal(redactRedisUrl('redis://h:1'), 'redis://h:1');
    assert.equal(redactRedisUrl('redis://user@h'), 'redis://user@h');
    assert.equal(redactRedisUrl('rediss://a:b:c@h/0'), 'rediss://a:***@h/0');
  });
});
