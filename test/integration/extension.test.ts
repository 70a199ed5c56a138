import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { requireUi, screenshot, statusBarText, waitFor, runFromPalette } from './ui';
import { EXTENSION_ID, aios, waitUntil } from './util';

describe('the extension in a real VS Code host', () => {
  it('activates on startup', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(ext, `${EXTENSION_ID} is not installed in this host`);
    const api = await ext.activate();
    assert.equal(ext.isActive, true);
    assert.equal(api.version, ext.packageJSON.version);
  });

  it('contributes its commands in the AIOS category', async () => {
    const all = await vscode.commands.getCommands(true);
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const contributed: { command: string; category: string }[] = ext.packageJSON.contributes.commands;
    assert.ok(contributed.length > 0);
    for (const c of contributed) {
      assert.equal(c.category, 'AIOS', `${c.command} is not in the AIOS category`);
      assert.ok(all.includes(c.command), `${c.command} is contributed but not registered`);
    }
  });

  it("samples CPU, memory and Python processes off the host's thread: systeminformation is not loaded here", async () => {
    const api = await aios();
    const sampler = api.context.middleware.sampler;
    const sample = await waitUntil(
      () => {
        const s = sampler.latest();
        return s.sampledAt > Date.now() - 10_000 && s.memoryPercent > 0 && s.pythonProcesses >= 0 ? s : undefined;
      },
      20_000,
      'a fresh sample with memory and a count of Python processes',
    );
    assert.ok(sample.cpuPercent >= 0 && sample.cpuPercent <= 100, JSON.stringify(sample));
    // Some of its readings spawn a shell synchronously (Linux CPU, macOS memory): on the worker thread only.
    const loadedHere = Object.keys(require.cache).filter((f) => /systeminformation/.test(f));
    assert.deepEqual(loadedHere, [], 'systeminformation loaded on the extension host thread');
  });

  it('shows the AIOS item in the status bar', async function () {
    requireUi(this);
    const label = await statusBarText('aios.status');
    assert.match(label, /AIOS/);
    await screenshot('skeleton-status-bar');
  });

  it('"AIOS: Show Output" from the palette opens the AIOS log', async function () {
    requireUi(this);
    // The newest line: the view shows the end of the log, and earlier suites may have written much since start.
    const marker = `log check ${Date.now().toString(36)}`;
    (await aios()).context.log.info(marker);
    await runFromPalette('AIOS: Show Output');
    // Monaco renders spaces as U+00A0: normalise before matching what a user reads.
    const seen = await waitFor<boolean>(
      `const panel = document.querySelector('.part.panel');
       if (!panel || panel.offsetParent === null) return null;
       return panel.innerText.replace(/\u00a0/g, ' ').includes(arg) || null;`,
      marker,
    );
    assert.equal(seen, true);
    const logFile = readdirSync((await aios()).context.extension.logUri.fsPath).find((f) => f.endsWith('AIOS.log'));
    assert.ok(logFile, 'the AIOS log file');
    assert.match(readFileSync(join((await aios()).context.extension.logUri.fsPath, logFile), 'utf8'), /AIOS Middleware \d+\.\d+\.\d+ activated/);
    await screenshot('skeleton-output-channel');
  });
});
