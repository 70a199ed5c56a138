// `aios` outside VS Code: with AIOS_ENDPOINT and AIOS_TOKEN_FILE it reaches a window through the real
// control endpoint (src/control/server.ts on 127.0.0.1) in front of a real middleware: status and control
// go through; run says what it needs; a wrong token or a missing token file is one clear line.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EXIT } from '../../../src/cli/protocol';
import { startControlServer, type ControlServer } from '../../../src/control/server';
import { world, type World } from './world';

const TOKEN = 'endpoint-token-0123456789abcdef';

describe('aios outside VS Code, through the control endpoint', () => {
  let w: World;
  let endpoint: ControlServer;
  let tokenFile: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    w = await world({ maxConcurrency: 3 });
    endpoint = await startControlServer({
      token: TOKEN,
      handlers: {
        control: (call, { signal }) => w.host.control(call, { signal }),
        execute: (request, hooks) => w.mw.execute(request, () => 'ran', { signal: hooks.signal, onCommandId: (id) => hooks.onCommandId(id) }),
        telemetry: (level) => w.mw.telemetry.query(level),
      },
    });
    tokenFile = join(w.dir, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    env = { ...process.env, AIOS_ENDPOINT: endpoint.url, AIOS_TOKEN_FILE: tokenFile };
    for (const k of ['AIOS_CLI_SOCKET', 'AIOS_CLI_SECRET']) delete env[k];
  });
  after(async () => {
    await endpoint.close(0);
    await w.close();
  });

  it('status reads the window’s admission through GET /api/telemetry', async () => {
    const r = await w.cli(['status'], { env }).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'AIOS 0/3 (control endpoint)\n');
  });

  it('control goes through POST /admin/control to the window’s control plane', async () => {
    const r = await w.cli(['control', 'log-level', 'warning'], { env }).done;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(w.controls.at(-1)?.operation, 'UPDATE_LOG_LEVEL');
    assert.equal(w.controls.at(-1)?.value, 'WARNING');
  });

  it('run says it needs an integrated terminal; a wrong token and a missing token file are one line each', async () => {
    const run = await w.cli(['run', '--', 'true'], { env }).done;
    assert.equal(run.code, EXIT.noWindow);
    assert.match(run.stderr, /^aios: run needs an integrated terminal/);
    const badFile = join(w.dir, 'bad-token');
    writeFileSync(badFile, 'not-the-token-at-all-xxxxxxxx');
    const wrong = await w.cli(['status'], { env: { ...env, AIOS_TOKEN_FILE: badFile } }).done;
    assert.equal(wrong.code, EXIT.protocol);
    assert.match(wrong.stderr, /^aios: the control endpoint answered 401/);
    const none = await w.cli(['status'], { env: { ...env, AIOS_TOKEN_FILE: join(w.dir, 'absent') } }).done;
    assert.equal(none.code, EXIT.usage);
    assert.match(none.stderr, /^aios: cannot read AIOS_TOKEN_FILE/);
    for (const r of [run, wrong, none]) assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});
