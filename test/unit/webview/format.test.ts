import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatAxis, formatClock, formatCount, formatDuration, formatMs, formatRate, formatRatio } from '../../../src/webview/format';

test('numbers read the same in counters and charts', () => {
  assert.equal(formatCount(1234567), '1,234,567');
  assert.equal(formatMs(0.42), '0.4 ms');
  assert.equal(formatMs(12.34), '12.3 ms');
  assert.equal(formatMs(850.4), '850 ms');
  assert.equal(formatMs(1250), '1.3 s');
  assert.equal(formatMs(125_000), '2 min 5 s');
  assert.equal(formatRatio(0.9876), '98.8 %');
  assert.equal(formatRate(12.34), '12.3/s');
  assert.equal(formatRate(1000.4), '1,000/s');
  assert.equal(formatDuration(45), '45 s');
  assert.equal(formatDuration(3 * 3600 + 5 * 60), '3 h 5 min');
  assert.equal(formatDuration(2 * 86400 + 3600), '2 d 1 h');
  assert.equal(formatAxis(950), '950');
  assert.equal(formatAxis(1200), '1.2k');
  assert.equal(formatAxis(3_400_000), '3.4M');
});

test('clock times are 24-hour, with seconds on request', () => {
  const t = new Date(2024, 0, 2, 14, 5, 30).getTime();
  assert.equal(formatClock(t), '14:05:30');
  assert.equal(formatClock(t, false), '14:05');
});
