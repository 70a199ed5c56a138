// Middleware settings (surfaced as VS Code settings `aios.*`) and their validation. Validation never throws:
// each invalid field keeps its previous value and yields one message a person can act on.

export interface SecurityConfig {
  /** Glob patterns (`*`, `?`; case-insensitive, whole command type) that block a command type. */
  denyPatterns: string[];
  /** When non-empty, only command types matching one of these run. Deny always wins over allow. */
  allowPatterns: string[];
}

export interface TelemetryConfig {
  /** Events kept in memory for DETAILED/REALTIME queries. */
  maxRecentEvents: number;
  /** An events file is rotated when it would grow past this size. */
  maxFileSizeMB: number;
  /** Oldest closed event files are deleted to keep the folder under this size. */
  maxTotalSizeMB: number;
  /** Longest time an event waits in memory before it is written. */
  flushIntervalMs: number;
}

export interface SamplerConfig {
  /** CPU and memory sampling period. */
  intervalMs: number;
  /** Python process counting period (a process listing costs ~0.3 s of CPU); 0 = never count. */
  processIntervalMs: number;
}

/** Who decides the concurrency limit: `fixed` is aios.maxConcurrency; `adaptive` follows the service's
 *  latency within [minConcurrency, maxConcurrency], starting from aios.maxConcurrency. */
export type ThrottleMode = 'fixed' | 'adaptive';
export const THROTTLE_MODES: readonly ThrottleMode[] = ['fixed', 'adaptive'];

export interface ThrottleConfig {
  mode: ThrottleMode;
  /** Bounds of the adaptive limit (adaptive mode only); minConcurrency <= maxConcurrency. */
  minConcurrency: number;
  maxConcurrency: number;
}

/** aios.cluster.*: one concurrency limit shared through Redis by every extension host with the same Redis and
 *  name (src/core/admission/cluster/sharedLimit.ts). Off while redisUrl is empty. */
export interface ClusterConfig {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS); empty: no shared limit. */
  redisUrl: string;
  /** Hosts with the same Redis and name share one limit; letters, digits, `.`, `_`, `-`. */
  name: string;
  /** A slot held by a host that stops renewing it (a killed window) is given back after this long. */
  leaseMs: number;
  /** Longest wait for any one Redis call (at most a third of leaseMs is used); then the local limit applies. */
  timeoutMs: number;
}

export interface MiddlewareConfig {
  /** The concurrency limit in fixed mode; the starting limit in adaptive mode. */
  maxConcurrency: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** CPU percent above which the backoff delay doubles. */
  cpuThreshold: number;
  /** Commands waiting (delayed or queued) at most; one more is refused with 'queue_full'. */
  maxQueueSize: number;
  /** A waiting command older than this is served before younger ones whatever their priority; 0 = off. */
  agingMs: number;
  /** Count other Python processes (seen by the sampler) as active load in the backoff formula. */
  countExternalPythonProcesses: boolean;
  /** Largest `parameters` object, in bytes of its JSON form. */
  maxParameterBytes: number;
  security: SecurityConfig;
  telemetry: TelemetryConfig;
  sampler: SamplerConfig;
  throttle: ThrottleConfig;
  cluster: ClusterConfig;
}

export const DEFAULT_CONFIG: Readonly<MiddlewareConfig> = Object.freeze({
  maxConcurrency: 4,
  baseDelayMs: 100,
  maxDelayMs: 5000,
  cpuThreshold: 85,
  maxQueueSize: 1000,
  agingMs: 10000,
  countExternalPythonProcesses: false,
  maxParameterBytes: 65536,
  security: Object.freeze({ denyPatterns: ['*DELETE*', '*DROP*'], allowPatterns: [] as string[] }),
  telemetry: Object.freeze({ maxRecentEvents: 500, maxFileSizeMB: 5, maxTotalSizeMB: 50, flushIntervalMs: 1000 }),
  sampler: Object.freeze({ intervalMs: 1000, processIntervalMs: 10000 }),
  throttle: Object.freeze({ mode: 'fixed', minConcurrency: 1, maxConcurrency: 64 }),
  cluster: Object.freeze({ redisUrl: '', name: 'default', leaseMs: 10_000, timeoutMs: 1000 }),
});

export type PartialConfig = Partial<
  Omit<MiddlewareConfig, 'security' | 'telemetry' | 'sampler' | 'throttle' | 'cluster'> & {
    security: Partial<SecurityConfig>;
    telemetry: Partial<TelemetryConfig>;
    sampler: Partial<SamplerConfig>;
    throttle: Partial<ThrottleConfig>;
    cluster: Partial<ClusterConfig>;
  }
