// The README's tables against the manifest: a command renamed, added or removed in package.json, or a setting
// whose default changed, must show in the README a user reads first.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseRules } from '../../src/core/rules';

const root = join(__dirname, '..', '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  contributes: {
    commands: { command: string; title: string }[];
    menus: { commandPalette: { command: string; when?: string }[] };
    configuration: { properties: Record<string, { default?: unknown }> };
  };
};

/** The rows of the first table after `heading`: each row's cells, without the header and separator. */
function table(heading: string): string[][] {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README has no heading "${heading}"`);
  const lines = readme.slice(start).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim()),
    );
  }
  return rows;
}

describe('README', () => {
  it('lists every command of the palette by its title, and no other', () => {
    const hidden = new Set(manifest.contributes.menus.commandPalette.filter((m) => m.when === 'false').map((m) => m.command));
    const titles = manifest.contributes.commands.filter((c) => !hidden.has(c.command)).map((c) => c.title);
    const listed = table('### Commands (palette category "AIOS")').flatMap(([name]) => name.split(' / '));
    assert.deepEqual([...listed].sort(), [...titles].sort());
  });

  it('gives each setting in its settings table the default of the manifest', () => {
    const properties = manifest.contributes.configuration.properties;
    const rows = table('### Settings (`aios.*`, applied at once)');
    assert.ok(rows.length > 10);
    let checked = 0;
    for (const [names, defaults] of rows) {
      // `aios.x.a`, `b` | 1, 2: a name without `aios.` is in the first one's section.
      const keys = [...names.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
      if (keys.some((k) => k.includes('*'))) continue;
      const section = keys[0].slice(0, keys[0].lastIndexOf('.') + 1);
      const full = keys.map((k) => (k.startsWith('aios.') ? k : `${section}${k}`));
      const values = defaults.split(', ');
      full.forEach((key, i) => {
        const setting = properties[key];
        assert.ok(setting, `README names a setting that does not exist: ${key}`);
        const want = setting.default;
        const shown = values[Math.min(i, values.length - 1)].replace(/`/g, '');
        if (typeof want === 'number' || typeof want === 'boolean') assert.equal(shown, String(want), `${key}: README says ${shown}`);
        else if (typeof want === 'string' && want !== '') assert.equal(shown, want, `${key}: README says ${shown}`);
        checked++;
      });
    }
    assert.ok(checked > 15, `only ${checked} settings checked`);
  });

  it('shows only pictures that are in the repository, each a small PNG', () => {
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)]+)\)/g)].map((m) => m[1]);
    assert.ok(images.length >= 6, `only ${images.length} pictures`);
    for (const image of images) {
      assert.match(image, /^docs\/images\/[\w-]+\.png$/, `${image}: a picture of the README lives in docs/images`);
      const bytes = readFileSync(join(root, image));
      assert.equal(bytes.subarray(1, 4).toString('latin1'), 'PNG', `${image} is not a PNG`);
      assert.ok(bytes.length <= 200 * 1024, `${image} is ${Math.round(bytes.length / 1024)} KB (at most 200)`);
    }
  });

  it("ships the PowerShell tool's two rules as they are in the settings' snippets, and they parse", () => {
    const start = readme.indexOf('**Remediation rules.**');
    const block = readme.slice(start).match(/```json\n([\s\S]*?)\n```/);
    assert.ok(start >= 0 && block, 'the rules example');
    const shown = (JSON.parse(`{${block[1]}}`) as { 'aios.rules': unknown[] })['aios.rules'];
    const parsed = parseRules(shown);
    assert.deepEqual(parsed.invalid, []);
    assert.deepEqual(
      parsed.rules.map((r) => r.name),
      ['cpu-high', 'throttling-high'],
    );
    const snippets = (manifest.contributes.configuration.properties['aios.rules'] as unknown as { items: { defaultSnippets: { body: unknown }[] } }).items
      .defaultSnippets;
    assert.deepEqual(
      shown,
      snippets.map((s) => s.body),
    );
  });
});
