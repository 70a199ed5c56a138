// `aios` in the real host's integrated terminals: the collection puts it on PATH, and what a person types
// there goes through this window's middleware (exit codes and events, an interactive program, the queue and
// Ctrl-C, Cancel from VS Code ending the process tree, a denied type, status, events and control against the
// live window), in every shell Debian provides here, plus a plain shell outside VS Code. Every test title
// starts with "cli:" (AIOS_TEST_GREP="cli:" runs them alone). The terminals report back through files: a
// command line ends with `echo $? > <file>`.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { EXIT } from '../../src/cli/protocol';
import { running } from '../support/process';
import type { Executor, TelemetryEvent } from '../../src/core';
import { TelemetrySourceFilter } from '../../src/views/sourceFilter';
import { TelemetryTreeProvider } from '../../src/views/telemetryTree';
import { click, expandTreeSection, notificationTexts, personClick, requireUi, screenshot, treeRowIndex } from './ui';
import { healthyAios, waitUntil, withSettings, type AiosApi } from './util';

const SHELLS = ['bash', 'sh', 'zsh', 'fish'] as const;
type Shell = (typeof SHELLS)[number];

/** The shell's path when installed (zsh and fish are optional here). */
function shellPath(shell: Shell): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${shell}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** `$?` is `$status` in fish. */
const status = (shell: Shell) => (shell === 'fish' ? '$status' : '$?');

