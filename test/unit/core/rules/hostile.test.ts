// A rule with 1 MB fields: every problem names the field, and no message echoes the field whole.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRules } from '../../../../src/core/rules/parser';

describe('parseRules on hostile input', () => {
  it('1 MB names, messages, metrics, operations and field names give short problems', () => {
    const big = 'x'.repeat(1024 * 1024);
    const rules = [
      { name: big, when: { metric: 'cpuPercent', above: 90, forSeconds: 5 }, then: { notify: 'hi' } },
      { name: 'a', when: { metric: big, above: 90, forSeconds: 5 }, then: { notify: 'hi' } },
      { name: 'b', when: { metric: 'cpuPercent', above: 90, forSeconds: 5 }, then: { notify: big } },
      { name: 'c', when: { metric: 'cpuPercent', above: 90, forSeconds: 5 }, then: { control: { operation: big } } },
      { name: 'd', when: { metric: 'cpuPercent', above: 90, forSeconds: 5 }, then: { limits: { [big]: 1 } } },
      { name: 'e', [big]: 1, when: { metric: 'cpuPercent', above: 90, forSeconds: 5 }, then: { notify: 'hi' } },
      { name: 'f', when: { metric: 'cpuPercent', above: big, forSeconds: 5 }, then: { notify: 'hi' } },
      { name: 'g', when: { metric: 'cpuPercent', above: 90, forSeconds: 5 }, then: { [big]: 1 } },
    ];
    const parsed = parseRules(rules);
    assert.equal(parsed.problems.length, rules.length, parsed.problems.map((p) => p.slice(0, 100)).join('\n'));
    for (const p of parsed.problems) assert.ok(p.length < 600, `${p.length} characters: ${p.slice(0, 200)}`);
    assert.equal(parsed.invalid.length, rules.length);
  });
});
