import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { serviceInitializationOptions } from '../../../src/python/workspaceFiles';

const folder = join('/work', 'project');

describe('which workspace files the service loads', () => {
  it('.aios/handlers.py and .aios/config.json in a trusted workspace, whether or not they exist yet', () => {
    assert.deepEqual(serviceInitializationOptions(folder, true), {
      configFile: join(folder, '.aios', 'config.json'),
      handlersModule: join(folder, '.aios', 'handlers.py'),
      workspaceFolder: folder,
    });
  });

  it('neither in an untrusted workspace', () => {
    const o = serviceInitializationOptions(folder, false);
    assert.equal(o.handlersModule, null);
    assert.equal(o.configFile, null);
    assert.equal(o.workspaceFolder, folder);
  });

  it('nothing without a folder', () => {
    assert.deepEqual(serviceInitializationOptions(undefined, true), { configFile: null, handlersModule: null, workspaceFolder: null });
  });
});
