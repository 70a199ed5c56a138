// package.json's settings against the code that validates them: the code's rules are the one source of truth,
// and the manifest (what the Settings editor offers and checks) must say the same for every setting.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CONFIG_NUMBER_RULES, DEFAULT_CONFIG, type NumberRule } from '../../src/core/config';
import { CONTROL_SERVER_NUMBER_RULES } from '../../src/control/server';
import { DEFAULT_EXPORT_CONFIG, EXPORT_NUMBER_RULES } from '../../src/export/config';
import { DEFAULT_PYTHON_SETTINGS, PYTHON_NUMBER_RULES } from '../../src/python/pythonSettings';
import { Commands, EXTENSION_ID, Views, WALKTHROUGH_ID, WALKTHROUGH_STEPS_BY_CONTEXT } from '../../src/shared/ids';

interface ManifestSetting {
  type: string | string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
}

const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
  publisher: string;
  name: string;
  contributes: {
    configuration: { properties: Record<string, ManifestSetting> };
    commands: { command: string }[];
    viewsContainers: { activitybar: { id: string }[] };
    views: Record<string, { id: string }[]>;
  };
};
const properties = manifest.contributes.configuration.properties;

/** Code defaults by key below `aios.`, flattened (`telemetry.maxRecentEvents`). */
function flatten(value: object, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatten(v as object, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

const codeDefaults: Record<string, unknown> = {
  ...flatten(DEFAULT_CONFIG),
  ...flatten(DEFAULT_EXPORT_CONFIG, 'export.'),
  ...Object.fromEntries(Object.entries(DEFAULT_PYTHON_SETTINGS).map(([k, v]) => [`python.${k}`, v])),
};
const numberRules: Record<string, NumberRule> = {
  ...CONFIG_NUMBER_RULES,
  ...Object.fromEntries(Object.entries(PYTHON_NUMBER_RULES).map(([k, v]) => [`python.${k}`, v])),
  ...Object.fromEntries(
    Object.entries(EXPORT_NUMBER_RULES).flatMap(([section, rules]) =>
      Object.entries(rules as Record<string, { min: number; max: number }>).map(([k, r]) => [`export.${section}.${k}`, { ...r, integer: true }]),
    ),
  ),
  ...Object.fromEntries(Object.entries(CONTROL_SERVER_NUMBER_RULES).map(([k, v]) => [`controlServer.${k}`, v])),
};

describe('package.json settings match the code', () => {
  for (const [key, rule] of Object.entries(numberRules)) {
    it(`aios.${key}: type, minimum and maximum`, () => {
      const setting = properties[`aios.${key}`];
      assert.ok(setting, `aios.${key} is validated by the code but missing from package.json`);
      assert.equal(setting.type, rule.integer ? 'integer' : 'number', `aios.${key}: type`);
      assert.equal(setting.minimum, rule.min, `aios.${key}: minimum`);
      assert.equal(setting.maximum, rule.max, `aios.${key}: maximum`);
    });
  }

  for (const [key, value] of Object.entries(codeDefaults)) {
    it(`aios.${key}: default`, () => {
      const setting = properties[`aios.${key}`];
      assert.ok(setting, `aios.${key} has a default in the code but is missing from package.json`);
      // An unset interpreter path is the empty string in the Settings editor.
      assert.deepEqual(setting.default, value ?? '', `aios.${key}: default`);
    });
  }

  it('every numeric setting in package.json has a rule in the code', () => {
    for (const [name, setting] of Object.entries(properties)) {
      const types = ([] as string[]).concat(setting.type);
      if (!types.includes('integer') && !types.includes('number')) continue;
      assert.ok(name.replace(/^aios\./, '') in numberRules, `${name} is numeric in package.json but no code checks its bounds`);
    }
  });
});

describe('package.json contributions match src/shared/ids.ts', () => {
  it('the extension id', () => assert.equal(`${manifest.publisher}.${manifest.name}`, EXTENSION_ID));

  it('the commands: every id in the table is contributed, and nothing else is', () => {
    const contributed = manifest.contributes.commands.map((c) => c.command).sort();
    assert.deepEqual(contributed, Object.values(Commands).sort());
  });

  it('the views and their container', () => {
    assert.deepEqual(
      manifest.contributes.viewsContainers.activitybar.map((c) => c.id),
      [Views.container],
    );
    assert.deepEqual(
      manifest.contributes.views[Views.container].map((v) => v.id),
      [Views.telemetry],
    );
  });
});

describe('the getting-started walkthrough in package.json', () => {
  it("has the code's id, and the steps the code marks done for each context key are those completing on it", () => {
    const walkthroughs = (manifest as unknown as { contributes: { walkthroughs: { id: string; steps: { id: string; completionEvents?: string[] }[] }[] } })
      .contributes.walkthroughs;
    assert.deepEqual(
      walkthroughs.map((w) => `${EXTENSION_ID}#${w.id}`),
      [WALKTHROUGH_ID],
    );
    const byContext: Record<string, string[]> = {};
    for (const step of walkthroughs[0].steps)
      for (const e of step.completionEvents ?? []) if (e.startsWith('onContext:')) (byContext[e.slice('onContext:'.length)] ??= []).push(step.id);
    assert.deepEqual(byContext, WALKTHROUGH_STEPS_BY_CONTEXT);
  });
});
