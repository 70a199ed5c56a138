// The sources of commands beyond the palette, in the real host: shell command types (settings and the
// workspace's .aios/commands.json), tasks of type `aios` in their pseudoterminal, terminal commands through
// shell integration, batches, and a second extension using the public API. Every test title starts with
// "sources:" (AIOS_TEST_GREP="sources:" runs them alone).
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { BatchRun } from '../../src/commands/batch';
import type { CommandResult, TelemetryEvent } from '../../src/core';
import type { ConsumerApi } from '../fixtures/api-consumer/extension';
import { installConsumer } from './apiConsumer';
import { NOTIFICATION_ITEM, click, clickWith, evaluate, fill, hasUi, onScreen, notificationTexts, press, runFromPalette, screenshot, waitFor } from './ui';
import { aios, waitUntil, withSettings, type AiosApi } from './util';
import { running } from '../support/process';

const node = process.execPath;
const workspace = () => process.env.AIOS_TEST_WORKSPACE ?? vscode.workspace.workspaceFolders![0].uri.fsPath;

function eventsOf(api: AiosApi, pred: (e: TelemetryEvent) => boolean): TelemetryEvent[] {
  return api.context.middleware.telemetry.recentEvents().filter(pred);
}

/** Text of the terminal panel as rendered (DOM renderer), for screen checks. */
const TERMINAL_TEXT = `const rows = [...document.querySelectorAll('.terminal-wrapper .xterm-rows')].filter((r) => r.offsetParent !== null);
  return rows.map((r) => r.innerText.replace(/\\u00a0/g, ' ')).join('\\n');`;

async function terminalText(): Promise<string> {
  return evaluate<string>(TERMINAL_TEXT);
}

const say = { file: node, args: ['-e', 'console.log("said: " + process.argv[1])', '${text}'], description: 'prints its text' };

