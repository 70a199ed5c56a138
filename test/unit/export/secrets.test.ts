// Planted secrets, found nowhere: executors fail with messages and values carrying each kind of secret the
// redaction step knows (an Authorization header, a thrown object with a Bearer token, a URL password, AWS,
// GitHub, Slack and OpenAI-style keys, a secret-looking environment variable's value, the control endpoint's
// own token, an apiKey in error data), with telemetry on disk, every exporter on (OTLP/JSON, OTLP/protobuf,
// Prometheus, the PowerShell-compatible JSON endpoint) and the control endpoint answering. Then every file written and every
// payload and answer is searched for each planted value.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startControlServer } from '../../../src/control/server';
import { functionExecutor } from '../../../src/core/execution/executors';
import { createMiddleware } from '../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../src/core/system/sampler';
import { CommandFailure } from '../../../src/core/types';
import { createExporters } from '../../../src/export';
import * as otel from '../../../src/export/otel';
import { record } from '../../reliability/table';
import { EndpointReceiver, OtlpReceiver, close } from './receivers';

// Read once by the redaction step, at its first use (after this line runs).
const ENV_VALUE = 'env-planted-value-7f3a9c1e';
process.env.AIOS_PLANTED_SERVICE_TOKEN = ENV_VALUE;

const CONTROL_TOKEN = 'control-planted-token-0123456789abcdef';
const PLANTED = {
  authorization: 'authz-planted-abcdefghij0123',
  thrownBearer: 'thrown-planted-bearer-9876543210',
  urlPassword: 'url-planted-pass-5566',
  aws: 'AKIAPLANTEDX7EXAMPLE',
  github: 'ghp_PlantedGitHubToken0123456789abcdefABCD',
  slack: 'xoxb-112233445566-PlantedSlackTok',
  openai: 'sk-PlantedOpenAIKey0123456789abcdefgh',
  env: ENV_VALUE,
  control: CONTROL_TOKEN,
  errorData: 'data-planted-apikey-24680',
  password: 'password-planted-13579',
} as const;

const executor = functionExecutor({
  AUTH: () => {
    throw new Error(`the upstream answered 401 to Authorization: Bearer ${PLANTED.authorization}`);
  },
  THROWN: () => {
    // A non-Error object, serialised whole by the pipeline before redaction existed.
    // eslint-disable-next-line @typescript-eslint/only-throw-error
    throw { status: 401, request: { headers: { Authorization: `Bearer ${PLANTED.thrownBearer}` } } };
  },
  URL: () => {
    throw new Error(`cannot reach https://svc:${PLANTED.urlPassword}@db.internal:5432/app`);
  },
  SHAPES: () => {
    throw new Error(`rejected keys ${PLANTED.aws} ${PLANTED.github} ${PLANTED.slack} ${PLANTED.openai}`);
  },
  ENV: () => {
    throw new Error(`the service token ${PLANTED.env} expired`);
  },
  ECHO_TOKEN: () => {
    throw new Error(`a script echoed ${PLANTED.control}`);
  },
  DATA: () => {
    throw new CommandFailure('handler_failed', `login with password=${PLANTED.password} failed`, { apiKey: PLANTED.errorData });
  },
  OK: () => ({ fine: true }),
});

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const full = join(dir, n);
    return statSync(full).isDirectory() ? files(full) : [full];
  });
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

