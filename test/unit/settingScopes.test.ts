// Where each aios.* setting can be set, and found. In remote and code-server windows the Settings editor shows
// `machine` and `machine-overridable` settings only under Remote, so a user searching the User tab finds
// nothing; settings a workspace must not choose are `application` (user settings only, VS Code enforces it),
// and the few a workspace may set once trusted are restricted, in package.json and in the code alike.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { USER_ONLY_WHEN_UNTRUSTED } from '../../src/trustedSettings';

const root = join(__dirname, '..', '..', '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  capabilities: { untrustedWorkspaces: { restrictedConfigurations: string[] } };
  contributes: { configuration: { properties: Record<string, { scope?: string }> } };
};
const properties = manifest.contributes.configuration.properties;
const scope = (key: string) => properties[key]?.scope ?? 'window';

describe('setting scopes', () => {
  it('no aios.* setting is machine-scoped (hidden from the User tab in remote windows)', () => {
    const keys = Object.keys(properties);
    assert.ok(keys.length > 40, `only ${keys.length} settings read`);
    assert.deepEqual(
      keys.filter((k) => scope(k).startsWith('machine')),
      [],
    );
  });

  it('restrictedConfigurations and the keys the code reads from user settings alone when untrusted are the same', () => {
    const restricted = manifest.capabilities.untrustedWorkspaces.restrictedConfigurations;
    assert.deepEqual([...restricted].sort(), [...USER_ONLY_WHEN_UNTRUSTED].map((k) => `aios.${k}`).sort());
    for (const key of restricted) {
      assert.ok(properties[key], `${key} is not a setting`);
      // Restricting a user-only setting would say nothing: a workspace cannot set it at all.
      assert.ok(['window', 'resource'].includes(scope(key)), `${key} is ${scope(key)}: a workspace cannot set it, so it need not be restricted`);
    }
  });

  it('what a workspace must never choose is user settings only: programs, telemetry destinations, rules, the control endpoint', () => {
    const userOnly = Object.keys(properties).filter(
      (k) => k === 'aios.rules' || k === 'aios.shellCommands' || k.startsWith('aios.export.') || k.startsWith('aios.controlServer.'),
    );
    assert.ok(userOnly.length >= 15, `only ${userOnly.length} such settings`);
    for (const key of userOnly) assert.equal(scope(key), 'application', key);
  });
});