describe('sources of commands', function () {
  this.timeout(120_000);
  let api: AiosApi;

  before(async () => {
    api = await aios();
    await api.context.supervisor.connection();
    // The DOM renderer, so the terminal's text can be read off the screen.
    await vscode.workspace.getConfiguration('terminal.integrated').update('gpuAcceleration', 'off', vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    await vscode.workspace.getConfiguration('terminal.integrated').update('gpuAcceleration', undefined, vscode.ConfigurationTarget.Global);
  });

  it('sources: a shell command type from the user settings runs through the pipeline; placeholders fill one argument each', async () => {
    await withSettings(
      { shellCommands: { HOST_SAY: say, HOST_EXIT: { file: node, args: ['-e', 'process.stderr.write("no good"); process.exit(5)'] } } },
      async () => {
        await waitUntil(() => api.context.router.route('HOST_SAY') === 'shell', 10_000, 'HOST_SAY from aios.shellCommands');
        const r = await vscode.commands.executeCommand<CommandResult>('aios.runCommand', {
          commandType: 'HOST_SAY',
          parameters: { text: 'a b; $(rm -rf x) `y`' },
        });
        assert.equal(r.success, true, r.error?.message);
        assert.equal((r.result as { stdout: string }).stdout, 'said: a b; $(rm -rf x) `y`\n');
        const missing = await vscode.commands.executeCommand<CommandResult>('aios.runCommand', { commandType: 'HOST_SAY' });
        assert.equal(missing.error?.code, 'invalid_request');
        assert.match(missing.error.message, /needs the parameter 'text'/);
        const failed = await vscode.commands.executeCommand<CommandResult>('aios.runCommand', { commandType: 'HOST_EXIT' });
        assert.equal(failed.error?.code, 'exit_code');
        assert.match(failed.error.message, /exited with code 5: no good/);
        const ends = eventsOf(api, (e) => e.commandType === 'HOST_EXIT' && e.eventType === 'ERROR');
        assert.ok(ends.length === 1 && typeof ends[0].durationMs === 'number');
        // The service's types are still the service's.
        const echo = await vscode.commands.executeCommand<CommandResult>('aios.runCommand', { commandType: 'ECHO', parameters: { x: 1 } });
        assert.deepEqual(echo.result, { x: 1 });
        if (onScreen()) {
          // As a person: Run Command lists it beside the service's types, the parameters box starts with its
          // placeholder, and its output streams into the AIOS Commands channel.
          await runFromPalette('AIOS: Run Command');
          const item = await waitFor<string>(
            `const rows = [...document.querySelectorAll('.quick-input-widget .monaco-list-row')].map((r) => r.textContent);
             return rows.find((t) => t.includes('HOST_SAY') && t.includes('shell · settings')) ?? null;`,
          );
          assert.match(item, /prints its text/);
          await screenshot('run-command-shell-types');
          await fill('.quick-input-widget input', 'HOST_SAY');
          await press('Enter');
          await waitFor(`return document.querySelector('.quick-input-widget .quick-input-title')?.textContent.includes('(2/3)') || null;`);
          await fill('.quick-input-widget input', 'NORMAL');
          await press('Enter');
          const value = await waitFor<string>(
            `const t = document.querySelector('.quick-input-widget .quick-input-title')?.textContent ?? '';
             return t.includes('(3/3)') ? document.querySelector('.quick-input-widget input').value : null;`,
          );
          assert.equal(value, '{"text":""}');
          await fill('.quick-input-widget input', '{"text": "typed by a person"}');
          await press('Enter');
          const shown = await waitFor<string>(
            `const panel = document.querySelector('.part.panel');
             const text = panel && panel.offsetParent !== null ? panel.innerText.replace(/\u00a0/g, ' ') : '';
             return /said: typed by a person/.test(text) && /HOST_SAY exited with code 0/.test(text) ? text : null;`,
          );
          assert.match(shown, /▶ HOST_SAY/);
          await screenshot('shell-output-channel');
          await vscode.commands.executeCommand('notifications.clearAll');
        }
      },
    );
    await waitUntil(() => api.context.router.route('HOST_SAY') === 'service', 10_000, 'HOST_SAY gone with the setting');
  });

  it('sources: .aios/commands.json of the trusted workspace is loaded and watched; a bad definition is named', async () => {
    const file = join(workspace(), '.aios', 'commands.json');
    const before = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    try {
      writeFileSync(file, JSON.stringify({ WS_SAY: say, 'WS BAD': { file: 'x' }, WS_NOFILE: { args: [] } }));
      await waitUntil(() => api.context.router.route('WS_SAY') === 'shell', 15_000, 'WS_SAY from .aios/commands.json');
      assert.equal(api.context.router.shellCommand('WS_SAY')?.origin, 'workspace');
      assert.equal(api.context.router.route('WS_NOFILE'), 'service', 'the bad definition was not taken');
      const r = await api.execute({ commandType: 'WS_SAY', parameters: { text: 'from the workspace' } });
      assert.equal((r.result as { stdout: string }).stdout, 'said: from the workspace\n');
      if (onScreen()) {
        const texts = await waitUntil(
          async () => {
            const t = await notificationTexts();
            return t.some((x) => /\.aios\/commands\.json: 'WS BAD'/.test(x)) ? t : undefined;
          },
          10_000,
          'the warning naming the bad definition',
        );
        assert.ok(texts.some((x) => /and 1 more/.test(x)));
        await vscode.commands.executeCommand('notifications.clearAll');
      }
    } finally {
      if (before === undefined) rmSync(file, { force: true });
      else writeFileSync(file, before);
    }
    await waitUntil(() => api.context.router.route('WS_SAY') === 'service', 15_000, 'WS_SAY gone with the file');
  });

  it('sources: tasks of type aios are listed, resolved from tasks.json, exit non-zero on failure, and problem matchers read their output', async () => {
    const ws = workspace();
    const tasksFile = join(ws, '.vscode', 'tasks.json');
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    writeFileSync(join(ws, 'problem.txt'), 'one\ntwo\n');
    writeFileSync(
      tasksFile,
      JSON.stringify({
        version: '2.0.0',
        tasks: [
          {
            type: 'aios',
            commandType: 'HOST_PROBLEM',
            label: 'aios: problem',
            problemMatcher: {
              owner: 'aios-test',
              fileLocation: ['relative', '${workspaceFolder}'],
              pattern: { regexp: '^(.*):(\\d+):(\\d+): error: (.*)$', file: 1, line: 2, column: 3, message: 4 },
            },
          },
        ],
      }),
    );
    const problem = { file: node, args: ['-e', 'console.log("compiling…"); console.log("problem.txt:2:1: error: boom from aios"); process.exit(3)'] };
    try {
      await withSettings({ shellCommands: { HOST_SAY: say, HOST_PROBLEM: problem } }, async () => {
        await waitUntil(() => api.context.router.route('HOST_PROBLEM') === 'shell', 10_000, 'HOST_PROBLEM');
        const provided = await waitUntil(
          async () => {
            const all = await vscode.tasks.fetchTasks({ type: 'aios' });
            return all.some((t) => t.name === 'aios: problem') ? all : undefined;
          },
          15_000,
          'the tasks.json task',
        );
        const names = provided.map((t) => String(t.definition.commandType));
        for (const n of ['HOST_SAY', 'HOST_PROBLEM', 'ECHO', 'SLEEP']) assert.ok(names.includes(n), `${n} is offered as a task (${names.join(', ')})`);
        const sayTask = provided.find((t) => t.name === 'HOST_SAY')!;
        assert.deepEqual((sayTask.definition as { parameters?: object }).parameters, { text: '' }, 'placeholders are offered as parameters');

        const task = provided.find((t) => t.name === 'aios: problem')!;
        const ended = new Promise<void>((resolve) => {
          const sub = vscode.tasks.onDidEndTask((e) => {
            if (e.execution.task.name !== task.name) return;
            sub.dispose();
            resolve();
          });
        });
        await vscode.tasks.executeTask(task);
        await ended;
        const uri = vscode.Uri.file(join(ws, 'problem.txt'));
        const diagnostics = await waitUntil(
          () => {
            const d = vscode.languages.getDiagnostics(uri);
            return d.length ? d : undefined;
          },
          10_000,
          'the problem matcher to report',
        );
        assert.equal(diagnostics[0].message, 'boom from aios');
        assert.equal(diagnostics[0].range.start.line, 1);
        const end = eventsOf(api, (e) => e.commandType === 'HOST_PROBLEM' && e.eventType !== 'START').at(-1)!;
        assert.equal(end.eventType, 'ERROR');
        assert.match(String(end.metadata?.message), /exited with code 3/);
        const start = eventsOf(api, (e) => e.commandType === 'HOST_PROBLEM' && e.eventType === 'START').at(-1)!;
        assert.equal(start.metadata?.source, 'task');
        if (onScreen()) {
          const text = await waitUntil(
            async () => {
              const t = await terminalText();
              return /HOST_PROBLEM failed \(exit_code\)/.test(t) ? t : undefined;
            },
            10_000,
            'the task terminal to show the failure',
          );
          assert.match(text, /compiling…/);
          assert.match(text, /problem\.txt:2:1: error: boom from aios/);
          await screenshot('task-terminal-failure');
        }
      });
    } finally {
      rmSync(tasksFile, { force: true });
    }
  });

  it('sources: malformed .aios/commands.json, tasks.json, aios.rules and a setting: one clear message each, the rest loads and runs', async () => {
    const ws = workspace();
    const commandsFile = join(ws, '.aios', 'commands.json');
    const tasksFile = join(ws, '.vscode', 'tasks.json');
    const originalCommands = readFileSync(commandsFile, 'utf8');
    mkdirSync(join(ws, '.vscode'), { recursive: true });
    if (hasUi) await vscode.commands.executeCommand('notifications.clearAll');
    const warnings: string[] = [];
    const log = api.context.log;
    const warn = log.warn.bind(log);
    log.warn = (message: string, ...args: unknown[]) => {
      warnings.push(String(message));
      warn(message, ...args);
    };
    const messages = {
      commands: `.aios/commands.json: 'HOST_BROKEN': 'file' must name a program, like "npm" or "/usr/bin/make"`,
      task: 'tasks.json: the aios task "aios: urgent": priority must be HIGH, NORMAL or LOW (got "URGENT")',
      rule: /^aios\.rules\[1\] "bad-rule": when\.metric must be one of cpuPercent, .*\(got "cpu"\); this rule is not active, the others are$/,
      setting: 'aios.maxConcurrency must be an integer from 1 to 256 (got 0); keeping 4',
    };
    try {
      writeFileSync(commandsFile, JSON.stringify({ HOST_FINE: { file: node, args: ['-e', 'console.log("fine")'] }, HOST_BROKEN: { args: ['x'] } }));
      writeFileSync(
        tasksFile,
        JSON.stringify({
          version: '2.0.0',
          tasks: [
            { type: 'aios', commandType: 'ECHO', parameters: { from: 'the good task' }, label: 'aios: good' },
            { type: 'aios', commandType: 'ECHO', priority: 'URGENT', label: 'aios: urgent' },
          ],
        }),
      );
      const rules = [
        { name: 'good-rule', when: { metric: 'queueDepth', above: 100_000, forSeconds: 60 }, then: { notify: 'never' } },
        { name: 'bad-rule', when: { metric: 'cpu', above: 90 }, then: { notify: 'x' } },
      ];
      await withSettings({ rules, maxConcurrency: 0 }, async () => {
        await waitUntil(() => api.context.router.route('HOST_FINE') === 'shell' || undefined, 15_000, 'the good shell command type');
        assert.notEqual(api.context.router.route('HOST_BROKEN'), 'shell');
        const fine = await api.execute({ commandType: 'HOST_FINE' });
        assert.equal(fine.success, true, JSON.stringify(fine.error));
        assert.deepEqual(
          api.context.rules.states().map((r) => [r.name, r.status]),
          [
            ['good-rule', 'armed'],
            ['bad-rule', 'invalid'],
          ],
        );
        assert.equal(api.context.middleware.config.maxConcurrency, 4, 'the value in force stays');
        // The tasks: the malformed one says why in its terminal and runs nothing; the good one runs.
        const tasks = await waitUntil(
          async () => {
            const all = await vscode.tasks.fetchTasks({ type: 'aios' });
            return all.some((t) => t.name === 'aios: urgent') && all.some((t) => t.name === 'aios: good') ? all : undefined;
          },
          15_000,
          'the tasks.json tasks',
        );
        const echoes = () => eventsOf(api, (e) => e.commandType === 'ECHO' && e.eventType === 'START' && e.metadata?.source === 'task').length;
        for (const name of ['aios: urgent', 'aios: good']) {
          const before = echoes();
          const task = tasks.find((t) => t.name === name)!;
          const ended = new Promise<void>((resolve) => {
            const sub = vscode.tasks.onDidEndTask((e) => {
              if (e.execution.task.name !== name) return;
              sub.dispose();
              resolve();
            });
          });
          await vscode.tasks.executeTask(task);
          await ended;
          assert.equal(echoes() - before, name === 'aios: good' ? 1 : 0, `${name}: ECHO started by the task`);
        }
        const ours = (text: string | RegExp) =>
          warnings.filter((w) => (typeof text === 'string' ? w.includes(text) : text.test(w.replace(/^Setting ignored: /, ''))));
        assert.equal(ours(messages.commands).length, 1, `one log line for commands.json:\n${warnings.join('\n')}`);
        assert.equal(ours(messages.task).length, 1, 'one log line for the task');
        assert.equal(ours(messages.rule).length, 1, 'one log line for the rule');
        assert.equal(ours(messages.setting).length, 1, 'one log line for the setting');
        if (onScreen()) {
          const shown = await waitUntil(
            async () => {
              const texts = await notificationTexts();
              return texts.some((t) => t.includes(messages.commands)) &&
                texts.some((t) => t.includes('bad-rule')) &&
                texts.some((t) => t.includes(messages.setting))
                ? texts
                : undefined;
            },
            15_000,
            'the notifications',
          );
          assert.equal(shown.filter((t) => t.includes("'HOST_BROKEN'")).length, 1, shown.join('\n'));
          assert.equal(shown.filter((t) => t.includes('"bad-rule"')).length, 1, shown.join('\n'));
          await screenshot('malformed-inputs-notifications');
        }
      });
      const echo = await api.execute({ commandType: 'ECHO', parameters: { still: 'running' } });
      assert.equal(echo.success, true, JSON.stringify(echo.error));
    } finally {
      log.warn = warn;
      writeFileSync(commandsFile, originalCommands);
      rmSync(tasksFile, { force: true });
      if (hasUi) await vscode.commands.executeCommand('notifications.clearAll');
    }
  });

  it('sources: a task shows its wait in the queue, and Terminate cancels it (CANCEL recorded, process tree gone)', async () => {
    const dir = join(tmpdir(), `aios-task-${process.pid}-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    const pids = join(dir, 'pids');
    // A program that starts a child and writes both pids, then runs until stopped.
    const hang = {
      file: node,
      args: [
        '-e',
        'const c = require("child_process").spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], {stdio: "ignore"}); require("fs").writeFileSync(process.argv[1], process.pid + " " + c.pid); console.log("running, child " + c.pid); setInterval(() => {}, 1000)',
        '${pids}',
      ],
    };
    await withSettings({ shellCommands: { HOST_HANG: hang }, maxConcurrency: 1 }, async () => {
      await waitUntil(() => api.context.router.route('HOST_HANG') === 'shell' && api.context.middleware.config.maxConcurrency === 1, 10_000, 'the settings');
      // Hold the only slot, so the task waits in the queue first.
      const holder = new AbortController();
      const held = api.execute({ commandType: 'SLEEP', parameters: { seconds: 30 } }, { signal: holder.signal });
      await waitUntil(() => api.context.middleware.admission.active === 1, 10_000, 'the slot to be taken');
      // A tasks.json task: VS Code resolves it through the provider's resolveTask.
      const tasksFile = join(workspace(), '.vscode', 'tasks.json');
      mkdirSync(join(workspace(), '.vscode'), { recursive: true });
      writeFileSync(
        tasksFile,
        JSON.stringify({
          version: '2.0.0',
          tasks: [{ type: 'aios', commandType: 'HOST_HANG', parameters: { pids }, label: 'aios: hang', problemMatcher: [] }],
        }),
      );
      const task = await waitUntil(async () => (await vscode.tasks.fetchTasks({ type: 'aios' })).find((t) => t.name === 'aios: hang'), 15_000, 'the hang task');
      const execution = await vscode.tasks.executeTask(task);
      rmSync(tasksFile, { force: true });
      await waitUntil(() => api.context.middleware.admission.queued.NORMAL === 1, 10_000, 'the task to queue');
      if (onScreen()) {
        await waitUntil(async () => /waiting in the queue: position 1/.test(await terminalText()), 10_000, 'the queue position in the terminal');
        await screenshot('task-terminal-queued');
      }
      holder.abort();
      await held;
      await waitUntil(() => existsSync(pids) && readFileSync(pids, 'utf8').includes(' '), 15_000, 'the program to start');
      const [parent, child] = readFileSync(pids, 'utf8').split(' ').map(Number);
      assert.ok(running(parent) && running(child));
      if (onScreen()) {
        await waitUntil(async () => /running, child/.test(await terminalText()), 10_000, 'the live output');
        await screenshot('task-terminal-running');
      }
      execution.terminate();
      const cancel = await waitUntil(() => eventsOf(api, (e) => e.commandType === 'HOST_HANG' && e.eventType === 'CANCEL')[0], 10_000, 'CANCEL for the task');
      assert.equal(cancel.metadata?.stage, 'running');
      await waitUntil(() => !running(parent) && !running(child), 10_000, 'the program and its child to end');
    });
    rmSync(dir, { recursive: true, force: true });
  });

  it('sources: terminal commands are recorded through shell integration when turned on; a denied command line warns', async () => {
    const deny = ['*DELETE*', '*DROP*', '*AIOS_DENIED*'];
    await withSettings({ 'terminal.recordCommands': true, 'security.denyPatterns': deny }, async () => {
      const terminal = vscode.window.createTerminal({ name: 'aios-recorded' });
      try {
        terminal.show();
        const si = await waitUntil(() => terminal.shellIntegration, 30_000, 'shell integration in the terminal');
        const since = Date.now();
        const mine = (type: string) => eventsOf(api, (e) => e.commandType === type && Date.parse(e.timestamp) >= since - 1000);
        si.executeCommand('echo aios-recorded-ok');
        const ok = await waitUntil(() => mine('TERMINAL:echo').find((e) => e.eventType === 'COMPLETE'), 20_000, 'COMPLETE for TERMINAL:echo');
        assert.equal(ok.metadata?.exitCode, 0);
        assert.equal(typeof ok.durationMs, 'number');
        assert.equal(mine('TERMINAL:echo')[0].eventType, 'START');
        assert.equal(mine('TERMINAL:echo')[0].metadata?.commandLine, undefined, 'no command line without recordCommandLines');
        si.executeCommand('sh -c "exit 7"');
        const bad = await waitUntil(() => mine('TERMINAL:sh').find((e) => e.eventType === 'ERROR'), 20_000, 'ERROR for TERMINAL:sh');
        assert.equal(bad.metadata?.exitCode, 7);
        await withSettings({ 'terminal.recordCommandLines': true }, async () => {
          si.executeCommand('printf "%s\\n" AIOS_DENIED');
          await waitUntil(() => mine('TERMINAL:printf').find((e) => e.eventType === 'COMPLETE'), 20_000, 'TERMINAL:printf');
          const start = mine('TERMINAL:printf').find((e) => e.eventType === 'START')!;
          assert.match(String(start.metadata?.commandLine), /AIOS_DENIED/, 'the command line with recordCommandLines');
          assert.match(String(start.metadata?.policy), /deny pattern '\*AIOS_DENIED\*'/);
        });
        if (onScreen()) {
          const texts = await waitUntil(
            async () => {
              const t = await notificationTexts();
              return t.some((x) => /matches the deny pattern '\*AIOS_DENIED\*'/.test(x)) ? t : undefined;
            },
            10_000,
            'the deny warning',
          );
          assert.ok(texts.some((x) => /cannot stop commands typed in a terminal/.test(x)));
          await screenshot('terminal-deny-warning');
          await vscode.commands.executeCommand('notifications.clearAll');
        }
        assert.equal(api.context.middleware.admission.active, 0, 'terminal commands take no admission slot');
      } finally {
        terminal.dispose();
      }
    });
    // Off again: nothing more is recorded.
    const t2 = vscode.window.createTerminal({ name: 'aios-not-recorded' });
    try {
      const si = await waitUntil(() => t2.shellIntegration, 30_000, 'shell integration');
      const count = eventsOf(api, (e) => e.commandType.startsWith('TERMINAL:')).length;
      const ended = new Promise<void>((r) => {
        const sub = vscode.window.onDidEndTerminalShellExecution(() => {
          sub.dispose();
          r();
        });
      });
      si.executeCommand('echo not-recorded');
      await ended;
      assert.equal(eventsOf(api, (e) => e.commandType.startsWith('TERMINAL:')).length, count);
    } finally {
      t2.dispose();
    }
  });

  it('sources: a 1,000-line batch with bad lines runs through the pipeline, shows its counts, and Cancel stops what has not finished', async () => {
    const bad = new Map<number, string>([
      [7, 'not json'],
      [100, '{"commandType": "ECHO", "priority": "URGENT"}'],
      [250, '[1, 2, 3]'],
      [400, '{"parameters": {}}'],
      [555, '{"commandType": "ECHO", "parameters": "text"}'],
      [700, '{oops'],
      [800, '{"commandType": "no spaces allowed"}'],
      [901, '"a string"'],
      [950, '{"commandType": "ECHO", "priority": 3}'],
      [1000, '{"commandType": ""}'],
    ]);
    const lines: string[] = [];
    for (let i = 1; i <= 1000; i++) {
      const priority = i % 3 === 0 ? 'HIGH' : i % 3 === 1 ? 'NORMAL' : 'LOW';
      lines.push(
        bad.get(i) ??
          JSON.stringify(i % 2 ? { commandType: 'ECHO', priority, parameters: { i } } : { commandType: 'SLEEP', priority, parameters: { seconds: 0.03 } }),
      );
    }
    const before = api.context.middleware.telemetry.query('SUMMARY').overall;
    const ac = new AbortController();
    const running = vscode.commands.executeCommand<BatchRun>('aios.runBatch', { text: lines.join('\n'), interactive: true, signal: ac.signal });
    const succeeded = () => api.context.middleware.telemetry.query('SUMMARY').overall.successfulCommands - before.successfulCommands;
    await waitUntil(() => succeeded() >= 200, 30_000, '200 commands of the batch to finish');
    if (onScreen()) {
      await waitUntil(
        async () =>
          (await notificationTexts()).some((x) => /AIOS: Batch text.*\d+ done · \d+ failed · \d+ waiting · 10 bad lines skipped/.test(x)) ? true : undefined,
        10_000,
        'the batch progress notification',
      );
      await screenshot('batch-progress');
      await click(`${NOTIFICATION_ITEM} .monaco-button`, 'Cancel');
    } else {
      ac.abort();
    }
    const r = await running;
    assert.equal(r.total, 1000);
    assert.equal(r.skipped, 10);
    assert.ok(r.succeeded >= 200 && r.cancelled > 0, `succeeded ${r.succeeded}, cancelled ${r.cancelled}`);
    assert.equal(r.succeeded + r.failed + r.cancelled, 990);
    assert.equal(r.failed, 0);
    const after = api.context.middleware.telemetry.query('SUMMARY').overall;
    assert.equal(after.cancelledCommands - before.cancelledCommands, r.cancelled, 'every cancelled line is recorded as CANCEL');
    assert.equal(after.totalCommands - before.totalCommands, 990, 'bad lines never reached the pipeline');
    const doc = await waitUntil(() => vscode.workspace.textDocuments.find((d) => d.uri.toString() === r.resultsUri), 10_000, 'the results document');
    const rows = doc
      .getText()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; success: boolean; skipped?: boolean; error?: { code: string } });
    assert.equal(rows.length, 1000);
    assert.deepEqual(
      rows.map((x) => x.line),
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      rows.filter((x) => x.skipped).map((x) => x.line),
      [...bad.keys()],
    );
    assert.ok(rows.filter((x) => x.error?.code === 'cancelled').length === r.cancelled);
    if (onScreen()) {
      const texts = await waitUntil(
        async () => {
          const t = await notificationTexts();
          return t.some((x) => /AIOS: Batch text: 1000 requests: \d+ succeeded, \d+ cancelled, 10 bad lines skipped/.test(x)) ? t : undefined;
        },
        10_000,
        'the summary notification',
      );
      assert.ok(texts.some((x) => /First bad line: 7/.test(x)));
      await screenshot('batch-summary');
      await vscode.commands.executeCommand('notifications.clearAll');
    }
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('sources: a results line links to that request with its whole result, even one too large for its line', async () => {
    const big = 'x'.repeat(10_000);
    const text = [
      JSON.stringify({ commandType: 'ECHO', parameters: { small: 1 } }),
      JSON.stringify({ commandType: 'ECHO', parameters: { big } }),
      JSON.stringify({ commandType: 'NOT_A_REGISTERED_TYPE' }),
    ].join('\n');
    const r = await vscode.commands.executeCommand<BatchRun>('aios.runBatch', { text, interactive: true });
    assert.equal(r.total, 3);
    const doc = await waitUntil(() => vscode.workspace.textDocuments.find((d) => d.uri.toString() === r.resultsUri), 10_000, 'the results document');
    const rows = doc
      .getText()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { result?: unknown; resultOmitted?: string; error?: { code: string } });
    assert.match(rows[1].resultOmitted ?? '', /bytes, over the 4096 bytes shown here; follow the link on its line number to open it whole/);
    const links = await vscode.commands.executeCommand<vscode.DocumentLink[]>('vscode.executeLinkProvider', doc.uri);
    assert.equal(links.length, 3, 'one link per request');
    const entry = async (i: number) =>
      JSON.parse((await vscode.workspace.openTextDocument(links[i].target!)).getText()) as {
        line: number;
        result?: { big?: string };
        error?: { code: string };
      };
    assert.equal((await entry(0)).line, 1);
    assert.equal((await entry(2)).error?.code, 'unknown_command_type');
    assert.equal((await entry(1)).result?.big, big, 'the whole result, not the note');
    if (onScreen()) {
      // As a person: the results tab shows, and a Ctrl/Cmd+click on line 2's number opens its whole result.
      // The link's tokens are spans of their own (JSON Lines colours them): click the first, in line 2.
      await clickWith(['ControlOrMeta'], `.part.editor .monaco-editor .view-line:has-text('{"line":2,') .detected-link`);
      const opened = await waitUntil(
        () => (vscode.window.activeTextEditor?.document.uri.path.endsWith('/1/line-2.json') ? vscode.window.activeTextEditor.document : undefined),
        10_000,
        "line 2's result opened by one click on its link",
      );
      assert.equal((JSON.parse(opened.getText()) as { result: { big: string } }).result.big, big);
      await screenshot('batch-result-opened');
    }
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('sources: a second extension uses the public API the way other extensions do: runs, cancels, subscribes', async () => {
    await withSettings({ 'security.denyPatterns': ['*DELETE*', '*DROP*'] }, async () => {
      const ext = await installConsumer();
      assert.deepEqual(ext.packageJSON.extensionDependencies, ['aios.aios-middleware']);
      const consumer = (await ext.activate()) as ConsumerApi;
      assert.equal(consumer.apiVersion, '1.0.0');
      const echo = await consumer.echo('hello from another extension');
      assert.equal(echo.success, true, echo.error?.message);
      assert.deepEqual(echo.result, { text: 'hello from another extension' });
      const start = eventsOf(api, (e) => e.commandId === echo.commandId && e.eventType === 'START')[0];
      assert.equal(start.metadata?.source, 'api');
      const slept = await consumer.sleepAndCancel(300);
      assert.equal(slept.error?.code, 'cancelled');
      const own = await consumer.runOwn('CONSUMER_DOUBLE', 21);
      assert.equal(own.result, 42);
      assert.equal(
        eventsOf(api, (e) => e.commandId === own.commandId)
          .map((e) => e.eventType)
          .join(','),
        'START,COMPLETE',
      );
      const blocked = await consumer.runOwn('CONSUMER_DROP', 1);
      assert.equal(blocked.error?.code, 'blocked', 'the policy applies to run(fn) too');
      const stopped = await consumer.runOwnAndCancel('CONSUMER_WAIT');
      assert.equal(stopped.result.error?.code, 'cancelled');
      assert.equal(stopped.sawCancel, true);
      const batch = await consumer.batch(100);
      assert.deepEqual(batch, { succeeded: 100, failed: 0, skipped: 1, total: 101, lastIndex: 100 });
      // Events arrive in batches, asynchronously: the echo's START and COMPLETE, the cancels, the function's.
      const seen = await waitUntil(
        () => {
          const e = consumer.events();
          return e.events.some((x) => x.commandId === own.commandId && x.eventType === 'COMPLETE') ? e : undefined;
        },
        5_000,
        'the events to reach the other extension',
      );
      assert.ok(seen.deliveries < seen.events.length, `${seen.events.length} events in ${seen.deliveries} deliveries`);
      assert.ok(seen.events.some((x) => x.commandId === echo.commandId && x.eventType === 'COMPLETE'));
      assert.ok(seen.events.some((x) => x.commandId === slept.commandId && x.eventType === 'CANCEL'));
      await waitUntil(() => consumer.load().length > 0, 5_000, 'a load change');
      assert.equal(typeof consumer.load()[0].limit, 'number');
      await vscode.commands.executeCommand('aios.restartPythonService');
      const health = await waitUntil(
        () => {
          const h = consumer.health();
          return h.some((x) => x.status === 'starting') && h.at(-1)?.status === 'healthy' ? h : undefined;
        },
        20_000,
        'health changes during a restart',
      );
      assert.equal(typeof health.at(-1)?.pid, 'number');
      consumer.stopListening();
    });
  });
});
