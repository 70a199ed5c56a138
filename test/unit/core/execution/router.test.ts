import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { CommandRouter, functionRoute } from '../../../../src/core/execution/router';
import { StaticSampler } from '../../../../src/core/system/sampler';
import { parseShellCommands } from '../../../../src/core/execution/shellCommands';
import type { Executor } from '../../../../src/core/types';

describe('the command router', () => {
  it('routes shell types to their program and everything else to the service', async () => {
    const served: string[] = [];
    const service: Executor = (req) => {
      served.push(req.commandType);
      return Promise.resolve('from service');
    };
    const router = new CommandRouter(service);
    const { commands } = parseShellCommands({ NODE_V: { file: process.execPath, args: ['-v'], priority: 'LOW', description: 'v' } }, 't', 'user', undefined);
    router.setShellCommands(new Map(commands.map((c) => [c.commandType, c])));
    assert.equal(router.route('NODE_V'), 'shell');
    assert.equal(router.route('ECHO'), 'service');
    assert.deepEqual(router.localRoutes(), [{ commandType: 'NODE_V', kind: 'shell', origin: 'user', placeholders: [], description: 'v', priority: 'LOW' }]);
    assert.equal(router.withDefaultPriority<{ commandType: string; priority?: string }>({ commandType: 'NODE_V' }).priority, 'LOW');
    assert.equal(router.withDefaultPriority({ commandType: 'NODE_V', priority: 'HIGH' }).priority, 'HIGH');
    const m = createMiddleware({ sampler: new StaticSampler() });
    const v = await m.execute({ commandType: 'NODE_V' }, router.executor);
    assert.equal((v.result as { stdout: string }).stdout.trim(), process.version);
    const out: string[] = [];
    await m.execute({ commandType: 'NODE_V' }, router.executorWithOutput({ onOutput: (t) => out.push(t), onExit: (c) => out.push(`exit ${c}`) }));
    assert.equal(out.join(''), `${process.version}\nexit 0`, 'the output as it came (in any chunks), then the exit code');
    assert.equal((await m.execute({ commandType: 'ECHO' }, router.executor)).result, 'from service');
    assert.deepEqual(served, ['ECHO']);
    await m.close();
  });

  it('runs a function under the middleware with a context of its own', async () => {
    const m = createMiddleware({ sampler: new StaticSampler(), config: { security: { denyPatterns: ['*DROP*'], allowPatterns: [] } } });
    let seen: object | undefined;
    const r = await m.execute(
      { commandType: 'MY_FN' },
      functionRoute((ctx) => {
        seen = ctx;
        return 42;
      }),
    );
    assert.equal(r.result, 42);
    const view = seen as { commandId: string; cancelled: boolean; prev?: unknown; cancel?: unknown; ctx?: unknown };
    assert.deepEqual(Object.keys(view), [], 'no own properties to reach the pipeline through');
    assert.equal(view.commandId, r.commandId);
    assert.equal(view.cancelled, false);
    assert.equal(view.prev, undefined, 'nothing of the pipeline flight shows through');
    assert.equal(view.cancel, undefined);
    let ran = false;
    const blocked = await m.execute(
      { commandType: 'DROP_FN' },
      functionRoute(() => (ran = true)),
    );
    assert.equal(blocked.error?.code, 'blocked');
    assert.equal(ran, false);
    const ac = new AbortController();
    const pending = m.execute(
      { commandType: 'WAIT_FN' },
      functionRoute((ctx) => new Promise((_res, rej) => ctx.onCancel(rej))),
      { signal: ac.signal },
    );
    ac.abort();
    assert.equal((await pending).error?.code, 'cancelled');
    await m.close();
  });
});
