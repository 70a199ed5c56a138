// Redaction: what could be a secret is replaced by [REDACTED] before it reaches disk, an exporter or the
// control endpoint. Parameters never reach telemetry; what does is error messages, error data and event
// metadata, so those (and nothing on the per-event hot path of a successful command) pass through here.
//
// Replaced:
//   - values of secret-looking keys, as object keys (`{"apiKey": …}`) or in text (`password=…`, `token: …`);
//   - Authorization header values and `Bearer …` / `Basic …` credentials;
//   - the password of `scheme://user:password@host` URLs;
//   - well-known key shapes: AWS access key ids (AKIA…, ASIA…), GitHub tokens (ghp_…, github_pat_…), Slack
//     tokens (xoxb-…), OpenAI-style keys (sk-…), PEM private key blocks;
//   - the values of this process's environment variables whose names look secret (…TOKEN…, …SECRET…,
//     …PASSWORD…, …_KEY…), read once at start, 8 characters or longer;
//   - values registered at run time with registerSecret() (the control endpoint's token).
// Every pattern is linear in the text's length (no nested quantifiers), and text is cut to MAX_REDACT_CHARS
// first, so a hostile message costs a bounded scan.

export const REDACTED = '[REDACTED]';

/** Longer text is cut here before it is scanned (error messages are already shorter). */
export const MAX_REDACT_CHARS = 64 * 1024;
/** Shorter values are never taken as secrets by value (they would replace ordinary words). */
export const MIN_SECRET_LENGTH = 8;

/** Key names whose values are secrets (compared without `-`, `_`, `.` and case). */
const SECRET_KEY =
  /(?:password|passwd|passphrase|secret|apikey|accesskey|privatekey|credential|authorization|cookie|sessionid|(?<!max|prompt|completion|total|num|input|output)token(?!s|count|type|usage|limit|ize|izer))/;

/** Environment variable names whose values are secrets. */
const SECRET_ENV = /(?:TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|(?:^|_)(?:API_?)?KEY(?:$|_))/i;

export function isSecretKey(name: string): boolean {
  return SECRET_KEY.test(name.toLowerCase().replace(/[-_. ]/g, ''));
}

// One pass over the text: each alternative names its group, the replacer keeps what is not secret.
const PATTERNS = new RegExp(
  [
    // PEM private keys, whole.
    String.raw`(?<pem>-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[\s\S]{0,16384}?-----END [A-Z ]{0,40}PRIVATE KEY-----)`,
    // scheme://user:password@
    String.raw`(?<url>\b[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s/:@"'<>]{0,256}:)(?<urlpass>[^\s/@"'<>]{1,512})(?=@)`,
    // Authorization: [scheme] <anything to the end of the value> (a `<placeholder>` is not a secret)
    String.raw`(?<auth>\b(?:proxy-)?authorization["']?\s{0,8}[:=]\s{0,8}["']?(?:(?:Bearer|Basic|Digest|Token)\s{1,8})?)(?<authval>(?!\s|(?:(?:Bearer|Basic|Digest|Token)\s{1,8})?<)[^"'\r\n,;}]{1,2048})`,
    // Bearer / Basic credentials anywhere
    String.raw`(?<scheme>\b(?:Bearer|Basic)\s{1,8})(?<cred>[A-Za-z0-9\-._~+/]{8,4096}=*)`,
    // Key shapes
    String.raw`(?<shape>\b(?:(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255}|xox[abposr]-[A-Za-z0-9-]{10,255}|sk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_-]{20,255})\b)`,
    // name=value, name: value, "name": "value" for names holding a secret word (isSecretKey decides)
    String.raw`(?<![A-Za-z0-9_.-])(?<key>[A-Za-z0-9_.-]{0,40}?(?:pass(?:word|wd|phrase)|secret|api[-_.]?key|access[-_.]?key|private[-_.]?key|credential|authorization|cookie|session[-_.]?id|token)[A-Za-z0-9_.-]{0,40})(?<sep>["']?\s{0,8}[:=]\s{0,8})(?:"(?<dq>[^"\r\n]{1,2048})"|'(?<sq>[^'\r\n]{1,2048})'|(?<bare>(?:(?:Bearer|Basic)\s{1,8})?[^\s"',;&}\]]{1,2048}))`,
  ].join('|'),
  'gi',
);

