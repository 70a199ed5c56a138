// Drives the real Python service through vscode-jsonrpc with the typed constants of src/python/protocol.ts,
// and the transport the extension's language client uses: if a name or shape drifts between TypeScript and Python,
// this fails. Waits are event-driven (no timing assertions); each step has a generous failsafe timeout.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc';
import { createMessageConnection, type MessageConnection } from 'vscode-jsonrpc/node';
import { serviceEnvironment } from '../../../src/python/environment';
import { serviceTransports } from '../../../src/python/transport';
import {
  AdjustThrottlingNotification,
  CommandsRequest,
  CONTROL_OPERATIONS,
  ControlRequest,
  ErrorCodes,
  ExecuteRequest,
  HealthRequest,
  LOG_MESSAGE_TYPES,
  serviceErrorName,
  SetConcurrencyRequest,
  StateChangedNotification,
  type AdjustThrottlingParams,
  type ConfigInvalidData,
  type ControlOperation,
  type ControlParams,
  type ControlResult,
  type HandlersInvalidData,
  type HealthResult,
  type InferenceResult,
  type InitializationOptions,
  type InitializeResult,
  type ModelsFlushed,
  type StateChangedParams,
} from '../../../src/python/protocol';

/** The repository root: the nearest folder up from here with package.json and python/aios_service. */
function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'python', 'aios_service'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`No repository root (package.json + python/) above ${__dirname}`);
    dir = parent;
  }
}

/** AIOS_PYTHON, else python3, else python (Windows: py -3 first), resolved once to the real executable so
 *  every spawn skips launcher shims. */
