// Other extensions through the public API: a caller that names itself is recorded as such, and the user can
// switch the control plane off for the API (aios.api.allowControl) without touching commands.
import * as assert from 'node:assert/strict';
import type { TelemetryEvent } from '../../src/core';
import { healthyAios, waitUntil, withSettings, type AiosApi } from './util';

describe('API callers', function () {
  let api: AiosApi;
  before(async () => {
    api = await healthyAios();
  });

  const eventsOf = (commandId: string): TelemetryEvent[] => api.context.middleware.telemetry.recentEvents().filter((e) => e.commandId === commandId);

  it('records the name a caller gives as the source of its commands and control operations', async () => {
    const mine = api.withCaller('acme.linter');
    const r = await mine.execute({ commandType: 'ECHO', parameters: { from: 'acme' } });
    assert.equal(r.success, true, JSON.stringify(r.error));
    const start = await waitUntil(() => eventsOf(r.commandId).find((e) => e.eventType === 'START'), 5000, 'the START event');
    assert.equal(start.metadata?.source, 'api');
    assert.equal(start.metadata?.caller, 'acme.linter');
    const c = await mine.control('BCM_RESET');
    assert.equal(c.success, true, JSON.stringify(c.error));
    const cstart = await waitUntil(() => eventsOf(c.commandId).find((e) => e.eventType === 'START'), 5000, 'the control START event');
    // A control operation is `control` whoever asked; the asker is its caller.
    assert.equal(cstart.metadata?.source, 'control');
    assert.equal(cstart.metadata?.caller, 'api:acme.linter');
    const anonymous = await api.execute({ commandType: 'ECHO' });
    assert.equal((await waitUntil(() => eventsOf(anonymous.commandId).find((e) => e.eventType === 'START'), 5000, 'START')).metadata?.source, 'api');
  });

  it('refuses an id that is not an extension id, in words', () => {
    assert.throws(() => api.withCaller(''), /withCaller\(\) takes your extension's id/);
    assert.throws(() => api.withCaller('evil\nname'), /withCaller\(\) takes your extension's id/);
  });

  it('aios.api.allowControl off: control() is blocked and never reaches the service; commands still run', async () => {
    await withSettings({ 'api.allowControl': false }, async () => {
      await waitUntil(() => api.context.middleware && true, 1000, 'settings');
      const before = api.context.middleware.telemetry.query('SUMMARY').overall.totalCommands;
      const c = await api.withCaller('acme.linter').control('HEALTH_OVERRIDE', 'unhealthy');
      assert.equal(c.success, false);
      assert.equal(c.error?.code, 'blocked');
      assert.match(c.error?.message ?? '', /aios\.api\.allowControl.*api:acme\.linter asked for HEALTH_OVERRIDE/);
      assert.equal(api.context.supervisor.state.status, 'healthy', 'the override never reached the service');
      assert.equal((await api.execute({ commandType: 'ECHO' })).success, true);
      assert.equal(api.context.middleware.telemetry.query('SUMMARY').overall.totalCommands, before + 1, 'only the ECHO ran');
    });
  });
});