/** Registered values, each with how many registrations hold it. */
/** A cheap first look: text with none of these words cannot match PATTERNS and skips the full pass. */
const TRIGGER =
  /:\/\/|bearer|basic|authoriz|akia|asia|gh[pousr]_|github_pat_|xox|sk-|-----begin|pass(?:word|wd|phrase)|secret|api[-_.]?key|access[-_.]?key|private[-_.]?key|credential|cookie|session[-_.]?id|token/i;

const registered = new Map<string, number>();
let fromEnvironment: string[] | undefined;
/** Literal secrets, longest first (so a secret containing another is replaced whole). */
let literals: string[] = [];

function refreshLiterals(): void {
  fromEnvironment ??= secretsOfEnvironment(process.env);
  literals = [...new Set([...fromEnvironment, ...registered.keys()])].sort((a, b) => b.length - a.length);
}

/** The values of environment variables whose names look secret (long enough to mean something). */
export function secretsOfEnvironment(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value.length >= MIN_SECRET_LENGTH && SECRET_ENV.test(name)) out.push(value);
  }
  return out;
}

/**
 * Adds a value to redact wherever it appears (e.g. the control endpoint's token); shorter than
 * MIN_SECRET_LENGTH is ignored. Returns a function that removes it again.
 */
export function registerSecret(value: string): () => void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH) return () => undefined;
  registered.set(value, (registered.get(value) ?? 0) + 1);
  refreshLiterals();
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    const n = (registered.get(value) ?? 1) - 1;
    if (n > 0) registered.set(value, n);
    else registered.delete(value);
    refreshLiterals();
  };
}

type Groups = Partial<Record<'pem' | 'url' | 'urlpass' | 'auth' | 'authval' | 'scheme' | 'cred' | 'shape' | 'key' | 'sep' | 'dq' | 'sq' | 'bare', string>>;

/** `<token>`, `Bearer <token>`: how messages name what to send, not a secret. */
const PLACEHOLDER = /^(?:(?:Bearer|Basic|Digest|Token)\s+)?<[^<>]*>$/i;

function replacer(match: string, ...args: unknown[]): string {
  const g = args[args.length - 1] as Groups;
  if (g.pem !== undefined) return REDACTED;
  if (g.urlpass !== undefined) return `${g.url}${REDACTED}`;
  if (g.authval !== undefined) return `${g.auth}${REDACTED}`;
  if (g.cred !== undefined) return `${g.scheme}${REDACTED}`;
  if (g.shape !== undefined) return REDACTED;
  if (g.key !== undefined && isSecretKey(g.key) && !PLACEHOLDER.test(g.dq ?? g.sq ?? g.bare ?? '')) {
    if (g.dq !== undefined) return `${g.key}${g.sep}"${REDACTED}"`;
    if (g.sq !== undefined) return `${g.key}${g.sep}'${REDACTED}'`;
    return `${g.key}${g.sep}${REDACTED}`;
  }
  return match;
}

/** `text` with every secret replaced by [REDACTED]; the same string when there is none. */
export function redactText(text: string): string {
  if (fromEnvironment === undefined) refreshLiterals();
  let s = text.length > MAX_REDACT_CHARS ? `${text.slice(0, MAX_REDACT_CHARS)}…` : text;
  for (const secret of literals) if (s.includes(secret)) s = s.split(secret).join(REDACTED);
  if (s.length < 8 || !TRIGGER.test(s)) return s;
  return s.replace(PATTERNS, replacer);
}

const MAX_DEPTH = 8;

/**
 * A value with every string redacted and the values of secret-looking keys replaced; the same object when
 * nothing changed (no copy on the common path). Deeper than 8 levels is replaced by a note.
 */
export function redactValue<T>(value: T): T {
  return redactAt(value, 0) as T;
}

function redactAt(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const r = redactAt(v, depth + 1);
      if (r !== v) (out ??= value.slice())[i] = r;
    }
    return out ?? value;
  }
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const r = v !== undefined && v !== null && typeof v !== 'boolean' && typeof v !== 'number' && isSecretKey(k) ? REDACTED : redactAt(v, depth + 1);
    if (r !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = r;
  }
  return out ?? value;
}
