// Writes test/fixtures/vscode-default-keybindings.json: every key VS Code's defaults bind, read from the
// workbench bundle of the provisioned host (and its built-in extensions' package.json), so that
// test/unit/keybindings.test.ts can hold the extension's own keybindings off them without a host.
// Run after a host upgrade: `node test/host/defaultKeybindings.mjs`.
// The bundle holds keybindings as folded numbers (KeyMod | KeyCode, chords as KeyChord(a, b)); which platform
// a number is for is not kept, so every number counts as used on every platform (the conservative reading).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './paths.mjs';

const vscodeRoot = join(repoRoot, '.vscode-test', 'code-server-4.139.1', 'node_modules', 'code-server', 'lib', 'vscode');
const bundle = readFileSync(join(vscodeRoot, 'out', 'vs', 'code', 'browser', 'workbench', 'workbench.js'), 'utf8');

// VS Code's KeyCode enum (src/vs/base/common/keyCodes.ts), the part keybindings use.
const KEYS = { 1: 'backspace', 2: 'tab', 3: 'enter', 9: 'escape', 10: 'space', 11: 'pageup', 12: 'pagedown', 13: 'end', 14: 'home' };
Object.assign(KEYS, { 15: 'left', 16: 'up', 17: 'right', 18: 'down', 19: 'insert', 20: 'delete', 58: 'contextmenu' });
for (let i = 0; i < 10; i++) KEYS[21 + i] = String(i);
for (let i = 0; i < 26; i++) KEYS[31 + i] = String.fromCharCode(97 + i);
for (let i = 1; i <= 24; i++) KEYS[58 + i] = `f${i}`;
Object.assign(KEYS, { 85: ';', 86: '=', 87: ',', 88: '-', 89: '.', 90: '/', 91: '`', 92: '[', 93: '\\', 94: ']', 95: "'" });
for (let i = 0; i < 10; i++) KEYS[98 + i] = `numpad${i}`;
Object.assign(KEYS, { 108: 'numpad_multiply', 109: 'numpad_add', 111: 'numpad_subtract', 112: 'numpad_decimal', 113: 'numpad_divide' });

/** One folded key (no chord) as VS Code writes it; `mac` reads CtrlCmd as cmd and WinCtrl as ctrl. */
function decode(n, mac) {
  const mods = [];
  if (mac ? n & 256 : n & 2048) mods.push('ctrl');
  if (n & 1024) mods.push('shift');
  if (n & 512) mods.push('alt');
  if (mac ? n & 2048 : n & 256) mods.push(mac ? 'cmd' : 'meta');
  const key = KEYS[n & 255] ?? `keycode${n & 255}`;
  return [...mods, key].join('+');
}

const winLinux = new Set();
const mac = new Set();
const add = (first, second) => {
  winLinux.add(decode(first, false) + (second === undefined ? '' : ` ${decode(second, false)}`));
  mac.add(decode(first, true) + (second === undefined ? '' : ` ${decode(second, true)}`));
};
// The value runs to the next top-level comma or brace: a number, a KeyChord call, a list, or a condition
// (`primary: isWeb ? undefined : 3118`).
const entry = /(?:primary|secondary)\s*:\s*((?:[^,}[(]|\([^)]*\)|\[[^\]]*\])*)/g;
for (const m of bundle.matchAll(entry)) {
  for (const c of m[1].matchAll(/\w+\((\d+),(\d+)\)|\b(\d+)\b/g)) {
    if (c[1] !== undefined) add(Number(c[1]), Number(c[2]));
    else if (Number(c[3]) > 0) add(Number(c[3]));
  }
}
// Built-in extensions contribute theirs as strings.
const extensions = join(vscodeRoot, 'extensions');
for (const dir of readdirSync(extensions)) {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(extensions, dir, 'package.json'), 'utf8'));
  } catch {
    continue;
  }
  for (const k of [manifest.contributes?.keybindings ?? []].flat()) {
    for (const key of [k.key, k.win, k.linux]) if (key) winLinux.add(key.toLowerCase());
    if (k.mac ?? k.key) mac.add((k.mac ?? k.key).toLowerCase());
  }
}
const out = {
  source: 'VS Code 1.139.1 (code-server 4.139.1): workbench bundle and built-in extensions',
  winLinux: [...winLinux].sort(),
  mac: [...mac].sort(),
};
writeFileSync(join(repoRoot, 'test', 'fixtures', 'vscode-default-keybindings.json'), JSON.stringify(out, null, 2) + '\n');
console.log(`win/linux ${out.winLinux.length}, mac ${out.mac.length}`);
