import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob, type GlobSteps } from '../../../../src/core/pipeline/glob';
import { SecurityPolicy } from '../../../../src/core/pipeline/security';

/** The old compile step (one backtracking RegExp), kept here as the reference for the semantics. */
function reference(glob: string): RegExp {
  let out = '';
  for (const ch of glob) out += ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  return new RegExp(`^(?:${out})$`, 'is');
}

/** A small deterministic PRNG so the comparison is the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('compileGlob', () => {
  it('agrees with the RegExp reference on 20,000 random short patterns and subjects', () => {
    const next = rng(19);
    const pick = (alphabet: string, max: number) => {
      let s = '';
      const n = Math.floor(next() * (max + 1));
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(next() * alphabet.length)];
      return s;
    };
    let matched = 0;
    for (let i = 0; i < 20_000; i++) {
      const pattern = pick('aAb*?.', 7);
      const subject = pick('aAbB.\n', 9);
      const want = reference(pattern).test(subject);
      assert.equal(compileGlob(pattern).test(subject), want, `${JSON.stringify(pattern)} on ${JSON.stringify(subject)}`);
      if (want) matched++;
    }
    assert.ok(matched > 1000, `the sample exercises matches too (${matched})`);
  });

  it('handles segments longer than one 31-bit word and non-ASCII case folding like RegExp i', () => {
    const long = 'x'.repeat(40) + '?' + 'y'.repeat(30);
    for (const [pattern, subject] of [
      [`*${long}*`, `zz${'X'.repeat(40)}Q${'Y'.repeat(30)}zz`],
      [`*${long}*`, `zz${'X'.repeat(40)}Q${'Y'.repeat(29)}zz`],
      [`a*${long}`, `a${'x'.repeat(41)}Q${'y'.repeat(30)}`],
      ['*é*', 'CAFÉ'],
      ['*ß*', 'STRASSE'],
      ['ǅ', 'Ǆ'],
      ['*k*', '\u212a'],
    ]) {
      assert.equal(compileGlob(pattern).test(subject), reference(pattern).test(subject), `${pattern} on ${subject}`);
    }
  });

  it('counts steps linear in the subject length for hostile patterns (no timing)', () => {
    const hostile = [
      '*a*a*a*a*a*a*a*a*a*a*a*a*b',
      `${'*a'.repeat(200)}*b`,
      '*?*?*?*?*?*?*?*?*?*?*?*?*b',
      `*${'a'.repeat(60)}b*`,
      `*${'?'.repeat(100)}b`,
      '*aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab*',
    ];
    for (const pattern of hostile) {
      const m = compileGlob(pattern);
      const words = Math.max(1, ...pattern.split('*').map((s) => Math.ceil(s.length / 31)));
      for (const n of [64, 1_000, 100_000]) {
        for (const subject of ['a'.repeat(n), 'a'.repeat(n - 1) + 'c', 'ab'.repeat(n / 2)]) {
          const steps: GlobSteps = { count: 0 };
          const got = m.test(subject, steps);
          // Every hostile pattern needs a 'b': a subject without one never matches.
          if (!subject.includes('b')) assert.equal(got, false);
          const bound = 2 * (n * words + pattern.length);
          assert.ok(steps.count <= bound, `${pattern.slice(0, 30)}… on ${n} chars: ${steps.count} steps > ${bound}`);
        }
      }
    }
  });

  it('the policy answers the pattern from the issue on a 64-character type', () => {
    const p = new SecurityPolicy(['*a*a*a*a*a*a*a*a*a*a*a*a*b'], []);
    assert.equal(p.check('a'.repeat(64)).allowed, true);
    assert.equal(p.check(`${'a'.repeat(63)}b`).allowed, false);
  });
});
