// A shell command type is described three times: the setting's schema in package.json (aios.shellCommands),
// the JSON schema of .aios/commands.json (schemas/commands.schema.json) and the parser that both go through
// (src/core/execution/shellCommands.ts, with the command-type rule of validation.ts). These hold them together.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { MAX_TIMEOUT_MS, SHELL_COMMAND_FIELDS, parseShellCommands } from '../../src/core/execution/shellCommands';
import { COMMAND_TYPE } from '../../src/core/pipeline/validation';

const root = resolve(__dirname, '..', '..', '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const schema = JSON.parse(readFileSync(join(root, 'schemas', 'commands.schema.json'), 'utf8'));
const configuration = [manifest.contributes.configuration].flat();
const setting: any = configuration.map((c: { properties: Record<string, unknown> }) => c.properties['aios.shellCommands']).find(Boolean);

describe('the shell command spec', () => {
  it('the setting and .aios/commands.json describe one definition', () => {
    assert.deepEqual(setting.additionalProperties, schema.additionalProperties);
  });

  it("the schema's fields and bounds are the parser's", () => {
    const def = schema.additionalProperties;
    assert.deepEqual(Object.keys(def.properties).sort(), [...SHELL_COMMAND_FIELDS].sort());
    assert.deepEqual(def.required, ['file']);
    assert.equal(def.properties.timeoutMs.maximum, MAX_TIMEOUT_MS);
    assert.equal(schema.propertyNames.pattern, COMMAND_TYPE.source);
  });

  it('the parser refuses what the schema refuses, and accepts the largest value it allows', () => {
    const parsed = (defs: unknown) => parseShellCommands(defs, 'aios.shellCommands', 'user', undefined);
    assert.equal(parsed({ OK: { file: 'node', timeoutMs: MAX_TIMEOUT_MS } }).commands.length, 1);
    for (const bad of [{ file: '' }, { file: 'node', extra: 1 }, { file: 'node', timeoutMs: MAX_TIMEOUT_MS + 1 }, { args: [] }]) {
      const r = parsed({ BAD: bad });
      assert.equal(r.commands.length, 0, JSON.stringify(bad));
      assert.equal(r.errors.length, 1, JSON.stringify(bad));
    }
  });
});
