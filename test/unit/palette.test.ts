// The palette's view of the manifest. VS Code ranks a recently used command first among those a query matches,
// so a title whose words begin another title's words ("Run Command" in "Run Custom Control Command") sends
// the user to the wrong command after one use; and a default keybinding that VS Code already binds either
// shadows a built-in command or never fires. The defaults come from test/fixtures/vscode-default-keybindings.json
// (written by test/host/defaultKeybindings.mjs from the provisioned VS Code).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const root = join(__dirname, '..', '..', '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  contributes: {
    commands: { command: string; title: string; category?: string }[];
    menus: { commandPalette: { command: string; when?: string }[] };
    keybindings: { command: string; key: string; mac?: string; when?: string }[];
  };
};
const defaults = JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'vscode-default-keybindings.json'), 'utf8')) as {
  winLinux: string[];
  mac: string[];
};

const words = (title: string): string[] =>
  title
    .toLowerCase()
    .replace(/…/g, '')
    .split(/[^a-z0-9.]+/)
    .filter(Boolean);

/** Whether typing `a` in full also matches `b` word by word: the same first word, then each next word of `a`
 * beginning a later word of `b`, in order (how the palette matches "Run Command" to "Run Custom Control Command"). */
function wordPrefix(a: string, b: string): boolean {
  const [first, ...rest] = words(a);
  const target = words(b);
  if (!first || !target[0]?.startsWith(first)) return false;
  let j = 1;
  for (const w of rest) {
    while (j < target.length && !target[j].startsWith(w)) j++;
    if (j >= target.length) return false;
    j++;
  }
  return true;
}

/** A key as VS Code compares it: modifiers in one order, chords kept apart. */
const normalize = (key: string): string =>
  key
    .toLowerCase()
    .split(' ')
    .map((part) => {
      const keys = part.split('+');
      const order = ['ctrl', 'shift', 'alt', 'cmd', 'meta', 'win'];
      const mods = keys.filter((k) => order.includes(k)).sort((x, y) => order.indexOf(x) - order.indexOf(y));
      return [...mods, ...keys.filter((k) => !order.includes(k))].join('+');
    })
    .join(' ');

describe('palette', () => {
  const hidden = new Set(manifest.contributes.menus.commandPalette.filter((m) => m.when === 'false').map((m) => m.command));
  const titles = manifest.contributes.commands.filter((c) => c.category === 'AIOS' && !hidden.has(c.command)).map((c) => c.title);

  it('the check itself: finds the pair the palette confused, and not unrelated titles', () => {
    assert.equal(wordPrefix('Run Command…', 'Run Custom Control Command…'), true);
    assert.equal(wordPrefix('Restart Python Service', 'Restart Python Service (Fresh: Forget Control State)'), true);
    assert.equal(wordPrefix('Run Command…', 'Run Batch…'), false);
    assert.equal(wordPrefix('Show Telemetry…', 'Show Metrics Panel'), false);
  });

  it('no AIOS title in the palette begins another one word by word', () => {
    assert.ok(titles.length > 20, `only ${titles.length} titles read`);
    const clashes = titles.flatMap((a) => titles.filter((b) => b !== a && wordPrefix(a, b)).map((b) => `"${a}" -> "${b}"`));
    assert.deepEqual(clashes, []);
  });

  it('Run Command and Cancel Running Command have keybindings VS Code does not bind by default', () => {
    const winLinux = new Set(defaults.winLinux.map(normalize));
    const mac = new Set(defaults.mac.map(normalize));
    assert.ok(winLinux.has(normalize('ctrl+shift+p')) && mac.has(normalize('cmd+shift+p')), 'the defaults list lacks Show All Commands');
    const bound = new Map(manifest.contributes.keybindings.map((k) => [k.command, k]));
    for (const command of ['aios.runCommand', 'aios.cancelCommand']) {
      const k = bound.get(command);
      assert.ok(k, `${command} has no keybinding`);
      assert.ok(k.mac, `${command} has no macOS keybinding`);
      assert.ok(!winLinux.has(normalize(k.key)), `${command}: ${k.key} is a VS Code default (Windows/Linux)`);
      assert.ok(!mac.has(normalize(k.mac)), `${command}: ${k.mac} is a VS Code default (macOS)`);
    }
    const keys = manifest.contributes.keybindings.map((k) => normalize(k.key));
    assert.equal(new Set(keys).size, keys.length, 'two AIOS keybindings share a key');
  });
});
