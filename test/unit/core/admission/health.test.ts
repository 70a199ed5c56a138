// What the service's health does to admission, through the real pipeline with an executor gated as the
// Python one is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { healthRefusal } from '../../../../src/core/admission/health';
import type { Executor } from '../../../../src/core/types';

describe('health and admission', () => {
  it('an unhealthy service runs HIGH only; NORMAL and LOW are refused with service_unhealthy; healthy runs all', () => {
    assert.equal(healthRefusal('unhealthy', 'HIGH'), undefined);
    for (const p of ['NORMAL', 'LOW', undefined] as const) {
      const r = healthRefusal('unhealthy', p, 'marked unhealthy by HEALTH_OVERRIDE');
      assert.equal(r?.code, 'service_unhealthy');
      assert.match(r.message, /only HIGH priority commands run/);
      assert.match(r.message, /marked unhealthy by HEALTH_OVERRIDE/);
    }
    for (const s of ['healthy', 'starting', undefined]) assert.equal(healthRefusal(s, 'LOW'), undefined);
  });

  it('through the pipeline: the refusal is an ERROR event with the code, and nothing reaches the service', async () => {
    let status = 'unhealthy';
    const sent: string[] = [];
    const executor: Executor = (request) => {
      const refused = healthRefusal(status, request.priority);
      if (refused) throw refused;
      sent.push(`${request.priority}`);
      return Promise.resolve({ ok: true });
    };
    const m = createMiddleware({});
    try {
      const normal = await m.execute({ commandType: 'ECHO', priority: 'NORMAL' }, executor);
      const high = await m.execute({ commandType: 'ECHO', priority: 'HIGH' }, executor);
      assert.equal(normal.success, false);
      assert.equal(normal.error?.code, 'service_unhealthy');
      assert.equal(high.success, true);
      status = 'healthy';
      const after = await m.execute({ commandType: 'ECHO', priority: 'LOW' }, executor);
      assert.equal(after.success, true);
      assert.deepEqual(sent, ['HIGH', 'LOW']);
      const errors = m.telemetry.recentEvents().filter((e) => e.eventType === 'ERROR');
      assert.equal(errors.length, 1);
      assert.equal((errors[0].metadata as { code?: string }).code, 'service_unhealthy');
    } finally {
      await m.close();
    }
  });
});
