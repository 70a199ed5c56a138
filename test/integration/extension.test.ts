import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { requireUi, screenshot, statusBarText, waitFor, runFromPalette } from './ui';
import { EXTENSION_ID } from './util';

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

  it('shows the AIOS item in the status bar', async function () {
    requireUi(this);
    const label = await statusBarText('aios.status');
    assert.match(label, /AIOS/);
    await screenshot('skeleton-status-bar');
  });

  it('"AIOS: Show Output" from the palette opens the AIOS log', async function () {
    requireUi(this);
    await runFromPalette('AIOS: Show Output');
    // Monaco renders spaces as U+00A0: normalise before matching what a user reads.
    const line = await waitFor<string>(
      `const panel = document.querySelector('.part.panel');
       if (!panel || panel.offsetParent === null) return null;
       const text = panel.innerText.replace(/\u00a0/g, ' ');
       const m = text.match(/AIOS Middleware \\S+ activated/);
       return m ? m[0] : null;`,
    );
    assert.match(line, /^AIOS Middleware \d+\.\d+\.\d+ activated$/);
    await screenshot('skeleton-output-channel');
  });
});
