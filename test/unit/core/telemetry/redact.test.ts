import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSecretKey, REDACTED, redactText, redactValue, registerSecret, secretsOfEnvironment } from '../../../../src/core/telemetry/redact';

describe('redactText', () => {
  const cases: Array<[string, string, string]> = [
    ['an Authorization header', 'got 401 with Authorization: Bearer abcdefghijklmnop0123', 'abcdefghijklmnop0123'],
    ['a Basic credential', 'curl -H "Authorization: Basic dXNlcjpwYXNzd29yZA==" http://x', 'dXNlcjpwYXNzd29yZA=='],
    ['a Bearer token anywhere', 'sent Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-part', 'eyJhbGciOiJIUzI1NiJ9'],
    ['a URL password', 'cannot reach postgres://app:s3cr3t-pass@db.local:5432/x', 's3cr3t-pass'],
    ['an AWS access key id', 'denied for AKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLE'],
    ['a GitHub token', 'bad ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789', 'ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789'],
    ['a GitHub fine-grained token', 'bad github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstu', 'github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstu'],
    ['a Slack token', 'slack said no to xoxb-123456789012-abcdefghijkl', 'xoxb-123456789012-abcdefghijkl'],
    ['an OpenAI-style key', 'quota for sk-proj-abcdefghijklmnopqrstuvwxyz0123', 'sk-proj-abcdefghijklmnopqrstuvwxyz0123'],
    ['a password= pair', 'login failed: user=bob password=hunter2hunter2', 'hunter2hunter2'],
    ['a JSON secret field', '{"client_secret":"cs-value-987","max_tokens":100}', 'cs-value-987'],
    ['a token: pair', 'token: tk-value-123456', 'tk-value-123456'],
    ['a PEM private key', 'key -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY----- end', 'MIIEpAIBAAKCAQEA'],
  ];
  for (const [what, text, secret] of cases) {
    it(`replaces ${what}`, () => {
      const out = redactText(text);
      assert.ok(!out.includes(secret), out);
      assert.ok(out.includes(REDACTED), out);
    });
  }

  it('leaves ordinary messages alone, token counts included', () => {
    for (const text of [
      "Command type 'DELETE_ALL' is blocked by the deny pattern '*DELETE*'",
      'max_tokens=100 prompt_tokens: 5 tokens=7',
      'handler ANALYZE failed: ValueError: bad input at line 3',
      'see https://example.com/docs?page=2',
      'The command queue is full (1000 waiting)',
    ]) {
      assert.equal(redactText(text), text);
    }
  });

  it('replaces registered values until they are forgotten; short values are ignored', () => {
    const value = 'registered-secret-value-42';
    const forget = registerSecret(value);
    assert.equal(redactText(`x ${value} y ${value}`), `x ${REDACTED} y ${REDACTED}`);
    forget();
    assert.equal(redactText(`x ${value}`), `x ${value}`);
    registerSecret('short')();
    assert.equal(redactText('a short b'), 'a short b');
  });

  it('takes the values of secret-looking environment variables, 8 characters or more', () => {
    const env = {
      GITHUB_TOKEN: 'gh-env-value-1',
      DB_PASSWORD: 'pw-env-value-2',
      OPENAI_API_KEY: 'key-env-value-3',
      AWS_SECRET_ACCESS_KEY: 'aws-env-value-4',
      SHORT_TOKEN: 'abc',
      PATH: '/usr/bin:/bin',
      KEYBOARD_LAYOUT: 'us-international',
      HOME: '/home/someone',
    };
    assert.deepEqual(secretsOfEnvironment(env).sort(), ['aws-env-value-4', 'gh-env-value-1', 'key-env-value-3', 'pw-env-value-2']);
  });

  it('bounded on hostile text: 1 MB of key-like runs is cut and scanned once', () => {
    const hostile = 'a'.repeat(40) + 'token'.repeat(100_000) + '='.repeat(10) + 'b-'.repeat(200_000);
    const out = redactText(hostile);
    assert.ok(out.length <= 64 * 1024 + 16);
  });
});

describe('redactValue', () => {
  it('replaces values of secret-looking keys at any depth, keeps numbers and other keys, copies only what changes', () => {
    const input = {
      code: 'x',
      count: 3,
      nested: { apiKey: 'k-123', password: 'p', tokens: 5, list: ['Bearer abcdefgh12345', 'fine'] },
      untouched: { a: 'b' },
    };
    const out = redactValue(input);
    assert.deepEqual(out, {
      code: 'x',
      count: 3,
      nested: { apiKey: REDACTED, password: REDACTED, tokens: 5, list: [`Bearer ${REDACTED}`, 'fine'] },
      untouched: { a: 'b' },
    });
    assert.equal(out.untouched, input.untouched, 'unchanged parts are shared');
    assert.equal(input.nested.apiKey, 'k-123', 'the input is not modified');
    const clean = { code: 'ok', message: 'nothing here' };
    assert.equal(redactValue(clean), clean, 'nothing to redact: the same object');
  });

  it('names secret keys in any style', () => {
    for (const k of [
      'password',
      'Password',
      'api_key',
      'apiKey',
      'X-Api-Key',
      'client_secret',
      'accessToken',
      'refresh_token',
      'Authorization',
      'cookie',
      'sessionId',
    ]) {
      assert.equal(isSecretKey(k), true, k);
    }
    for (const k of ['message', 'code', 'tokens', 'max_tokens', 'promptTokens', 'tokenCount', 'keyboard', 'monkey', 'author']) {
      assert.equal(isSecretKey(k), false, k);
    }
  });
});