function post(port: number, path: string, body: unknown): Promise<string> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent: false,
        headers: { authorization: `Bearer ${CONTROL_TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        let out = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (out += c));
        res.on('end', () => resolve(out));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

describe('planted secrets are found nowhere', () => {
  it('not in the event files, the stats snapshot, OTLP (JSON and protobuf), Prometheus, the JSON endpoint or the control endpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aios-secrets-'));
    const otlpJson = await new OtlpReceiver().start();
    const otlpProto = await new OtlpReceiver().start();
    const endpoint = await new EndpointReceiver().start();
    const mw = createMiddleware({
      storageDir: dir,
      sessionId: 'secrets',
      sampler: new StaticSampler({ cpuPercent: 10 }),
      config: { baseDelayMs: 0, telemetry: { flushIntervalMs: 10 } },
    });
    const exporterOptions = (prometheus: boolean) => ({
      telemetry: mw.telemetry,
      state: () => ({ admission: mw.admission }),
      sessionId: mw.sessionId,
      serviceVersion: '1.0.0',
      loadOtel: prometheus ? () => ({ startOtel: (o: Parameters<typeof otel.startOtel>[0]) => otel.startOtel({ ...o, prometheusPort: 0 }) }) : () => otel,
      endpointBackoff: { initialMs: 5, maxMs: 40 },
    });
    const jsonExporters = createExporters(
      { otlp: { endpoint: otlpJson.url, protocol: 'http/json', metricsIntervalMs: 3_600_000 }, http: { endpoint: endpoint.url }, prometheus: { port: 1 } },
      exporterOptions(true),
    );
    const protoExporters = createExporters(
      { otlp: { endpoint: otlpProto.url, protocol: 'http/protobuf', metricsIntervalMs: 3_600_000 } },
      exporterOptions(false),
    );
    const server = await startControlServer({
      token: CONTROL_TOKEN,
      handlers: {
        control: () => Promise.reject(new Error('unused')),
        execute: (req, hooks) => mw.execute(req, executor, { signal: hooks.signal }),
        telemetry: (level) => mw.telemetry.query(level),
      },
    });
    const answers: string[] = [];
    try {
      const types = ['AUTH', 'THROWN', 'URL', 'SHAPES', 'ENV', 'ECHO_TOKEN', 'DATA', 'OK'];
      for (let round = 0; round < 3; round++) {
        for (const commandType of types) {
          const direct = await mw.execute({ commandType }, executor);
          answers.push(JSON.stringify(direct));
          answers.push(await post(server.port, '/api/commands', { commandType }));
        }
      }
      // A client that sends the token where it does not belong: the refusal quotes it, redacted.
      answers.push(await post(server.port, '/api/commands', { commandType: 'OK', [CONTROL_TOKEN]: 1 }));
      answers.push(await post(server.port, `/api/commands?wait=${CONTROL_TOKEN}`, { commandType: 'OK' }));
      for (const detail of ['SUMMARY', 'DETAILED', 'REALTIME']) {
        answers.push(await get(server.port, `/api/telemetry?detail=${detail}`, { authorization: `Bearer ${CONTROL_TOKEN}` }));
      }
      await mw.flush();
      await jsonExporters.flush();
      await protoExporters.flush();
      const prometheusPort = await jsonExporters.prometheusPort();
      assert.ok(prometheusPort);
      const prometheusText = await get(prometheusPort, '/metrics', { host: `127.0.0.1:${prometheusPort}` });

      const written = files(dir);
      assert.ok(
        written.some((f) => f.endsWith('.jsonl')),
        `event files written: ${written.join(', ')}`,
      );
      const places: Array<[string, string]> = [
        ...written.map((f): [string, string] => [f, readFileSync(f).toString('latin1')]),
        ...otlpJson.requests.map((r, i): [string, string] => [`OTLP/JSON request ${i} (${r.path})`, r.body.toString('utf8')]),
        ...otlpProto.requests.map((r, i): [string, string] => [`OTLP/protobuf request ${i} (${r.path})`, r.body.toString('latin1')]),
        ['Prometheus /metrics', prometheusText],
        ...[...endpoint.batches.values()].map((b, i): [string, string] => [`JSON endpoint batch ${i}`, JSON.stringify(b)]),
        ...answers.map((a, i): [string, string] => [`control endpoint answer ${i}`, a]),
      ];
      // The test can fail: the failures were recorded, exported and answered, with the marker in place.
      const onDisk = written.map((f) => readFileSync(f, 'utf8')).join('\n');
      assert.equal((onDisk.match(/"eventType":"ERROR"/g) ?? []).length, 7 * 3 * 2, 'every failure recorded on disk');
      assert.ok(onDisk.includes('[REDACTED]'));
      assert.ok(
        otlpJson.requests.some((r) => r.body.toString('utf8').includes('[REDACTED]')),
        'OTLP logs carry the redacted messages',
      );
      assert.ok(
        [...endpoint.batches.values()].some((b) => JSON.stringify(b).includes('[REDACTED]')),
        'the JSON endpoint got them',
      );
      assert.ok(answers.some((a) => a.includes('[REDACTED]')));
      assert.ok(places.length > 10);

      const found: string[] = [];
      for (const [where, text] of places) {
        for (const [kind, value] of Object.entries(PLANTED)) if (text.includes(value)) found.push(`${kind} in ${where}`);
      }
      assert.deepEqual(found, []);
      record({
        property: 'planted secrets found nowhere',
        tried: `${Object.keys(PLANTED).length} kinds planted, ${places.length} places searched (files, OTLP JSON and protobuf, Prometheus, JSON endpoint, control answers)`,
        held: '0 found',
      });
    } finally {
      await server.close(0);
      await jsonExporters.shutdown();
      await protoExporters.shutdown();
      await mw.close();
      await Promise.all([close(otlpJson.server), close(otlpProto.server), close(endpoint.server)]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
