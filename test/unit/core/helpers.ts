import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

/** A fresh temp folder, removed when the test file ends. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'aios-core-test-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
