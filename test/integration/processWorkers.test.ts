// aios.python.processWorkers reaches the service: changing it restarts the service in that mode.
import * as assert from 'node:assert/strict';
import { healthyAios, waitUntil, withSettings, type AiosApi } from './util';

describe('process workers setting', function () {
  this.timeout(120_000);
  let api: AiosApi;
  before(async () => {
    api = await healthyAios();
  });

  const mode = async (): Promise<string | undefined> => {
    return (await api.context.supervisor.checkHealth())?.processWorkers?.mode;
  };

  it('aios.python.processWorkers "all" restarts the service with every workspace handler in worker processes; empty gives the config file its say', async () => {
    const before = api.context.supervisor.state.pid;
    await withSettings({ 'python.processWorkers': 'all' }, async () => {
      await waitUntil(
        async () =>
          api.context.supervisor.state.status === 'healthy' && api.context.supervisor.state.pid !== before && (await mode()) === 'all' ? true : undefined,
        60_000,
        'the service in mode all',
      );
      const r = await api.execute({ commandType: 'ECHO', parameters: { workers: 'all' } });
      assert.equal(r.success, true, JSON.stringify(r.error));
    });
    await waitUntil(
      async () => (api.context.supervisor.state.status === 'healthy' && (await mode()) === 'opt-in' ? true : undefined),
      60_000,
      'the service back in the default mode',
    );
  });
});
