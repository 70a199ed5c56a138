import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CONFIG, validateConfig } from '../../../src/core/config';
import { record } from '../../reliability/table';

describe('validateConfig', () => {
  it('returns the defaults for nothing', () => {
    const { config, errors } = validateConfig(undefined);
    assert.deepEqual(config, DEFAULT_CONFIG);
    assert.deepEqual(errors, []);
  });

  it('keeps the previous value of an invalid field and says why', () => {
    const { config, errors } = validateConfig({ maxConcurrency: 0, baseDelayMs: 250 });
    assert.equal(config.maxConcurrency, 4);
    assert.equal(config.baseDelayMs, 250);
    assert.deepEqual(errors, ['maxConcurrency must be an integer from 1 to 256 (got 0); keeping 4']);
  });

  it('names settings with the given prefix, nested ones too', () => {
    const { errors } = validateConfig({ maxConcurrency: 0, telemetry: { flushIntervalMs: 1 } }, undefined, 'aios.');
    assert.deepEqual(errors, [
      'aios.maxConcurrency must be an integer from 1 to 256 (got 0); keeping 4',
      'aios.telemetry.flushIntervalMs must be an integer from 50 to 60000 (got 1); keeping 1000',
    ]);
  });

  it('validates over a given base, nested sections too', () => {
    const base = validateConfig({ maxConcurrency: 8 }).config;
    const { config, errors } = validateConfig({ telemetry: { flushIntervalMs: 'soon', maxRecentEvents: 50 }, sampler: { intervalMs: 2000 } }, base);
    assert.equal(config.maxConcurrency, 8);
    assert.equal(config.telemetry.maxRecentEvents, 50);
    assert.equal(config.telemetry.flushIntervalMs, 1000);
    assert.equal(config.sampler.intervalMs, 2000);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /^telemetry\.flushIntervalMs must be an integer from 50 to 60000 \(got "soon"\); keeping 1000$/);
  });

  it('rejects a pattern list with a bad entry as a whole (a partial deny list would be unsafe)', () => {
    const { config, errors } = validateConfig({ security: { denyPatterns: ['*RM*', ''] } });
    assert.deepEqual(config.security.denyPatterns, ['*DELETE*', '*DROP*']);
    assert.match(errors[0], /security\.denyPatterns entries must be non-empty strings/);
  });

  it('reports unknown settings and wrong types without throwing', () => {
    assert.match(validateConfig({ maxConcurency: 3 }).errors[0], /unknown setting maxConcurency ignored/);
    assert.match(validateConfig({ countExternalPythonProcesses: 'yes' }).errors[0], /must be true or false/);
    assert.match(validateConfig(42).errors[0], /settings must be an object/);
    assert.match(validateConfig({ security: [] }).errors[0], /security must be an object/);
  });

  it('a table of malformed settings: one message each naming the setting and what is kept; the others apply', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ maxConcurrency: '8' }, /^aios\.maxConcurrency must be an integer from 1 to 256 \(got "8"\); keeping 4$/],
      [{ maxQueueSize: -1 }, /^aios\.maxQueueSize must be .* \(got -1\); keeping 1000$/],
      [{ cpuThreshold: 101 }, /^aios\.cpuThreshold must be .* \(got 101\); keeping 85$/],
      [{ maxDelayMs: null }, /^aios\.maxDelayMs must be .* \(got null\); keeping 5000$/],
      [{ agingMs: 1.5 }, /^aios\.agingMs must be an integer .* \(got 1\.5\); keeping 10000$/],
      [{ countExternalPythonProcesses: 'yes' }, /^aios\.countExternalPythonProcesses must be true or false/],
      [
        { security: { denyPatterns: '*DROP*' } },
        /^aios\.security\.denyPatterns must be a list of glob patterns such as "\*DELETE\*" \(got "\*DROP\*"\); keeping/,
      ],
      [{ security: { allowPatterns: [42] } }, /^aios\.security\.allowPatterns entries must be non-empty strings/],
      [{ telemetry: { maxFileSizeMB: 0 } }, /^aios\.telemetry\.maxFileSizeMB must be .* \(got 0\); keeping/],
      [{ telemetry: 'fast' }, /^aios\.telemetry must be an object \(got "fast"\); keeping the previous telemetry settings$/],
      [{ sampler: { intervalMs: 'often' } }, /^aios\.sampler\.intervalMs must be .* \(got "often"\); keeping 1000$/],
      [{ throttle: { mode: 'auto' } }, /^aios\.throttle\.mode must be one of "fixed", "adaptive" \(got "auto"\); keeping "fixed"$/],
      [{ cluster: { redisUrl: 'http://127.0.0.1:6379' } }, /^aios\.cluster\.redisUrl .*; keeping ""$/],
      [{ cluster: { leaseMs: 10 } }, /^aios\.cluster\.leaseMs must be .* \(got 10\); keeping 10000$/],
      [{ maxConcurency: 3 }, /^unknown setting aios\.maxConcurency ignored \(known: maxConcurrency, /],
    ];
    for (const [bad, re] of cases) {
      const { config, errors } = validateConfig({ baseDelayMs: 250, ...bad }, undefined, 'aios.');
      assert.equal(errors.length, 1, `${JSON.stringify(bad)}: ${errors.join(' | ')}`);
      assert.match(errors[0], re);
      assert.equal(config.baseDelayMs, 250, 'the good setting beside it applies');
    }
    record({
      property: 'malformed aios.* settings',
      tried: `${cases.length} bad values (types, ranges, lists, sections, enums, a Redis URL, an unknown name), each beside a good setting`,
      held: `${cases.length} of ${cases.length}: one message naming the setting and the value kept; the good setting applied every time`,
    });
  });

  it('never shares arrays with its base', () => {
    const { config } = validateConfig({});
    config.security.denyPatterns.push('X');
    assert.deepEqual(DEFAULT_CONFIG.security.denyPatterns, ['*DELETE*', '*DROP*']);
  });

  describe('throttle', () => {
    it('defaults: fixed, adaptive bounds 1..64', () => assert.deepEqual(DEFAULT_CONFIG.throttle, { mode: 'fixed', minConcurrency: 1, maxConcurrency: 64 }));

    it('takes a mode and bounds', () => {
      const { config, errors } = validateConfig({ throttle: { mode: 'adaptive', minConcurrency: 2, maxConcurrency: 16 } });
      assert.deepEqual(errors, []);
      assert.deepEqual(config.throttle, { mode: 'adaptive', minConcurrency: 2, maxConcurrency: 16 });
    });

    it('refuses an unknown mode, naming the accepted ones', () => {
      const { config, errors } = validateConfig({ throttle: { mode: 'auto' } }, undefined, 'aios.');
      assert.equal(config.throttle.mode, 'fixed');
      assert.deepEqual(errors, ['aios.throttle.mode must be one of "fixed", "adaptive" (got "auto"); keeping "fixed"']);
    });

    it('refuses min > max with both names and keeps the bounds in force', () => {
      const base = validateConfig({ throttle: { minConcurrency: 2, maxConcurrency: 16 } }).config;
      const { config, errors } = validateConfig({ throttle: { minConcurrency: 20 } }, base, 'aios.');
      assert.deepEqual(config.throttle, { mode: 'fixed', minConcurrency: 2, maxConcurrency: 16 });
      assert.deepEqual(errors, ['aios.throttle.minConcurrency (20) must not be greater than aios.throttle.maxConcurrency (16); keeping 2..16']);
      // Both at once, in an order that is fine: accepted.
      assert.deepEqual(validateConfig({ throttle: { minConcurrency: 20, maxConcurrency: 40 } }, base).config.throttle.maxConcurrency, 40);
    });

    it('checks the range of each bound and unknown keys', () => {
      const { errors } = validateConfig({ throttle: { maxConcurrency: 0, minConcurrency: 1.5, step: 2 } }, undefined, 'aios.');
      assert.deepEqual(errors, [
        'unknown setting aios.throttle.step ignored (known: mode, minConcurrency, maxConcurrency)',
        'aios.throttle.minConcurrency must be an integer from 1 to 256 (got 1.5); keeping 1',
        'aios.throttle.maxConcurrency must be an integer from 1 to 256 (got 0); keeping 64',
      ]);
      assert.match(validateConfig({ throttle: 'adaptive' }).errors[0], /throttle must be an object/);
    });
  });
});