>;

export function cloneConfig(c: MiddlewareConfig): MiddlewareConfig {
  return {
    ...c,
    security: { denyPatterns: [...c.security.denyPatterns], allowPatterns: [...c.security.allowPatterns] },
    telemetry: { ...c.telemetry },
    sampler: { ...c.sampler },
    throttle: { ...c.throttle },
    cluster: { ...c.cluster },
  };
}

/** Bounds of a numeric setting. These tables are the one source of truth: package.json's minimum and maximum
 *  must match them (test/unit/manifest.test.ts compares every setting). */
export interface NumberRule {
  readonly min: number;
  readonly max: number;
  readonly integer: boolean;
}

const TOP_NUMBERS: Readonly<Record<string, NumberRule>> = {
  maxConcurrency: { min: 1, max: 256, integer: true },
  baseDelayMs: { min: 0, max: 60_000, integer: true },
  maxDelayMs: { min: 0, max: 600_000, integer: true },
  // 0 would double every delay whatever the load.
  cpuThreshold: { min: 1, max: 100, integer: false },
  // 0: no queue at all, a command over the limit is refused at once.
  maxQueueSize: { min: 0, max: 1_000_000, integer: true },
  agingMs: { min: 0, max: 3_600_000, integer: true },
  maxParameterBytes: { min: 256, max: 16_777_216, integer: true },
};
const TELEMETRY_NUMBERS: Readonly<Record<string, NumberRule>> = {
  // Each kept event is ~1 KB with its context: 10,000 is ~10 MB.
  maxRecentEvents: { min: 0, max: 10_000, integer: true },
  maxFileSizeMB: { min: 0.01, max: 1024, integer: false },
  maxTotalSizeMB: { min: 0.01, max: 10_240, integer: false },
  flushIntervalMs: { min: 50, max: 60_000, integer: true },
};
const SAMPLER_NUMBERS: Readonly<Record<string, NumberRule>> = {
  // systeminformation's CPU reading costs ~20 ms: more often than 4 times a second is load of our own.
  intervalMs: { min: 250, max: 60_000, integer: true },
  processIntervalMs: { min: 0, max: 600_000, integer: true },
};

// The same range as maxConcurrency: the adaptive limit moves where a fixed one could be set.
const THROTTLE_NUMBERS: Readonly<Record<string, NumberRule>> = {
  minConcurrency: { min: 1, max: 256, integer: true },
  maxConcurrency: { min: 1, max: 256, integer: true },
};

// A lease under a second would need renewals faster than a slow link answers; a day is "until restarted".
const CLUSTER_NUMBERS: Readonly<Record<string, NumberRule>> = {
  leaseMs: { min: 1000, max: 86_400_000, integer: true },
  timeoutMs: { min: 10, max: 60_000, integer: true },
};

/** Every numeric middleware setting by its key below `aios.` (e.g. `telemetry.maxRecentEvents`). */
export const CONFIG_NUMBER_RULES: Readonly<Record<string, NumberRule>> = Object.freeze({
  ...TOP_NUMBERS,
  ...Object.fromEntries(Object.entries(TELEMETRY_NUMBERS).map(([k, r]) => [`telemetry.${k}`, r])),
  ...Object.fromEntries(Object.entries(SAMPLER_NUMBERS).map(([k, r]) => [`sampler.${k}`, r])),
  ...Object.fromEntries(Object.entries(THROTTLE_NUMBERS).map(([k, r]) => [`throttle.${k}`, r])),
  ...Object.fromEntries(Object.entries(CLUSTER_NUMBERS).map(([k, r]) => [`cluster.${k}`, r])),
});

const MAX_PATTERNS = 100;
const MAX_PATTERN_LENGTH = 256;