describe('cli: aios in integrated terminals', function () {
  this.timeout(120_000);
  let api: AiosApi;
  let dir: string;
  const terminals: vscode.Terminal[] = [];

  before(async () => {
    api = await healthyAios();
    dir = mkdtempSync(join(tmpdir(), 'aios-cli-host-'));
    // The server starts with the extension, asynchronously: terminals opened before it listens miss it.
    await waitUntil(() => api.context.extension.environmentVariableCollection.get('AIOS_CLI_SOCKET'), 20_000, 'the CLI server');
  });
  after(() => {
    for (const t of terminals) t.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  const since = Date.now();
  const events = (type: string): TelemetryEvent[] =>
    api.context.middleware.telemetry.recentEvents().filter((e) => e.commandType === type && Date.parse(e.timestamp) >= since - 1000);

  function open(shell: Shell = 'bash'): vscode.Terminal {
    const t = vscode.window.createTerminal({ name: `aios-cli-${shell}`, shellPath: shellPath(shell), cwd: dir });
    terminals.push(t);
    t.show();
    return t;
  }

  /** Types `line; echo $? > <file>` and waits for the exit code. */
  async function typed(t: vscode.Terminal, line: string, name: string, shell: Shell = 'bash'): Promise<number> {
    const file = join(dir, `${name}.code`);
    t.sendText(`${line}; echo ${status(shell)} > ${file}`);
    return Number(await waitUntil(() => existsSync(file) && readFileSync(file, 'utf8').trim(), 60_000, `the exit code of '${line}'`));
  }

  for (const shell of SHELLS) {
    it(`cli: ${shell}: aios run --type T -- sh -c 'exit 3' exits 3, recorded START then ERROR with the code`, async function () {
      if (!shellPath(shell)) this.skip(); // not installed on this machine
      const type = `CLI_EXIT3_${shell.toUpperCase()}`;
      const code = await typed(open(shell), `aios run --type ${type} -- sh -c 'exit 3'`, `exit3-${shell}`, shell);
      assert.equal(code, 3);
      const mine = events(type);
      assert.deepEqual(
        mine.map((e) => e.eventType),
        ['START', 'ERROR'],
      );
      assert.equal(mine[0].metadata?.source, 'cli');
      assert.equal(mine[1].metadata?.source, 'cli', 'the end carries its source too');
      assert.match(String(mine[1].metadata?.message), /exited with code 3/);
      assert.equal(typeof mine[1].durationMs, 'number');
    });
  }

  it('cli: an interactive cat reads what is typed in the terminal (its stdin is the TTY)', async () => {
    const t = open();
    const out = join(dir, 'cat.txt');
    const file = join(dir, 'cat.code');
    t.sendText(`aios run --type CLI_CAT -- cat > ${out}; echo $? > ${file}`);
    await waitUntil(() => api.context.middleware.inFlight().find((f) => f.commandType === 'CLI_CAT' && f.stage === 'running'), 30_000, 'cat running');
    t.sendText('typed into cat');
    t.sendText('\x04', false); // Ctrl-D: end of input
    assert.equal(Number(await waitUntil(() => existsSync(file) && readFileSync(file, 'utf8').trim(), 30_000, 'cat ended')), 0);
    assert.equal(readFileSync(out, 'utf8'), 'typed into cat\n');
    assert.equal(events('CLI_CAT').at(-1)?.eventType, 'COMPLETE');
  });

  it('cli: a command queued behind the limit shows in the tree as waiting; Ctrl-C cancels it (CANCEL, exit 130)', async () => {
    await withSettings({ maxConcurrency: 1 }, async () => {
      const mw = api.context.middleware;
      await waitUntil(() => mw.admission.limit === 1, 10_000, 'the limit of 1');
      let release!: () => void;
      const held: Executor = () => new Promise<void>((r) => (release = r));
      const holder = mw.execute({ commandType: 'CLI_HOLDER' }, held);
      try {
        const t = open();
        const file = join(dir, 'queued.code');
        t.sendText(`aios run --type CLI_QUEUED -- true; echo $? > ${file}`);
        await waitUntil(() => mw.inFlight().find((f) => f.commandType === 'CLI_QUEUED' && f.stage !== 'running'), 30_000, 'the command waiting its turn');
        // The tree's own provider lists it under Running, as waiting.
        const filter = new TelemetrySourceFilter(api.context.extension.workspaceState);
        const tree = new TelemetryTreeProvider(api.context, filter);
        try {
          // The In Flight section (it lists what has been in flight a second or more), whose header counts
          // running and queued apart.
          const section = tree.getChildren().find((n) => tree.getTreeItem(n).label === 'In Flight');
          assert.ok(section, 'the In Flight section in the tree');
          const item = await waitUntil(
            () =>
              tree
                .getChildren(section)
                .map((n) => tree.getTreeItem(n))
                .find((i) => i.label === 'CLI_QUEUED'),
            5000,
            'the queued aios command in the tree',
          );
          assert.match(String(tree.getTreeItem(tree.getChildren().find((n) => tree.getTreeItem(n).label === 'In Flight')!).description), /1 queued/);
          assert.equal((item.iconPath as vscode.ThemeIcon).id, 'watch', 'shown as waiting');
        } finally {
          tree.dispose();
          filter.dispose();
        }
        t.sendText('\x03', false); // Ctrl-C
        assert.equal(Number(await waitUntil(() => existsSync(file) && readFileSync(file, 'utf8').trim(), 30_000, 'aios ended')), EXIT.cancelled);
        assert.deepEqual(
          events('CLI_QUEUED')
            .filter((e) => e.eventType !== 'THROTTLE')
            .map((e) => e.eventType),
          ['CANCEL'],
        );
      } finally {
        release();
        await holder;
      }
    });
  });

  it('cli: a running command cancelled from VS Code stops, and its process tree is gone', async () => {
    const t = open();
    const pidFile = join(dir, 'bg.pid');
    const file = join(dir, 'tree.code');
    t.sendText(`aios run --type CLI_TREE -- sh -c 'sleep 300 & echo $! > ${pidFile}; sleep 300'; echo $? > ${file}`);
    const flight = await waitUntil(
      () => api.context.middleware.inFlight().find((f) => f.commandType === 'CLI_TREE' && f.stage === 'running'),
      30_000,
      'the command running',
    );
    const bg = Number(await waitUntil(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim(), 30_000, 'the background pid'));
    assert.equal(await vscode.commands.executeCommand('aios.cancelCommand', flight.commandId), true);
    assert.equal(Number(await waitUntil(() => existsSync(file) && readFileSync(file, 'utf8').trim(), 30_000, 'aios ended')), EXIT.cancelled);
    await waitUntil(() => !running(bg), 10_000, 'the background sleep gone');
    assert.equal(events('CLI_TREE').at(-1)?.eventType, 'CANCEL');
  });

  it("cli: the tree's Run Again on a program run in a terminal, or on a function an extension ran, says where to run it instead", async function () {
    requireUi(this);
    assert.equal(await typed(open(), 'aios run --type CLI_AGAIN -- true', 'again'), 0);
    await api.run('FN_AGAIN', () => 1);
    await vscode.commands.executeCommand('notifications.clearAll');
    // Not alone: the other sections stay as they are (Collapse All is no part of this), and the few rows of this
    // early suite fit on screen.
    await expandTreeSection('Command Types', { alone: false });
    const cases: [string, RegExp][] = [
      ['CLI_AGAIN', /^AIOS: CLI_AGAIN ran a program in a terminal \(aios run\): run it again there\./],
      ['FN_AGAIN', /^AIOS: FN_AGAIN is neither a command of the Python service nor one of aios\.shellCommands .*cannot start it again\./],
    ];
    const count = (type: string) => api.context.middleware.telemetry.byType()[type]?.count ?? 0;
    for (const [type, says] of cases) {
      const before = count(type);
      const row = await treeRowIndex(type);
      await click(`.pane .monaco-list-row[data-index="${row}"]`);
      await personClick('.pane .monaco-list-row.focused .action-label[aria-label="Run Again"]');
      const note = await waitUntil(async () => (await notificationTexts()).find((t) => says.test(t)), 10_000, `what Run Again says for ${type}`).catch(
        async (err: Error) => {
          throw new Error(`${err.message}; notifications: ${JSON.stringify(await notificationTexts())}`);
        },
      );
      assert.ok(note);
      if (type === 'FN_AGAIN') await screenshot('tree-run-again-not-runnable');
      assert.equal(count(type), before, `nothing of ${type} ran`);
      await vscode.commands.executeCommand('notifications.clearAll');
    }
  });

  it('cli: a denied type prints the policy and exits 77 without running anything', async () => {
    await withSettings({ 'security.denyPatterns': ['CLI_DENIED*'] }, async () => {
      const marker = join(dir, 'denied-ran');
      const code = await typed(open(), `aios run --type CLI_DENIED -- touch ${marker}`, 'denied');
      assert.equal(code, EXIT.denied);
      assert.equal(existsSync(marker), false);
      assert.equal(events('CLI_DENIED').at(-1)?.metadata?.code, 'blocked');
    });
  });

  it('cli: status, events --follow and control against the live window', async () => {
    const t = open();
    const statusFile = join(dir, 'status.json');
    assert.equal(await typed(t, `aios status --json > ${statusFile}`, 'status'), 0);
    const facts = JSON.parse(readFileSync(statusFile, 'utf8')) as { line: string; limit: number; service: string };
    assert.equal(facts.limit, api.context.middleware.admission.limit);
    assert.equal(facts.service, api.context.supervisor.state.status);
    assert.match(facts.line, /^AIOS /);

    const follow = open();
    const eventsFile = join(dir, 'events.jsonl');
    follow.sendText(`aios events --follow --type 'CLI_FOLLOWED' > ${eventsFile}`);
    await waitUntil(
      async () => {
        await api.context.middleware.execute({ commandType: 'CLI_FOLLOWED' }, () => 1);
        return existsSync(eventsFile) && /"eventType":"COMPLETE"/.test(readFileSync(eventsFile, 'utf8'));
      },
      30_000,
      'a followed event in the file',
    );
    follow.sendText('\x03', false);

    assert.equal(await typed(t, 'aios control log-level DEBUG > /dev/null', 'control'), 0);
    await waitUntil(() => api.context.supervisor.state.health?.logLevel === 'DEBUG', 20_000, 'the service at DEBUG');
    assert.ok(
      api.context.middleware.telemetry
        .recentEvents()
        .some((e) => e.commandType === 'CONTROL:UPDATE_LOG_LEVEL' && e.metadata?.source === 'control' && e.metadata.caller === 'cli'),
    );
    assert.equal(await typed(t, 'aios control log-level INFO > /dev/null', 'control-back'), 0);
  });

  it('cli: in a plain shell outside VS Code, aios says in one line that there is no window (exit 69)', async () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AIOS_CLI_')));
    const bin = join(dirname(api.context.extension.environmentVariableCollection.get('AIOS_CLI_MAIN')!.value), 'bin');
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn('sh', ['-c', 'aios status'], { env: { ...env, PATH: `${bin}:${env.PATH ?? ''}` }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      c.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, EXIT.noWindow);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^aios: no VS Code window here/);
  });
});
