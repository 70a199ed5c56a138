import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { serviceInitializationOptions } from '../../../src/python/workspaceFiles';

const folder = join('/work', 'project');
const present = new Set([join(folder, '.aios', 'handlers.py'), join(folder, '.aios', 'config.json')]);
const exists = (p: string) => present.has(p);

describe('which workspace files the service loads', () => {
  it('loads .aios/handlers.py and .aios/config.json in a trusted workspace', () => {
    assert.deepEqual(serviceInitializationOptions(folder, true, exists), {
      configFile: join(folder, '.aios', 'config.json'),
      handlersModule: join(folder, '.aios', 'handlers.py'),
      workspaceFolder: folder,
    });
  });

  it('loads neither in an untrusted workspace', () => {
    const o = serviceInitializationOptions(folder, false, exists);
    assert.equal(o.handlersModule, null);
    assert.equal(o.configFile, null);
    assert.equal(o.workspaceFolder, folder);
  });

  it('passes nothing for files that do not exist, or without a folder', () => {
    assert.deepEqual(serviceInitializationOptions(folder, true, () => false), { configFile: null, handlersModule: null, workspaceFolder: folder });
    assert.deepEqual(serviceInitializationOptions(undefined, true, exists), { configFile: null, handlersModule: null, workspaceFolder: null });
  });
});