/** A value quoted in a message, cut to about 60 characters (a 1 MB setting must not become a 1 MB message). */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (v === undefined) return 'undefined';
  try {
    const s = JSON.stringify(v);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    // A BigInt or a cycle: say what it is rather than print [object Object].
    return typeof v === 'bigint' ? `${v}n` : Object.prototype.toString.call(v);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Copies each valid number of `input` named in `rules` into `target`; an invalid one keeps the target's value
 *  and adds one message naming `prefix + key`, the accepted range and the value kept. */
export function checkNumbers(
  input: Record<string, unknown>,
  target: Record<string, unknown>,
  rules: Readonly<Record<string, NumberRule>>,
  prefix: string,
  errors: string[],
): void {
  for (const [key, rule] of Object.entries(rules)) {
    if (!(key in input) || input[key] === undefined) continue;
    const v = input[key];
    const ok = typeof v === 'number' && Number.isFinite(v) && v >= rule.min && v <= rule.max && (!rule.integer || Number.isInteger(v));
    if (ok) target[key] = v;
    else {
      const kind = rule.integer ? 'an integer' : 'a number';
      errors.push(`${prefix}${key} must be ${kind} from ${rule.min} to ${rule.max} (got ${show(v)}); keeping ${show(target[key])}`);
    }
  }
}

function checkPatterns(v: unknown, name: string, previous: string[], errors: string[]): string[] {
  if (!Array.isArray(v)) {
    errors.push(`${name} must be a list of glob patterns such as "*DELETE*" (got ${show(v)}); keeping ${show(previous)}`);
    return previous;
  }
  if (v.length > MAX_PATTERNS) {
    errors.push(`${name} may hold at most ${MAX_PATTERNS} patterns (got ${v.length}); keeping ${show(previous)}`);
    return previous;
  }
  for (const p of v) {
    if (typeof p !== 'string' || p.trim() === '' || p.length > MAX_PATTERN_LENGTH) {
      errors.push(
        `${name} entries must be non-empty strings of at most ${MAX_PATTERN_LENGTH} characters (got ${show(p)}); keeping the whole list ${show(previous)}`,
      );
      return previous;
    }
  }
  return (v as string[]).map((p) => p.trim());
}

function checkKnown(input: Record<string, unknown>, known: readonly string[], prefix: string, errors: string[]): void {
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) errors.push(`unknown setting ${prefix}${key} ignored (known: ${known.join(', ')})`);
  }
}

/**
 * Checks `input` field by field over `base` (defaults unless given). Valid fields replace the base value,
 * invalid ones keep it and add one error. Unknown fields are reported and ignored.
 */
export function validateConfig(
  input: unknown,
  base: Readonly<MiddlewareConfig> = DEFAULT_CONFIG,
  /** Put before each setting name in messages, e.g. 'aios.' for the VS Code settings. */
  prefix = '',
): { config: MiddlewareConfig; errors: string[] } {
  const config = cloneConfig(base);
  const errors: string[] = [];
  if (input === undefined || input === null) return { config, errors };
  if (!isRecord(input)) {
    errors.push(`settings must be an object (got ${show(input)}); keeping the previous settings`);
    return { config, errors };
  }
  checkKnown(input, [...Object.keys(TOP_NUMBERS), 'countExternalPythonProcesses', 'security', 'telemetry', 'sampler', 'throttle', 'cluster'], prefix, errors);
  checkNumbers(input, config as unknown as Record<string, unknown>, TOP_NUMBERS, prefix, errors);
  if (input.countExternalPythonProcesses !== undefined) {
    if (typeof input.countExternalPythonProcesses === 'boolean') config.countExternalPythonProcesses = input.countExternalPythonProcesses;
    else
      errors.push(
        `${prefix}countExternalPythonProcesses must be true or false (got ${show(input.countExternalPythonProcesses)}); keeping ${config.countExternalPythonProcesses}`,
      );
  }
  const sections: Array<[string, Readonly<Record<string, NumberRule>>, Record<string, unknown>]> = [
    ['telemetry', TELEMETRY_NUMBERS, config.telemetry as unknown as Record<string, unknown>],
    ['sampler', SAMPLER_NUMBERS, config.sampler as unknown as Record<string, unknown>],
  ];
  for (const [name, rules, target] of sections) {
    const section = input[name];
    if (section === undefined) continue;
    if (!isRecord(section)) {
      errors.push(`${prefix}${name} must be an object (got ${show(section)}); keeping the previous ${name} settings`);
      continue;
    }
    checkKnown(section, Object.keys(rules), `${prefix}${name}.`, errors);
    checkNumbers(section, target, rules, `${prefix}${name}.`, errors);
  }
  if (input.throttle !== undefined) checkThrottle(input.throttle, config.throttle, `${prefix}throttle.`, errors);
  if (input.cluster !== undefined) checkCluster(input.cluster, config.cluster, `${prefix}cluster.`, errors);
  const security = input.security;
  if (security !== undefined) {
    if (!isRecord(security)) {
      errors.push(`${prefix}security must be an object (got ${show(security)}); keeping the previous security settings`);
    } else {
      checkKnown(security, ['denyPatterns', 'allowPatterns'], `${prefix}security.`, errors);
      if (security.denyPatterns !== undefined)
        config.security.denyPatterns = checkPatterns(security.denyPatterns, `${prefix}security.denyPatterns`, config.security.denyPatterns, errors);
      if (security.allowPatterns !== undefined)
        config.security.allowPatterns = checkPatterns(security.allowPatterns, `${prefix}security.allowPatterns`, config.security.allowPatterns, errors);
    }
  }
  return { config, errors };
}

