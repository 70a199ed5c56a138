import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { withAlpha } from '../../../src/webview/color';

test('withAlpha fades the colour forms VS Code themes use', () => {
  assert.equal(withAlpha('#cccccc', 0.5), 'rgba(204, 204, 204, 0.5)');
  assert.equal(withAlpha('#fff', 0.25), 'rgba(255, 255, 255, 0.25)');
  assert.equal(withAlpha('#00000080', 0.5), 'rgba(0, 0, 0, 0.251)');
  assert.equal(withAlpha('rgb(1, 2, 3)', 0.4), 'rgba(1, 2, 3, 0.4)');
  assert.equal(withAlpha('rgba(1, 2, 3, 0.5)', 0.5), 'rgba(1, 2, 3, 0.25)');
  assert.equal(withAlpha(' #ABCDEF ', 1), 'rgba(171, 205, 239, 1)');
  assert.equal(withAlpha('transparent', 0.5), 'transparent');
  assert.equal(withAlpha('var(--x)', 0.5), 'var(--x)');
});