function findPython(): string {
  const candidates: string[][] = process.env.AIOS_PYTHON
    ? [[process.env.AIOS_PYTHON]]
    : process.platform === 'win32' ? [['py', '-3'], ['python'], ['python3']] : [['python3'], ['python']];
  for (const [cmd, ...args] of candidates) {
    const r = spawnSync(cmd, [...args, '-c', 'import sys; assert sys.version_info >= (3, 9); print(sys.executable)'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  throw new Error('No Python 3.9+ found: install Python 3 or set AIOS_PYTHON.');
}

const FAILSAFE_MS = 30_000;

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${FAILSAFE_MS} ms`)), FAILSAFE_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function rejection(promise: Promise<unknown>): Promise<ResponseError<unknown>> {
  try {
    await within(promise, 'reply');
  } catch (err) {
    assert.ok(err instanceof ResponseError, `expected a ResponseError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error reply');
}

interface LogMessage {
  type: number;
  message: string;
}

/** `python -m aios_service` on the extension's transport, initialized with `options`. */
async function startService(options: InitializationOptions, onNotify: () => void) {
  const pythonDir = join(repoRoot(), 'python');
  const proc = spawn(findPython(), ['-m', 'aios_service', '--stdio'], {
    cwd: pythonDir,
    env: serviceEnvironment(process.env, pythonDir),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const service = { proc, stderr: '', logs: [] as LogMessage[], stateChanges: [] as StateChangedParams[], throttles: [] as AdjustThrottlingParams[] };
  proc.stderr.on('data', (d: Buffer) => {
    service.stderr += d.toString('utf8');
  });
  // The extension's transport (one write per message), as the supervisor gives it to the language client.
  const { reader, writer } = serviceTransports(proc.stdout, proc.stdin);
  const conn = createMessageConnection(reader, writer);
  conn.onNotification(StateChangedNotification, (p) => {
    service.stateChanges.push(p);
    onNotify();
  });
  conn.onNotification(AdjustThrottlingNotification, (p) => {
    service.throttles.push(p);
    onNotify();
  });
  conn.onNotification('window/logMessage', (p: LogMessage) => {
    service.logs.push(p);
    onNotify();
  });
  conn.listen();
  const init = await within(
    conn.sendRequest<InitializeResult>('initialize', { processId: process.pid, capabilities: {}, initializationOptions: options }),
    'initialize reply',
  );
  assert.deepEqual(init.serverInfo.name, 'aios-service');
  assert.deepEqual(init.capabilities, {});
  await conn.sendNotification('initialized', {});
  return { ...service, conn };
}

describe('Python service protocol (vscode-jsonrpc ⇄ python -m aios_service)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'aios-protocol-'));
  const configFile = join(tmp, 'config.json');
  let proc: ChildProcessWithoutNullStreams;
  let conn: MessageConnection;
  let service: Awaited<ReturnType<typeof startService>>;
  let stateChanges: StateChangedParams[];
  let throttles: AdjustThrottlingParams[];
  let logs: LogMessage[];
  const waiters: Array<() => void> = [];
  const wake = () => waiters.splice(0).forEach((w) => w());

  /** Resolves with the first item of `list` matching `pred` (already received or still to come). */
  function waitFor<T>(list: T[], pred: (t: T) => boolean, what: string): Promise<T> {
    return within(new Promise<T>((resolve) => {
      const check = () => {
        const found = list.find(pred);
        if (found) resolve(found);
        else waiters.push(check);
      };
      check();
    }), what);
  }

  let controlSeq = 0;
  function control<Op extends ControlOperation>(operation: Op, value?: string, parameters?: ControlParams<Op>['parameters']): Promise<ControlResult<Op>> {
    const params: ControlParams<Op> = {
      operation,
      timestamp: new Date().toISOString(),
      source: 'protocol-test',
      commandId: `ctl-${++controlSeq}`,
      ...(value !== undefined ? { value } : {}),
      ...(parameters !== undefined ? { parameters } : {}),
    };
    return within(conn.sendRequest(ControlRequest, params) as Promise<ControlResult<Op>>, `${operation} reply`);
  }

  const health = () => within(conn.sendRequest(HealthRequest, undefined), 'health');

  before(async () => {
    writeFileSync(configFile, JSON.stringify({ logLevel: 'INFO', inference: { maxTokens: 12 } }, null, 2));
    service = await startService({ configFile, workspaceFolder: tmp, handlersModule: null }, wake);
    ({ proc, conn, stateChanges, throttles, logs } = service);
  });

  after(async () => {
    if (proc.exitCode === null) proc.kill();
    conn?.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('answers health and lists its commands', async () => {
    const h: HealthResult = await health();
    assert.equal(h.status, 'healthy');
    assert.equal(h.pid, proc.pid);
    assert.equal(h.configFile, configFile);
    assert.equal(h.config.inference.maxTokens, 12);
    assert.equal(h.configError, null);
    assert.equal(h.handlers.errorLocation, null);
    assert.deepEqual(h.workers, { max: 4, busy: 0, queued: 0 });
    assert.equal((await waitFor(logs, (m) => m.message.includes('ready'), 'ready log message')).type, LOG_MESSAGE_TYPES.INFO);
    const commands = await within(conn.sendRequest(CommandsRequest, undefined), 'commands');
    assert.deepEqual(commands.controlOperations, [...CONTROL_OPERATIONS]);
    for (const name of ['AI_INFERENCE', 'ECHO', 'SLEEP']) {
      const info = commands.commandTypes.find((c) => c.name === name);
      assert.ok(info && info.source === 'builtin' && info.description.length > 0, name);
      assert.ok(Object.keys(info.parameters).length > 0 && Object.values(info.parameters).every((hint) => typeof hint === 'string'), name);
      assert.ok(Object.keys(info.example).every((key) => key in info.parameters), name);
    }
    assert.deepEqual(
      commands.controlCommands.map((c) => [c.name, c.replay, c.example]),
      [
        ['adjust_throttling', false, { new_max_concurrency: 2, new_base_delay: 200, new_max_delay: 4000, reason: 'model server overloaded' }],
        ['reduce_complexity', true, { factor: 0.5 }],
      ],
    );
    const echo = commands.commandTypes.find((c) => c.name === 'ECHO');
    const echoed = await within(conn.sendRequest(ExecuteRequest, { commandId: 'ex', commandType: 'ECHO', priority: 'NORMAL', parameters: echo?.example ?? {} }), 'ECHO');
    assert.deepEqual(echoed.result, { message: 'hello' });
  });

  it('executes ECHO and AI_INFERENCE (second call from the result cache)', async () => {
    const echo = await within(conn.sendRequest(ExecuteRequest, { commandId: 'e1', commandType: 'ECHO', priority: 'NORMAL', parameters: { hello: 'wörld', n: [1, 2] } }), 'ECHO');
    assert.equal(echo.success, true);
    assert.deepEqual(echo.result, { hello: 'wörld', n: [1, 2] });
    assert.equal(typeof echo.durationMs, 'number');

    const params = { commandId: 'i1', commandType: 'AI_INFERENCE', priority: 'HIGH' as const, parameters: { prompt: 'The keeper', maxTokens: 10, seed: 7 } };
    const first = (await within(conn.sendRequest(ExecuteRequest, params), 'inference')).result as InferenceResult;
    assert.equal(first.tokens, 10);
    assert.equal(first.cached, false);
    assert.ok(first.text.length > 0);
    const second = (await within(conn.sendRequest(ExecuteRequest, { ...params, commandId: 'i2' }), 'inference')).result as InferenceResult;
    assert.equal(second.cached, true);
    assert.equal(second.text, first.text);
    const h = await health();
    assert.equal(h.cache.result_cache.hits, 1);
    assert.equal(h.cache.model_cache.entries, 1);
    assert.equal(h.bcm.AI_INFERENCE?.calls, 2);
  });

  it('runs every control operation with its effect in the reply and in aios/health', async () => {

    const level = await control('UPDATE_LOG_LEVEL', 'DEBUG', { persistent: true });
    assert.equal(level.state.logLevel, 'DEBUG');
    assert.equal(JSON.parse(readFileSync(configFile, 'utf8')).logLevel, 'DEBUG');
    assert.equal((await health()).logLevel, 'DEBUG');
    // A repeated sync to the same level is logged at DEBUG: it must arrive as MessageType.Debug (5), which the
    // language client logs at debug level (4 would land at info).
    await control('UPDATE_LOG_LEVEL', 'DEBUG');
    const debug = await waitFor(logs, (m) => m.message.includes('set to DEBUG') && m.type !== LOG_MESSAGE_TYPES.INFO, 'a DEBUG record');
    assert.equal(debug.type, 5);

    const flush = await control('FLUSH_CACHE', undefined, { cache_type: 'model_cache' });
    assert.deepEqual(flush.detail?.flushed, { model_cache: 1 });
    // The handlers' ctx.models are flushed with model_cache, and said where they were (none here: no handlers use them).
    assert.deepEqual(flush.detail?.models, { service: 0, workers: 0, workerProcesses: 0, unanswered: 0 } satisfies ModelsFlushed);
    assert.deepEqual(flush.state.cache.models, { entries: 0, hits: 0, loads: 0 });
    assert.equal(flush.state.inference.modelLoaded, false);

    writeFileSync(configFile, JSON.stringify({ workers: 3, inference: { maxTokens: 20 } }));
    const reload = await control('RELOAD_CONFIG');
    assert.equal(reload.state.config.workers, 3);
    assert.equal(reload.state.workers.max, 3);
    writeFileSync(configFile, '{\n  "workers": 2,\n  { not json');
    const bad = await rejection(control('RELOAD_CONFIG'));
    assert.equal(bad.code, ErrorCodes.ConfigInvalid);
    assert.equal(serviceErrorName(bad.code), 'config_invalid');
    assert.match(bad.message, /not valid JSON at line 3, column 3.*current config stays/);
    assert.deepEqual(bad.data, { configFile, line: 3, column: 3 } satisfies ConfigInvalidData);
    writeFileSync(configFile, '{\n  "workers": 2,\n  "inference": {\n    "order": 9\n  }\n}');
    const badValue = await rejection(control('RELOAD_CONFIG'));
    assert.deepEqual(badValue.data, { configFile, line: 4, column: 5 } satisfies ConfigInvalidData);
    assert.match(badValue.message, /line 4, column 5: inference\.order must be an integer from 1 to 6/);
    const unchanged = await health();
    assert.equal(unchanged.config.workers, 3);
    assert.deepEqual(unchanged.configError, { configFile, line: 4, column: 5, message: badValue.message.replace('; the current config stays', '') });

    const override = await control('HEALTH_OVERRIDE', 'unhealthy', { duration: 3600 });
    assert.equal(override.state.status, 'unhealthy');
    assert.equal(override.state.overridden, true);
    assert.ok(override.state.overrideExpiresAt);
    assert.equal((await control('HEALTH_OVERRIDE', 'clear')).state.status, 'healthy');
    await control('HEALTH_OVERRIDE', 'unhealthy', { duration: 0.2 });
    const expired = await waitFor(stateChanges, (c) => c.reason === 'HEALTH_OVERRIDE_EXPIRED', 'stateChanged HEALTH_OVERRIDE_EXPIRED');
    assert.equal(expired.state.status, 'healthy');
    // Replies carry the state they produced: the expiry is the only change announced on its own.
    assert.deepEqual(stateChanges.map((c) => c.reason), ['HEALTH_OVERRIDE_EXPIRED']);

    const reset = await control('BCM_RESET');
    assert.equal(reset.detail?.previous.ECHO?.calls, 2); // ECHO with its example, then ECHO with parameters
    assert.deepEqual(reset.state.bcm, {});

    const reduce = await control('CUSTOM_COMMAND', undefined, { command: 'reduce_complexity', arguments: { factor: 0.5 } });
    assert.equal(reduce.state.inference.complexityFactor, 0.5);
    assert.equal(reduce.state.inference.effectiveMaxTokens, 10);
    assert.equal((await health()).inference.complexityFactor, 0.5);

    const throttle = await control('CUSTOM_COMMAND', undefined, {
      command: 'adjust_throttling',
      arguments: { new_max_concurrency: 2, new_base_delay: 100, new_max_delay: 2000 },
    });
    const sent = await waitFor(throttles, () => true, 'aios/adjustThrottling');
    assert.deepEqual({ ...sent, commandId: undefined }, { maxConcurrency: 2, baseDelayMs: 100, maxDelayMs: 2000, reason: 'adjust_throttling', commandId: undefined });
    assert.equal(throttle.state.throttling?.maxConcurrency, 2);
  });

  it('cancels a running SLEEP with RequestCancelled while health still answers', async () => {
    const cts = new CancellationTokenSource();
    const sleeping = conn.sendRequest(ExecuteRequest, { commandId: 's1', commandType: 'SLEEP', priority: 'LOW', parameters: { seconds: 600 } }, cts.token);
    for (let busy = 0; busy === 0;) busy = (await health()).workers.busy; // ordering, not timing
    cts.cancel();
    const err = await rejection(sleeping);
    assert.equal(err.code, ErrorCodes.RequestCancelled);
  });

  it('answers bad input with stable error codes and keeps serving', async () => {
    const unknown = await rejection(conn.sendRequest(ExecuteRequest, { commandId: 'x', commandType: 'NO_SUCH_TYPE', priority: 'NORMAL', parameters: {} }));
    assert.equal(unknown.code, ErrorCodes.UnknownCommandType);
    assert.match(unknown.message, /Available: AI_INFERENCE, ECHO, SLEEP/);
    const wrong = await rejection(conn.sendRequest('aios/execute', { commandType: 42 }));
    assert.equal(wrong.code, ErrorCodes.InvalidParams);
    const noMethod = await rejection(conn.sendRequest('aios/launch', {}));
    assert.equal(noMethod.code, ErrorCodes.MethodNotFound);
    const badOp = await rejection(conn.sendRequest('aios/control', { operation: 'SELF_DESTRUCT', timestamp: '', source: 't', commandId: 'c' }));
    assert.equal(badOp.code, ErrorCodes.UnknownOperation);
    const badSleep = await rejection(conn.sendRequest(ExecuteRequest, { commandId: 'z', commandType: 'SLEEP', priority: 'NORMAL', parameters: { seconds: 'long' } }));
    assert.equal(badSleep.code, ErrorCodes.InvalidParams);
    assert.equal((await health()).status, 'healthy');
  });

  it('shuts down cleanly: exit code 0 after shutdown + exit', async () => {
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    assert.equal(await within(conn.sendRequest('shutdown'), 'shutdown'), null);
    await conn.sendNotification('exit');
    assert.equal(await within(exited, 'process exit'), 0, service.stderr);
  });
});

describe('Python service: one scheduler with the extension, and honest handler reloads', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'aios-protocol-'));
  const configFile = join(tmp, 'config.json');
  const handlersModule = join(tmp, 'handlers.py');
  let service: Awaited<ReturnType<typeof startService>>;
  const health = () => within(service.conn.sendRequest(HealthRequest, undefined), 'health');
  const reload = () =>
    within(
      service.conn.sendRequest(ControlRequest, { operation: 'RELOAD_CONFIG', timestamp: new Date().toISOString(), source: 'protocol-test', commandId: 'reload' }),
      'RELOAD_CONFIG reply',
    );
  /** Polls aios/health until `pred` holds: an ordering wait, not a timing assertion. */
  async function healthUntil(pred: (h: HealthResult) => boolean, what: string): Promise<HealthResult> {
    return within(
      (async () => {
        for (;;) {
          const h = await health();
          if (pred(h)) return h;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      })(),
      what,
    );
  }

  before(async () => {
    writeFileSync(configFile, JSON.stringify({ workers: 2 }));
    writeFileSync(handlersModule, 'from aios_service import command\n\n\n@command("HELLO")\ndef hello(params:\n    return "hi"\n');
    service = await startService({ configFile, handlersModule, workspaceFolder: tmp, maxConcurrency: 8 }, () => undefined);
  });

  after(() => {
    if (service.proc.exitCode === null) service.proc.kill();
    service.conn.dispose();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs eight SLEEPs at once with maxConcurrency 8 and workers 2', async () => {
    const h = await health();
    assert.equal(h.config.workers, 2);
    assert.equal(h.workers.max, 8);
    const cts = new CancellationTokenSource();
    const sleeps = Array.from({ length: 8 }, (_, i) =>
      service.conn.sendRequest(ExecuteRequest, { commandId: `s${i}`, commandType: 'SLEEP', priority: 'NORMAL', parameters: { seconds: 600 } }, cts.token),
    );
    const busy = await healthUntil((x) => x.workers.busy === 8, 'eight busy workers');
    assert.deepEqual(busy.workers, { max: 8, busy: 8, queued: 0 });
    // Shrinking lets running work finish: all eight still run; the pool is back to the config's 2 after them.
    const shrunk = await within(service.conn.sendRequest(SetConcurrencyRequest, { maxConcurrency: 1 }), 'setConcurrency');
    assert.deepEqual(shrunk.workers, { max: 2, busy: 8, queued: 0 });
    cts.cancel();
    const cancelled = await Promise.all(sleeps.map((sleep) => rejection(sleep)));
    assert.deepEqual(
      cancelled.map((e) => e.code),
      sleeps.map(() => ErrorCodes.RequestCancelled),
    );
    const grown = await within(service.conn.sendRequest(SetConcurrencyRequest, { maxConcurrency: 12 }), 'setConcurrency');
    assert.equal(grown.workers.max, 12);
    assert.equal((await health()).workers.max, 12);
    const refused = await rejection(service.conn.sendRequest(SetConcurrencyRequest, { maxConcurrency: 0 }));
    assert.equal(refused.code, ErrorCodes.InvalidParams);
    assert.match(refused.message, /maxConcurrency' must be an integer from 1 to 256/);
  });

  it('locates a broken handlers module at start-up, and a failed reload keeps the previous handlers', async () => {
    const start = await health();
    assert.equal(start.handlers.loaded, false);
    assert.match(start.handlers.error ?? '', /SyntaxError: .*\(handlers\.py, line 5, column \d+\)/);
    assert.equal(start.handlers.errorLocation?.file, handlersModule);
    assert.equal(start.handlers.errorLocation?.line, 5);

    writeFileSync(handlersModule, 'from aios_service import command\n\n\n@command("HELLO", parameters={"name": "string: who"}, example={"name": "Ada"})\ndef hello(params):\n    return "hi " + params["name"]\n');
    const fixed = await reload();
    assert.equal(fixed.state.handlers.error, null);
    assert.equal(fixed.state.handlers.errorLocation, null);
    const commands = await within(service.conn.sendRequest(CommandsRequest, undefined), 'commands');
    const hello = commands.commandTypes.find((c) => c.name === 'HELLO');
    assert.deepEqual(hello, { name: 'HELLO', description: 'HELLO', source: 'workspace', parameters: { name: 'string: who' }, example: { name: 'Ada' } });

    writeFileSync(configFile, JSON.stringify({ workers: 3 }));
    writeFileSync(handlersModule, 'import json\n\nraise RuntimeError("no model server configured")\n');
    const err = await rejection(reload());
    assert.equal(err.code, ErrorCodes.HandlersInvalid);
    assert.equal(serviceErrorName(err.code), 'handlers_invalid');
    assert.deepEqual(err.data, {
      handlersModule,
      file: handlersModule,
      line: 3,
      column: null,
      exception: 'RuntimeError',
      previousHandlersKept: true,
      configApplied: true,
    } satisfies HandlersInvalidData);
    assert.match(err.message, /handlers\.py, line 3\).*the previous handlers \(HELLO\) stay in force/);
    const after = await health();
    assert.equal(after.config.workers, 3);
    assert.deepEqual(after.handlers.errorLocation, { file: handlersModule, line: 3, column: null });
    const still = await within(service.conn.sendRequest(ExecuteRequest, { commandId: 'h', commandType: 'HELLO', priority: 'NORMAL', parameters: { name: 'Ada' } }), 'HELLO');
    assert.equal(still.result, 'hi Ada');
  });
});
