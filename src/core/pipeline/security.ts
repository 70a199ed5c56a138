// Security policy on command types: glob deny and allow lists, case-insensitive, whole-name matches.
//
// How the lists combine (the safe rule, as in IAM-style policies):
//   1. a type matching any deny pattern is blocked, whatever the allow list says (deny always wins);
//   2. otherwise, if the allow list is non-empty, a type matching none of its patterns is blocked;
//   3. otherwise the type is allowed.
// To permit a denied type, narrow the deny pattern; an allow entry never re-opens it.
// A command may carry a second name the policy checks with its type (a custom control command's
// `CUSTOM_COMMAND:<name>`, see CUSTOM_COMMAND_PREFIX): blocked when either name is denied; with an allow list,
// run when either is allowed.
// Matching is linear in the type's length whatever the pattern (see glob.ts): a workspace can set these.
// Decisions are cached per command type (bounded), so the steady state costs one Map lookup.

import { compileGlob, type GlobMatcher } from './glob';

export interface SecurityDecision {
  allowed: boolean;
  /** Person-readable reason when blocked. */
  reason?: string;
  /** Blocked by a deny pattern (not only missing from the allow list). */
  denied?: true;
}

const ALLOWED: SecurityDecision = Object.freeze({ allowed: true });
const CACHE_LIMIT = 1024;

interface Compiled {
  each: GlobMatcher[];
}

function compile(patterns: readonly string[]): Compiled {
  return { each: patterns.map(compileGlob) };
}

export class SecurityPolicy {
  private deny!: Compiled;
  private allow!: Compiled;
  private denyPatterns: readonly string[] = [];
  private allowPatterns: readonly string[] = [];
  private readonly cache = new Map<string, SecurityDecision>();

  constructor(denyPatterns: readonly string[], allowPatterns: readonly string[]) {
    this.update(denyPatterns, allowPatterns);
  }

  update(denyPatterns: readonly string[], allowPatterns: readonly string[]): void {
    this.denyPatterns = [...denyPatterns];
    this.allowPatterns = [...allowPatterns];
    this.deny = compile(this.denyPatterns);
    this.allow = compile(this.allowPatterns);
    this.cache.clear();
  }

  /** The decision for a command type, and for its second name `policyName` when it has one (see above). */
  check(commandType: string, policyName?: string): SecurityDecision {
    const first = this.checkOne(commandType);
    if (policyName === undefined) return first;
    // Not cached: control calls are few, and the name comes from a request's parameters (any length).
    const second = this.decide(policyName);
    // The more specific name's deny reads best; then the type's; then either name on the allow list admits it.
    if (second.denied) return second;
    if (first.denied || first.allowed) return first;
    return second.allowed ? ALLOWED : first;
  }

  private checkOne(commandType: string): SecurityDecision {
    let decision = this.cache.get(commandType);
    if (decision === undefined) {
      decision = this.decide(commandType);
      // Distinct command types are few in practice; a flood of random ones only resets the cache.
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(commandType, decision);
    }
    return decision;
  }

  private decide(commandType: string): SecurityDecision {
    const i = this.deny.each.findIndex((m) => m.test(commandType));
    if (i >= 0) {
      return {
        allowed: false,
        denied: true,
        reason: `Command type '${commandType}' is blocked by the deny pattern '${this.denyPatterns[i]}' (setting aios.security.denyPatterns)`,
      };
    }
    if (this.allow.each.length > 0 && !this.allow.each.some((m) => m.test(commandType))) {
      return {
        allowed: false,
        reason: `Command type '${commandType}' matches none of the allow patterns ${JSON.stringify(this.allowPatterns)} (setting aios.security.allowPatterns)`,
      };
    }
    return ALLOWED;
  }
}
