// A Python developer's day (issue 20) in the real host: the palette's keys, an import error that names the
// interpreter and offers another, settings a person finds in the User tab, and tracebacks logged once.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { Commands } from '../../src/shared/ids';
import { NOTIFICATION_ITEM, QUICK_INPUT_TITLE, click, press, requireUi, screenshot, waitFor } from './ui';
import { healthyAios, waitUntil, type AiosApi } from './util';

const handlersFile = () => join(process.env.AIOS_TEST_WORKSPACE!, '.aios', 'handlers.py');

/** Appends `code` to the workspace's handlers.py for the body, then puts the file back. */
async function withHandlers(api: AiosApi, code: string, body: () => Promise<void>): Promise<void> {
  const file = handlersFile();
  const original = readFileSync(file, 'utf8');
  try {
    writeFileSync(file, `${original}\n${code}`);
    const reload = await api.context.control({ operation: 'RELOAD_CONFIG' });
    assert.equal(reload.success, true, JSON.stringify(reload.error));
    await body();
  } finally {
    writeFileSync(file, original);
    await waitUntil(() => api.context.supervisor.state.status === 'healthy', 30_000, 'the service');
    await api.context.control({ operation: 'RELOAD_CONFIG' });
  }
}

/** The 1-based line of `text` in the handlers file. */
const lineOf = (text: string) =>
  readFileSync(handlersFile(), 'utf8')
    .split('\n')
    .findIndex((l) => l.includes(text)) + 1;

const IMPORT_PROBE = `
@command("IMPORT_PROBE")
def _import_probe(params):
    import aios_no_such_package_anywhere  # noqa: F401
    return {}
`;

/** How the Settings editor titles a setting, without spaces: aios.export.prometheus.port → aios›export›prometheus:port. */
function title(key: string): string {
  const parts = key.toLowerCase().split('.');
  return `${parts.slice(0, -1).join('›')}:${parts[parts.length - 1]}`;
}

