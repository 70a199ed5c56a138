// One error-code vocabulary (src/core/errors.ts) and its copies: the public API's union (src/api.ts, which
// imports nothing so it can ship as a .d.ts), the service's numbers (python/aios_service/errors.py) and their
// names (src/python/protocol.ts), and every code the extension's own sources give.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import type { AiosKnownErrorCode } from '../../src/api';
import { ERROR_CODES, SERVICE_ERROR_CODES, type KnownErrorCode } from '../../src/core/errors';
import { ErrorCodes, serviceErrorName } from '../../src/python/protocol';

const root = resolve(__dirname, '..', '..', '..');

// The API's union and the vocabulary are the same set (a compile error in the typecheck tier otherwise).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const apiMatches: Same<AiosKnownErrorCode, KnownErrorCode> = true;

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const full = join(dir, n);
    return statSync(full).isDirectory() ? sources(full) : n.endsWith('.ts') ? [full] : [];
  });
}

describe('error codes', () => {
  it("the API's stable list is the vocabulary, each code once", () => {
    assert.equal(apiMatches, true);
    const api = readFileSync(join(root, 'src', 'api.ts'), 'utf8');
    const block = api.slice(api.indexOf('export type AiosKnownErrorCode'), api.indexOf('export type AiosErrorCode'));
    const listed = [...block.matchAll(/\| '([a-z_]+)'/g)].map((m) => m[1]);
    assert.deepEqual([...listed].sort(), [...ERROR_CODES].sort());
    assert.equal(new Set(listed).size, listed.length);
  });

  it("errors.py's numbers are protocol.ts's, and each number's name is the constant's, in the vocabulary", () => {
    const py = readFileSync(join(root, 'python', 'aios_service', 'errors.py'), 'utf8');
    const constants = [...py.matchAll(/^([A-Z_]+) = (-\d+)\b/gm)].map((m) => ({ name: m[1].toLowerCase(), code: Number(m[2]) }));
    assert.ok(constants.length >= 10, 'errors.py defines its codes as NAME = -32xxx');
    assert.deepEqual(constants.map((c) => c.code).sort(), Object.values(ErrorCodes).sort());
    for (const { name, code } of constants) assert.equal(serviceErrorName(code), name, `errors.py ${name.toUpperCase()} = ${code}`);
    assert.deepEqual([...constants.map((c) => c.name), 'service_error'].sort(), [...SERVICE_ERROR_CODES].sort());
  });

  it('every code the sources give a command result is in the vocabulary', () => {
    const given = new Map<string, string>();
    for (const file of sources(join(root, 'src'))) {
      // The endpoint's HTTP refusals (control/requests.ts) and the terminal CLI's protocol errors (cli/protocol.ts) are their own.
      if (file.includes(join('src', 'control')) || file.includes(join('src', 'cli'))) continue;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:new CommandFailure\(|\bcode: )'([a-z_]+)'/g)) given.set(m[1], file.slice(root.length + 1));
    }
    assert.ok(given.size >= 8, `found only ${given.size} codes: the pattern no longer matches the sources`);
    const unknown = [...given].filter(([code]) => !(ERROR_CODES as readonly string[]).includes(code)).map(([code, file]) => `${code} (${file})`);
    assert.deepEqual(unknown, []);
  });
});
