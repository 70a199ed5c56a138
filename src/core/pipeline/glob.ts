// Glob matching for the security policy, linear in the subject's length whatever the pattern.
//
// A glob is `*` (any run of characters), `?` (one UTF-16 code unit) and literals, matched against the whole
// subject, case-insensitively (the same folding as a RegExp's `i` flag without `u`). Compiling `*` to `.*` in
// one backtracking RegExp takes exponential time on `*a*a*a*…b` (a setting any workspace can set), so a glob
// is split on `*` into fixed-length segments instead: the first must match at the start, the last at the end,
// and each middle one at its leftmost place after the previous one. Leftmost placement is never worse for
// fixed-length segments, so this is exact; each middle segment is found by a bit-parallel scan (Shift-And,
// where `?` is a position that accepts every character) that reads each code unit of the subject once.
// Cost: O(subject length × ⌈longest segment / 31⌉ + pattern length), never more.

/** Counts the work of `test()` (one step per code unit read per 31-position word): tests prove the bound with it. */
export interface GlobSteps {
  count: number;
}

const WORD = 31; // bits per word: keeps every mask a small integer (no sign bit)
const WORD_MASK = 0x7fffffff;

const foldCache = new Map<number, number>();

/** A code unit folded as RegExp's `i` flag does (to upper case when that is one code unit). */
function fold(c: number): number {
  if (c < 128) return c >= 97 && c <= 122 ? c - 32 : c;
  let f = foldCache.get(c);
  if (f === undefined) {
    const up = String.fromCharCode(c).toUpperCase();
    f = up.length === 1 && up.charCodeAt(0) >= 128 ? up.charCodeAt(0) : c;
    if (foldCache.size < 4096) foldCache.set(c, f);
  }
  return f;
}

const ANY = -1; // a `?` in a folded segment

function foldSegment(segment: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    out.push(c === 63 /* ? */ ? ANY : fold(c));
  }
  return out;
}

/** Does `seg` match `s` at `at` (all of it inside `s`)? */
function matchesAt(seg: readonly number[], s: string, at: number, steps?: GlobSteps): boolean {
  if (steps) steps.count += seg.length;
  for (let i = 0; i < seg.length; i++) {
    if (seg[i] !== ANY && seg[i] !== fold(s.charCodeAt(at + i))) return false;
  }
  return true;
}

/** A middle segment's Shift-And tables: per folded code unit, the positions (bits) it may fill. */
class Scanner {
  private readonly words: number;
  private readonly any: number[];
  private readonly masks = new Map<number, number[]>();
  private readonly state: number[];

  constructor(readonly seg: readonly number[]) {
    this.words = Math.ceil(seg.length / WORD);
    this.any = new Array<number>(this.words).fill(0);
    this.state = new Array<number>(this.words).fill(0);
    seg.forEach((c, i) => {
      const w = Math.floor(i / WORD);
      const bit = 1 << (i % WORD);
      if (c === ANY) this.any[w] |= bit;
      else {
        let m = this.masks.get(c);
        if (!m) this.masks.set(c, (m = new Array<number>(this.words).fill(0)));
        m[w] |= bit;
      }
    });
  }

  /** The end (exclusive) of the segment's leftmost match in s[from, limit), or -1. */
  find(s: string, from: number, limit: number, steps?: GlobSteps): number {
    const n = this.seg.length;
    if (n === 0) return from;
    const { words, any, state } = this;
    state.fill(0);
    const lastWord = words - 1;
    const lastBit = 1 << ((n - 1) % WORD);
    const high = 1 << (WORD - 1);
    for (let p = from; p < limit; p++) {
      if (steps) steps.count += words;
      const m = this.masks.get(fold(s.charCodeAt(p)));
      // state' = ((state << 1) | 1) & mask, carried across words.
      let carry = 1;
      for (let w = 0; w < words; w++) {
        const out = (state[w] & high) !== 0 ? 1 : 0;
        state[w] = (((state[w] << 1) & WORD_MASK) | carry) & ((m ? m[w] : 0) | any[w]);
        carry = out;
      }
      if ((state[lastWord] & lastBit) !== 0) return p + 1;
    }
    return -1;
  }
}

export interface GlobMatcher {
  readonly pattern: string;
  /** Does the whole of `subject` match, case-insensitively? */
  test(subject: string, steps?: GlobSteps): boolean;
}

export function compileGlob(pattern: string): GlobMatcher {
  const parts = pattern.split('*').map(foldSegment);
  if (parts.length === 1) {
    const only = parts[0];
    return { pattern, test: (s, steps) => s.length === only.length && matchesAt(only, s, 0, steps) };
  }
  const first = parts[0];
  const last = parts[parts.length - 1];
  const middle = parts
    .slice(1, -1)
    .filter((p) => p.length > 0)
    .map((p) => new Scanner(p));
  const fixed = first.length + last.length + middle.reduce((n, m) => n + m.seg.length, 0);
  return {
    pattern,
    test(s, steps) {
      if (s.length < fixed) return false;
      if (!matchesAt(first, s, 0, steps)) return false;
      const tail = s.length - last.length;
      if (!matchesAt(last, s, tail, steps)) return false;
      let at = first.length;
      for (const m of middle) {
        at = m.find(s, at, tail, steps);
        if (at < 0) return false;
      }
      return true;
    },
  };
}