describe("a Python developer's day", function () {
  this.timeout(120_000);
  let api: AiosApi;

  before(async () => {
    api = await healthyAios();
  });

  afterEach(async () => {
    await vscode.commands.executeCommand('notifications.clearAll');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('Ctrl+Shift+Alt+R opens Run Command', async function () {
    requireUi(this);
    await press('Control+Shift+Alt+KeyR');
    await waitFor(`const t = (() => { ${QUICK_INPUT_TITLE} })(); return t !== null && /\\(1\\/3\\): command type/.test(t) ? true : null;`);
    await screenshot('day-keybinding-run-command');
    await press('Escape');
  });

  it('an import error in a handler names the Python that ran, points at the line, and offers Select Interpreter…', async function () {
    requireUi(this);
    await withHandlers(api, IMPORT_PROBE, async () => {
      const r = await api.context.run({ commandType: 'IMPORT_PROBE', source: 'api' });
      assert.equal(r.success, false);
      assert.equal(r.error?.code, 'handler_failed');
      const data = r.error?.data as { interpreter?: string; file?: string; line?: number };
      assert.ok(data.interpreter, JSON.stringify(r.error));
      // The path is the one that really ran: that Python says it is itself.
      const itself = execFileSync(data.interpreter, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
      assert.equal(itself, data.interpreter);
      assert.match(r.error.message, /ModuleNotFoundError: No module named 'aios_no_such_package_anywhere'/);
      assert.ok(r.error.message.includes(data.interpreter), r.error.message);
      assert.equal(data.file, handlersFile());
      assert.equal(data.line, lineOf('import aios_no_such_package_anywhere'));

      // As a user meets it: the notification, Go to Error, and the interpreter pick.
      void vscode.commands.executeCommand(Commands.runCommand, { commandType: 'IMPORT_PROBE', interactive: true });
      await vscode.commands.executeCommand('notifications.showList');
      await waitFor(
        `return [...document.querySelectorAll(arg)].some((n) => /IMPORT_PROBE failed/.test(n.textContent) && /Select Interpreter/.test(n.textContent)) ? true : null;`,
        NOTIFICATION_ITEM,
      );
      await screenshot('day-import-error');
      await click(`${NOTIFICATION_ITEM} .monaco-button`, 'Go to Error');
      await waitUntil(
        () => vscode.window.activeTextEditor?.document.uri.fsPath === handlersFile() && vscode.window.activeTextEditor.selection.active.line + 1 === data.line,
        10_000,
        'handlers.py open at the failing line',
      );

      void vscode.commands.executeCommand(Commands.runCommand, { commandType: 'IMPORT_PROBE', interactive: true });
      await vscode.commands.executeCommand('notifications.showList');
      await click(`${NOTIFICATION_ITEM} .monaco-button`, 'Select Interpreter…');
      // The one that ran is marked, under whichever name it was found (PATH, pyenv's versions…).
      const rows = await waitFor<string[]>(
        `const rows = [...document.querySelectorAll('.quick-input-widget .quick-input-list .monaco-list-row')].map((r) => r.textContent.replace(/\\u00a0/g, ' '));
         return rows.some((r) => r.includes('ran this command')) ? rows : null;`,
      );
      assert.ok(
        rows.some((r) => /Python 3\.\d+\.\d+/.test(r) && r.includes('ran this command')),
        rows.join('\n'),
      );
      await screenshot('day-select-interpreter');
      await press('Escape');
    });
  });

  it('Select Interpreter… writes aios.python.interpreterPath where the user picks, and the service restarts on it', async () => {
    const health = await api.context.supervisor.checkHealth();
    assert.ok(health);
    const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
    const cfg = () => vscode.workspace.getConfiguration('aios');
    const pidBefore = health.pid;
    try {
      await vscode.commands.executeCommand(Commands.selectInterpreter, { path: python, target: 'workspace' });
      assert.equal(cfg().inspect<string>('python.interpreterPath')?.workspaceValue, python);
      const restarted = await waitUntil(
        async () => {
          const h = api.context.supervisor.state.status === 'healthy' ? await api.context.supervisor.checkHealth() : undefined;
          return h && h.pid !== pidBefore ? h : undefined;
        },
        30_000,
        'a new service process',
      );
      assert.ok(api.context.supervisor.state.interpreter?.includes(python), api.context.supervisor.state.interpreter);
      assert.notEqual(restarted.pid, pidBefore);
    } finally {
      await cfg().update('python.interpreterPath', undefined, vscode.ConfigurationTarget.Workspace);
      await waitUntil(() => api.context.supervisor.state.status === 'healthy', 30_000, 'the service');
    }
  });

  it("a handler's traceback reaches the log once", async () => {
    const log = api.context.log;
    const lines: string[] = [];
    const methods = ['error', 'warn', 'info'] as const;
    const saved = methods.map((m) => log[m].bind(log));
    for (const [i, m] of methods.entries()) {
      log[m] = (message: string | Error, ...args: unknown[]) => {
        lines.push(String(message));
        (saved[i] as (m: string | Error, ...a: unknown[]) => void)(message, ...args);
      };
    }
    try {
      await withHandlers(api, IMPORT_PROBE, async () => {
        lines.length = 0;
        const r = await api.execute({ commandType: 'IMPORT_PROBE' });
        assert.equal(r.success, false);
        await waitUntil(() => lines.some((l) => l.includes('Traceback (most recent call last)')), 10_000, 'the traceback in the log');
        // stderr has had time to arrive too: the next command's reply comes after it.
        await api.execute({ commandType: 'ECHO', parameters: {} });
        await new Promise((r) => setTimeout(r, 500));
        const mentions = lines.filter((l) => l.includes('Traceback (most recent call last)'));
        assert.equal(mentions.length, 1, lines.join('\n---\n'));
        assert.ok(!lines.some((l) => l.startsWith('[python]') && l.includes('aios_no_such_package_anywhere')), lines.join('\n---\n'));
      });
    } finally {
      for (const [i, m] of methods.entries()) log[m] = saved[i] as never;
    }
  });

  it('while the service is unhealthy only HIGH commands run; NORMAL and LOW are refused with service_unhealthy', async () => {
    const set = await api.context.control({ operation: 'HEALTH_OVERRIDE', value: 'unhealthy' });
    assert.equal(set.success, true, JSON.stringify(set.error));
    try {
      await waitUntil(() => api.context.supervisor.state.status === 'unhealthy', 5000, 'the supervisor to report unhealthy');
      const normal = await api.execute({ commandType: 'ECHO', priority: 'NORMAL', parameters: {} });
      const low = await api.execute({ commandType: 'ECHO', priority: 'LOW', parameters: {} });
      const high = await api.execute({ commandType: 'ECHO', priority: 'HIGH', parameters: { x: 1 } });
      assert.equal(normal.error?.code, 'service_unhealthy', JSON.stringify(normal));
      assert.equal(low.error?.code, 'service_unhealthy', JSON.stringify(low));
      assert.match(normal.error.message, /only HIGH priority commands run/);
      assert.equal(high.success, true, JSON.stringify(high.error));
    } finally {
      await api.context.control({ operation: 'HEALTH_OVERRIDE', value: 'clear' });
    }
    await waitUntil(() => api.context.supervisor.state.status === 'healthy', 5000, 'healthy again');
    const after = await api.execute({ commandType: 'ECHO', priority: 'LOW', parameters: {} });
    assert.equal(after.success, true, JSON.stringify(after.error));
  });

  it("Run Batch's results document carries what each command returned, or its error; a large result is left out with a note", async () => {
    const lines = [
      JSON.stringify({ commandType: 'ECHO', parameters: { prediction: 'cat', p: 0.93 } }),
      JSON.stringify({ commandType: 'NOPE_NOT_A_TYPE', parameters: {} }),
      JSON.stringify({ commandType: 'ECHO', parameters: { big: 'x'.repeat(6000) } }),
    ];
    const run = await vscode.commands.executeCommand<{ resultsUri: string }>(Commands.runBatch, { text: lines.join('\n') });
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.parse(run.resultsUri));
    const rows = doc
      .getText()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { success: boolean; result?: unknown; resultOmitted?: string; error?: { code: string; message: string } });
    assert.deepEqual(rows[0].result, { prediction: 'cat', p: 0.93 });
    assert.equal(rows[1].success, false);
    assert.ok(rows[1].error?.code && rows[1].error.message, JSON.stringify(rows[1]));
    assert.equal(rows[2].result, undefined);
    assert.match(rows[2].resultOmitted ?? '', /^\d+ bytes, over the 4096 bytes shown here/);
  });

  it('every aios.* setting a person searches for shows in the User tab of the Settings editor', async function () {
    requireUi(this);
    for (const key of ['aios.python.interpreterPath', 'aios.controlServer.enabled', 'aios.export.prometheus.port', 'aios.rules']) {
      await vscode.commands.executeCommand('workbench.action.openSettings', key);
      const found = await waitFor<string>(
        `const ed = document.querySelector('.settings-editor');
         if (!ed) return null;
         const labels = [...ed.querySelectorAll('.settings-tabs-widget .action-label')];
         const on = labels.find((l) => l.classList.contains('checked') || l.getAttribute('aria-checked') === 'true' || l.getAttribute('aria-selected') === 'true');
         const tab = (on?.textContent ?? '') + '[' + labels.map((l) => l.textContent).join('/') + ']';
         const none = ed.querySelector('.no-results-message');
         const rows = [...ed.querySelectorAll('.setting-item-contents .setting-item-title')].map((t) => t.textContent);
         if (none && none.offsetParent !== null && /No Settings Found/.test(none.textContent)) return 'none:' + tab;
         // The rows of this search, not the last one's (the list updates a moment after the query).
         return rows.some((r) => r.replace(/\\s/g, '').toLowerCase().includes(arg)) ? tab + '|' + rows.join(',') : null;`,
        title(key),
      );
      assert.ok(!found.startsWith('none:'), `${key}: No Settings Found (${found})`);
      assert.match(found, /^User/, `${key} was not shown on the User tab: ${found}`);
      if (key === 'aios.controlServer.enabled') await screenshot('day-settings-user-tab');
    }
  });
});