/** aios.throttle.*: the mode, and bounds that must stay ordered (min <= max) whatever order they are set in. */
function checkThrottle(input: unknown, target: ThrottleConfig, prefix: string, errors: string[]): void {
  if (!isRecord(input)) {
    errors.push(`${prefix.slice(0, -1)} must be an object (got ${show(input)}); keeping the previous throttle settings`);
    return;
  }
  checkKnown(input, ['mode', ...Object.keys(THROTTLE_NUMBERS)], prefix, errors);
  if (input.mode !== undefined) {
    if (typeof input.mode === 'string' && (THROTTLE_MODES as readonly string[]).includes(input.mode)) target.mode = input.mode as ThrottleMode;
    else errors.push(`${prefix}mode must be one of ${THROTTLE_MODES.map((m) => show(m)).join(', ')} (got ${show(input.mode)}); keeping ${show(target.mode)}`);
  }
  const before = { minConcurrency: target.minConcurrency, maxConcurrency: target.maxConcurrency };
  checkNumbers(input, target as unknown as Record<string, unknown>, THROTTLE_NUMBERS, prefix, errors);
  if (target.minConcurrency > target.maxConcurrency) {
    errors.push(
      `${prefix}minConcurrency (${target.minConcurrency}) must not be greater than ${prefix}maxConcurrency (${target.maxConcurrency}); ` +
        `keeping ${before.minConcurrency}..${before.maxConcurrency}`,
    );
    target.minConcurrency = before.minConcurrency;
    target.maxConcurrency = before.maxConcurrency;
  }
}

const CLUSTER_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** aios.cluster.*: a redis:// or rediss:// URL (or empty: off), a name that is safe inside Redis key names,
 *  and the lease and timeout. Messages never repeat a password that the URL holds. */
function checkCluster(input: unknown, target: ClusterConfig, prefix: string, errors: string[]): void {
  if (!isRecord(input)) {
    errors.push(`${prefix.slice(0, -1)} must be an object (got ${show(input)}); keeping the previous cluster settings`);
    return;
  }
  checkKnown(input, ['redisUrl', 'name', ...Object.keys(CLUSTER_NUMBERS)], prefix, errors);
  if (input.redisUrl !== undefined) {
    const problem = redisUrlProblem(input.redisUrl);
    if (problem === undefined) target.redisUrl = (input.redisUrl as string).trim();
    else errors.push(`${prefix}redisUrl ${problem}; keeping ${show(redactRedisUrl(target.redisUrl))}`);
  }
  if (input.name !== undefined) {
    if (typeof input.name === 'string' && CLUSTER_NAME.test(input.name)) target.name = input.name;
    else errors.push(`${prefix}name must be 1 to 64 letters, digits, ".", "_" or "-" (got ${show(input.name)}); keeping ${show(target.name)}`);
  }
  checkNumbers(input, target as unknown as Record<string, unknown>, CLUSTER_NUMBERS, prefix, errors);
}

/** Why `v` is no Redis URL (undefined: it is one, or empty). */
function redisUrlProblem(v: unknown): string | undefined {
  if (typeof v !== 'string') return `must be a string such as "redis://127.0.0.1:6379" (got ${show(v)})`;
  const s = v.trim();
  if (s === '') return undefined;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return `must be a URL such as "redis://127.0.0.1:6379" (got ${show(redactRedisUrl(s))})`;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return `must start with redis:// or rediss:// (got ${show(redactRedisUrl(s))})`;
  if (url.hostname === '') return `must name a host (got ${show(redactRedisUrl(s))})`;
  return undefined;
}

/** The URL without its password (as written otherwise), for messages, logs and views. */
export function redactRedisUrl(s: string): string {
  return s.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^:@/]*:)[^@/]*@/, '$1***@');
}
