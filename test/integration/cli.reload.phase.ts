// `aios` across a real window reload (run in the reload phase, before reload.phase.ts, which reloads the
// window): a terminal opened before the reload is restored by VS Code with the environment it had, and
// its `aios` still reaches the window, because the new activation takes over the socket and secret the
// old one left. First load: open the terminal, run a command through it, note the socket. Second load:
// the same terminal runs another command, recorded by the new extension host.
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { requireUi } from './ui';
import { healthyAios, waitUntil } from './util';

const NAME = 'aios-cli-reload';
const handOver = join(process.env.AIOS_TEST_RESULTS ?? '.', 'cli-reload-hand-over.json');
const reloaded = existsSync(handOver);

interface HandOver {
  socket: string;
  dir: string;
}

async function typed(t: vscode.Terminal, line: string, file: string): Promise<number> {
  t.sendText(`${line}; echo $? > ${file}`);
  return Number(await waitUntil(() => existsSync(file) && readFileSync(file, 'utf8').trim(), 60_000, `the exit code of '${line}'`));
}

if (!reloaded) {
  describe('cli: before a window reload', function () {
    this.timeout(90_000);
    it('cli: a terminal runs aios through the window (reload, first load)', async function () {
      requireUi(this);
      const api = await healthyAios();
      const collection = api.context.extension.environmentVariableCollection;
      const socket = await waitUntil(() => collection.get('AIOS_CLI_SOCKET')?.value, 20_000, 'the CLI server');
      const dir = join(tmpdir(), `aios-cli-reload-${process.pid}`);
      mkdirSync(dir, { recursive: true });
      const t = vscode.window.createTerminal({ name: NAME, shellPath: 'bash', cwd: dir });
      t.show();
      assert.equal(await typed(t, 'aios run --type CLI_BEFORE_RELOAD -- true', join(dir, 'before.code')), 0);
      writeFileSync(handOver, JSON.stringify({ socket, dir } satisfies HandOver));
    });
  });
}

if (reloaded) {
  describe('cli: after a window reload', function () {
    this.timeout(90_000);
    it('cli: the terminal the reload restored still reaches the window through aios (reload, second load)', async function () {
      requireUi(this);
      const before = JSON.parse(readFileSync(handOver, 'utf8')) as HandOver;
      const api = await healthyAios();
      const collection = api.context.extension.environmentVariableCollection;
      await waitUntil(() => collection.get('AIOS_CLI_SOCKET')?.value, 20_000, 'the CLI server');
      assert.equal(collection.get('AIOS_CLI_SOCKET')?.value, before.socket, 'the new window took over the socket its terminals know');
      const t = await waitUntil(() => vscode.window.terminals.find((x) => x.name === NAME), 30_000, 'the restored terminal');
      const since = Date.now();
      assert.equal(await typed(t, 'aios run --type CLI_AFTER_RELOAD -- true', join(before.dir, 'after.code')), 0);
      const done = api.context.middleware.telemetry
        .recentEvents()
        .find((e) => e.commandType === 'CLI_AFTER_RELOAD' && e.eventType === 'COMPLETE' && Date.parse(e.timestamp) >= since - 1000);
      assert.ok(done, 'the new extension host recorded it');
      t.dispose();
      rmSync(before.dir, { recursive: true, force: true });
    });
  });
}
