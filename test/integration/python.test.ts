// The Python service under its supervisor, in the real host: commands through the middleware, every
// control operation with its effect read back from aios/health, cancellation, crash and hang recovery.
import * as assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { AiosApi } from './util';
import { systemClock } from '../../src/core/clock';
import { ControlState, describeReplay, type ControlCall } from '../../src/python/controlState';
import { resolveInterpreter } from '../../src/python/interpreter';
import { ControlRequest, HealthRequest, type ControlParams, type HealthResult } from '../../src/python/protocol';
import { PythonSupervisor, servicePythonDir, type ServiceStart } from '../../src/python/supervisor';
import { hasUi, onScreen, notificationTexts, screenshot, statusBarText } from './ui';
import { aios, healthyService, logCaughtUp, logFromNow, replacedService, waitUntil, withSettings } from './util';

/** What must never reach the AIOS log when the service dies: stack frames, JSON-RPC codes, client noise. */
const NOISE = [
  /-32097|-32096/,
  /Connection is disposed/i,
  /Pending response rejected/i,
  /connection got disposed/i,
  /Connection to server got closed/i,
  /Stopping server (failed|timed out)/i,
  /Server initialization failed/i,
  /connection to server is erroring/i,
  /^\s+at .+:\d+:\d+\)?$/m,
];

/** The AIOS Python-service notifications in the notification center. */
async function serviceNotifications(): Promise<string[]> {
  return (await notificationTexts()).filter((t) => /AIOS: .*Python service|No Python/.test(t));
}

async function health(api: AiosApi): Promise<HealthResult> {
  const h = await api.context.supervisor.checkHealth();
  assert.ok(h, 'the service did not answer aios/health');
  return h;
}

describe('the Python service under the supervisor', function () {
  this.timeout(90_000);
  let api: AiosApi;

  before(async () => {
    api = await aios();
    await healthyService(api);
  });

  it('starts the real service and runs ECHO through the middleware', async () => {
    const pid = await healthyService(api);
    assert.notEqual(pid, process.pid);
    const result = await api.execute({ commandType: 'ECHO', parameters: { hello: 'world', n: 3 } });
    assert.equal(result.success, true, JSON.stringify(result.error));
    assert.deepEqual(result.result, { hello: 'world', n: 3 });
    const h = await health(api);
    assert.equal(h.pid, pid);
    assert.ok(h.bcm.ECHO && h.bcm.ECHO.calls >= 1, 'ECHO is counted in the cost metrics');
  });

  it('runs AI_INFERENCE on the model, loading it once into the model cache', async () => {
    await api.context.control({ operation: 'FLUSH_CACHE', parameters: { cache_type: 'all' } });
    const before = (await health(api)).cache.model_cache;
    const first = await api.execute({ commandType: 'AI_INFERENCE', parameters: { prompt: 'the service', maxTokens: 12, seed: 1 } });
    assert.equal(first.success, true, JSON.stringify(first.error));
    const second = await api.execute({ commandType: 'AI_INFERENCE', parameters: { prompt: 'a command', maxTokens: 12, seed: 2 } });
    assert.equal(second.success, true, JSON.stringify(second.error));
    const after = (await health(api)).cache.model_cache;
    assert.equal(after.misses - before.misses, 1, 'the model is trained once');
    assert.ok(after.hits - before.hits >= 1, 'the second inference hits the model cache');
    assert.equal(after.entries, 1);
  });

  it('runs the workspace handlers module (demo .aios/handlers.py)', async () => {
    const result = await api.execute({ commandType: 'WORD_COUNT', parameters: { text: 'one two two three three three' } });
    assert.equal(result.success, true, JSON.stringify(result.error));
    assert.equal((result.result as { words: number }).words, 6);
    const h = await health(api);
    assert.equal(h.handlers.loaded, true, h.handlers.error ?? '');
    assert.ok(h.commands.includes('SUMMARIZE'));
  });

  it('blocks a denied command type before it reaches Python', async () => {
    const result = await api.execute({ commandType: 'DROP_TABLES', parameters: {} });
    assert.equal(result.success, false);
    assert.equal(result.error?.code, 'blocked');
    const h = await health(api);
    assert.equal(h.bcm.DROP_TABLES, undefined, 'the service never saw it');
    const events = api.telemetry('DETAILED').recentEvents.filter((e) => e.commandType === 'DROP_TABLES');
    assert.deepEqual(
      events.map((e) => e.eventType),
      ['ERROR'],
    );
    assert.equal(events[0].metadata?.code, 'blocked');
  });

  it('UPDATE_LOG_LEVEL changes the level without a restart', async () => {
    const pid = api.context.supervisor.state.pid;
    const r = await api.context.control({ operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG' });
    assert.equal(r.success, true, JSON.stringify(r.error));
    assert.equal((await health(api)).logLevel, 'DEBUG');
    await api.context.control({ operation: 'UPDATE_LOG_LEVEL', value: 'INFO' });
    assert.equal((await health(api)).logLevel, 'INFO');
    assert.equal(api.context.supervisor.state.pid, pid, 'same process');
    const bad = await api.context.control({ operation: 'UPDATE_LOG_LEVEL', value: 'LOUD' });
    assert.equal(bad.success, false);
    assert.match(bad.error?.message ?? '', /LOUD/);
  });

  it('FLUSH_CACHE empties the chosen cache', async () => {
    await api.execute({ commandType: 'AI_INFERENCE', parameters: { prompt: 'cache me', maxTokens: 5, seed: 3 } });
    assert.ok((await health(api)).cache.model_cache.entries >= 1);
    const r = await api.context.control({ operation: 'FLUSH_CACHE', parameters: { cache_type: 'model_cache' } });
    assert.equal(r.success, true, JSON.stringify(r.error));
    assert.equal((await health(api)).cache.model_cache.entries, 0);
  });

  it('RELOAD_CONFIG applies a valid file and keeps the old config on an invalid one', async () => {
    const file = join(process.env.AIOS_TEST_WORKSPACE!, '.aios', 'config.json');
    const original = readFileSync(file, 'utf8');
    try {
      const changed = { ...JSON.parse(original), inference: { ...JSON.parse(original).inference, maxTokens: 17 } };
      writeFileSync(file, JSON.stringify(changed));
      const ok = await api.context.control({ operation: 'RELOAD_CONFIG', parameters: { config_file: file } });
      assert.equal(ok.success, true, JSON.stringify(ok.error));
      assert.equal((await health(api)).config.inference.maxTokens, 17);

      writeFileSync(file, '{ "inference": { "maxTokens": ');
      const broken = await api.context.control({ operation: 'RELOAD_CONFIG', parameters: { config_file: file } });
      assert.equal(broken.success, false);
      assert.match(broken.error?.message ?? '', /JSON|json/);
      assert.equal((await health(api)).config.inference.maxTokens, 17, 'the old config stays');
    } finally {
      writeFileSync(file, original);
      await api.context.control({ operation: 'RELOAD_CONFIG', parameters: { config_file: file } });
    }
  });

  it("the service's stray stderr reaches the AIOS log, a last line without a newline too", async () => {
    const file = join(process.env.AIOS_TEST_WORKSPACE!, '.aios', 'handlers.py');
    const original = readFileSync(file, 'utf8');
    const log = api.context.log;
    const errors: string[] = [];
    const logError = log.error.bind(log);
    log.error = (message: string | Error, ...args: unknown[]) => {
      errors.push(String(message));
      logError(message, ...args);
    };
    const tag = `stderr-${process.pid}-${Date.now()}`;
    try {
      writeFileSync(
        file,
        `${original}

import sys as _sys

@command("STDERR_PROBE")
def _stderr_probe(params):
    _sys.stderr.write("%s whole line\\n%s unterminated" % (params["tag"], params["tag"]))
    _sys.stderr.flush()
    return {}
`,
      );
      const reload = await api.context.control({ operation: 'RELOAD_CONFIG' });
      assert.equal(reload.success, true, JSON.stringify(reload.error));
      await healthyService(api);
      const r = await api.execute({ commandType: 'STDERR_PROBE', parameters: { tag } });
      assert.equal(r.success, true, JSON.stringify(r.error));
      await waitUntil(() => errors.includes(`[python] ${tag} whole line`), 10_000, 'the whole line in the log');
      assert.ok(!errors.some((e) => e.includes(`${tag} unterminated`)), 'an unterminated line waits for its end');
      // Stopping ends the stream: what is left of the line is logged. (A stop, not a kill, so the crash-loop
      // budget of later tests is untouched.)
      await api.context.supervisor.stop();
      await waitUntil(() => errors.includes(`[python] ${tag} unterminated`), 10_000, 'the unterminated line in the log');
      await api.context.supervisor.start();
    } finally {
      log.error = logError;
      writeFileSync(file, original);
      await healthyService(api);
      await api.context.control({ operation: 'RELOAD_CONFIG' });
    }
  });

  it('HEALTH_OVERRIDE marks the service unhealthy, and the status bar says so', async () => {
    const r = await api.context.control({ operation: 'HEALTH_OVERRIDE', value: 'unhealthy' });
    assert.equal(r.success, true, JSON.stringify(r.error));
    const h = await health(api);
    assert.equal(h.status, 'unhealthy');
    assert.equal(h.overridden, true);
    await waitUntil(() => api.context.supervisor.state.status === 'unhealthy', 5000, 'the supervisor to report unhealthy');
    if (onScreen()) {
      const label = await statusBarText('aios.status', /unhealthy/i);
      assert.match(label, /unhealthy/i);
      await screenshot('status-bar-unhealthy');
    }
    await api.context.control({ operation: 'HEALTH_OVERRIDE', value: 'clear' });
    assert.equal((await health(api)).status, 'healthy');
    await waitUntil(() => api.context.supervisor.state.status === 'healthy', 5000, 'healthy again');
  });

  it('BCM_RESET returns the counters as they were and zeroes them', async () => {
    await api.execute({ commandType: 'ECHO', parameters: { x: 1 } });
    const before = (await health(api)).bcm.ECHO;
    assert.ok(before && before.calls >= 1);
    const r = await api.context.control({ operation: 'BCM_RESET' });
    assert.equal(r.success, true, JSON.stringify(r.error));
    const detail = (r.result as { detail: { previous: Record<string, { calls: number }> } }).detail;
    assert.ok(detail.previous.ECHO.calls >= before.calls);
    const after = (await health(api)).bcm.ECHO;
    assert.ok(after === undefined || after.calls === 0, 'counters reset');
  });

  it('CUSTOM_COMMAND adjust_throttling changes the middleware limits live', async () => {
    const previous = api.context.middleware.config.maxConcurrency;
    try {
      const r = await api.context.control({
        operation: 'CUSTOM_COMMAND',
        parameters: { command: 'adjust_throttling', arguments: { new_max_concurrency: 7, new_base_delay: 40 } },
      });
      assert.equal(r.success, true, JSON.stringify(r.error));
      await waitUntil(() => api.context.middleware.config.maxConcurrency === 7, 5000, 'the new limit to apply');
      assert.equal(api.context.middleware.config.baseDelayMs, 40);
      assert.equal(api.context.middleware.admission.limit, 7);
    } finally {
      api.context.middleware.updateConfig({ maxConcurrency: previous, baseDelayMs: 100 });
    }
  });

  it('CUSTOM_COMMAND reduce_complexity shows in health, and an unknown command is a clear error', async () => {
    const r = await api.context.control({ operation: 'CUSTOM_COMMAND', parameters: { command: 'reduce_complexity', arguments: { factor: 0.5 } } });
    assert.equal(r.success, true, JSON.stringify(r.error));
    assert.equal((await health(api)).inference.complexityFactor, 0.5);
    await api.context.control({ operation: 'CUSTOM_COMMAND', parameters: { command: 'reduce_complexity', arguments: { factor: 1 } } });
    const bad = await api.context.control({ operation: 'CUSTOM_COMMAND', parameters: { command: 'no_such_thing' } });
    assert.equal(bad.success, false);
    assert.match(bad.error?.message ?? '', /no_such_thing/);
  });

  it('cancelling a running command reaches Python and ends it in CANCEL', async () => {
    const abort = new AbortController();
    const pending = api.execute({ commandType: 'SLEEP', parameters: { seconds: 30 } }, { signal: abort.signal });
    await waitUntil(async () => ((await health(api)).workers.busy >= 1 ? true : undefined), 10_000, 'SLEEP to run in the service');
    abort.abort();
    const result = await pending;
    assert.equal(result.success, false);
    assert.equal(result.error?.code, 'cancelled');
    await waitUntil(async () => ((await health(api)).workers.busy === 0 ? true : undefined), 10_000, 'the worker to be free again');
  });

  it('a killed service leaves one clear line in the AIOS log and none of the client noise; the command says service_crashed', async () => {
    const pid = await healthyService(api);
    const log = logFromNow(api);
    const starts: ServiceStart[] = [];
    const subscription = api.context.supervisor.onDidStart((s) => starts.push(s));
    try {
      const pending = api.execute({ commandType: 'SLEEP', parameters: { seconds: 30 } });
      await waitUntil(async () => ((await health(api)).workers.busy >= 1 ? true : undefined), 10_000, 'SLEEP to run');
      process.kill(pid, 'SIGKILL');
      const result = await pending;
      assert.equal(result.error?.code, 'service_crashed');
      assert.match(
        result.error?.message ?? '',
        /^The Python service stopped while running SLEEP \(it was ended by SIGKILL\); it is being restarted\. Run the command again\.$/,
      );
      const newPid = await replacedService(api, pid);
      // The new process's own "ready" record comes last; anything the old connection said is in by then.
      await waitUntil(() => (/\[aios_service\] .*ready \(pid \d+/.test(log()) ? true : undefined), 10_000, 'the new process in the log');
      await logCaughtUp(api, log);
      const text = log();
      const lines = log().split('\n');
      const aboutCrash = lines.filter((l) => /SIGKILL|stopped unexpectedly/i.test(l) || l.includes(`pid ${pid})`));
      assert.equal(aboutCrash.length, 1, `one line about the crash, got:\n${text}`);
      assert.match(
        aboutCrash[0],
        new RegExp(
          `\\[warning\\] The Python service stopped unexpectedly: it was ended by SIGKILL \\(pid ${pid}\\); restarting in \\d+ ms \\(restart \\d+ of at most \\d+\\)$`,
        ),
      );
      for (const re of NOISE) assert.doesNotMatch(log(), re, `the AIOS log has noise:\n${log()}`);
      assert.deepEqual(
        starts.map((s) => [s.reason, s.pid]),
        [['crash', newPid]],
      );
      assert.equal(api.context.supervisor.state.downSince, undefined, 'running again: not down');
      const next = await api.execute({ commandType: 'ECHO', parameters: { after: 'crash' } });
      assert.equal(next.success, true, JSON.stringify(next.error));
    } finally {
      subscription.dispose();
    }
  });

  it('onReady re-applies the control state to a new process before a queued request reaches it; a fresh restart forgets it', async () => {
    // A second supervisor, wired to a ControlState as the extension's context is meant to be.
    const log = vscode.window.createOutputChannel('AIOS onReady test', { log: true });
    const controlState = new ControlState({ clock: systemClock, isReplayable: () => false });
    const seen: string[] = [];
    const lines: string[] = [];
    let n = 0;
    const params = (call: ControlCall): ControlParams => ({
      operation: call.operation,
      ...(call.value !== undefined ? { value: call.value } : {}),
      parameters: call.parameters ?? {},
      timestamp: new Date().toISOString(),
      source: call.source ?? 'test',
      commandId: `onready-${++n}`,
    });
    const sup = new PythonSupervisor({
      pythonDir: servicePythonDir(api.context.extension.extensionPath),
      log,
      settings: () => ({ healthIntervalMs: 60_000, healthTimeoutMs: 3000, maxRestarts: 5, restartWindowMs: 180_000 }),
      resolveInterpreter: () => resolveInterpreter(),
      initializationOptions: () => ({}),
      onReady: async (client, start) => {
        if (start.reason === 'fresh') controlState.forget();
        const outcome = await controlState.replay(async (call) => {
          await client.sendRequest(ControlRequest, params(call));
          seen.push(`re-applied ${call.value}`);
        });
        const line = describeReplay(outcome);
        if (line) lines.push(line);
      },
    });
    try {
      const client = await sup.start();
      for (const call of [
        { operation: 'UPDATE_LOG_LEVEL', value: 'DEBUG' },
        { operation: 'UPDATE_LOG_LEVEL', value: 'ERROR', parameters: { target_module: 'aios_test.module' } },
      ] satisfies ControlCall[]) {
        controlState.record(call, await client.sendRequest(ControlRequest, params(call)));
      }
      const pid = sup.state.pid!;
      process.kill(pid, 'SIGKILL');
      await waitUntil(() => (sup.state.status === 'starting' ? true : undefined), 10_000, 'the restart');
      // Queued while the service is down: it must see the level already back.
      const queued = sup.connection().then((c) => {
        seen.push('queued');
        return c.sendRequest(HealthRequest, {});
      });
      const after = await queued;
      assert.notEqual(after.pid, pid);
      assert.equal(after.logLevel, 'DEBUG', 'the level was re-applied before the queued request');
      assert.equal(after.loggers['aios_test.module'], 'ERROR');
      assert.deepEqual(seen, ['re-applied DEBUG', 're-applied ERROR', 'queued'], 'the queued request waited for the whole replay');
      assert.deepEqual(lines, ['Control state for the new Python service: re-applied log level DEBUG, log level of aios_test.module ERROR']);

      await sup.restart({ fresh: true });
      assert.equal((await sup.checkHealth())?.logLevel, 'INFO', 'a fresh restart starts from the config');
      assert.equal(controlState.isEmpty, true);
    } finally {
      await sup.dispose();
      log.dispose();
    }
  });

  it('a hung service (SIGSTOP) is detected by the health ping and restarted, with one clear line in the AIOS log', async function () {
    if (process.platform === 'win32') this.skip(); // no SIGSTOP there
    await withSettings({ 'python.healthIntervalMs': 1000, 'python.healthTimeoutMs': 1500 }, async () => {
      const pid = await healthyService(api);
      const log = logFromNow(api);
      process.kill(pid, 'SIGSTOP');
      const newPid = await replacedService(api, pid, 'the hung service to be replaced');
      assert.notEqual(newPid, pid);
      assert.throws(() => process.kill(pid, 0), 'the hung process was ended');
      await waitUntil(() => (/\[aios_service\] .*ready \(pid \d+/.test(log()) ? true : undefined), 10_000, 'the new process in the log');
      await logCaughtUp(api, log);
      const aboutHang = log()
        .split('\n')
        .filter((l) => /health check|SIGKILL|stopped unexpectedly/i.test(l) || l.includes(`pid ${pid})`));
      assert.equal(aboutHang.length, 1, `one line about the hang, got:\n${log()}`);
      assert.match(
        aboutHang[0],
        new RegExp(
          `\\[warning\\] The Python service did not answer a health check within 1500 ms, so it was ended \\(pid ${pid}\\); restarting in \\d+ ms \\(restart \\d+ of at most \\d+\\)$`,
        ),
      );
      for (const re of NOISE) assert.doesNotMatch(log(), re, `the AIOS log has noise:\n${log()}`);
      const next = await api.execute({ commandType: 'ECHO', parameters: {} });
      assert.equal(next.success, true, JSON.stringify(next.error));
    });
  });

  it('stop() during a restart backoff returns at once, and start() works after it', async () => {
    const pid = await healthyService(api);
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => (api.context.supervisor.state.detail?.startsWith('restarting') ? true : undefined), 10_000, 'the restart backoff');
    await api.context.supervisor.stop();
    assert.equal(api.context.supervisor.state.status, 'stopped');
    await api.context.supervisor.start();
    assert.notEqual(await healthyService(api), pid);
  });

  it('a command cancelled while the service is starting is never sent, and ends in CANCEL', async () => {
    await api.context.supervisor.stop();
    const starting = api.context.supervisor.start();
    const abort = new AbortController();
    const pending = api.execute({ commandType: 'ECHO', parameters: { never: 'sent' } }, { signal: abort.signal });
    abort.abort();
    const result = await pending;
    assert.equal(result.error?.code, 'cancelled');
    await starting;
    await healthyService(api);
    assert.equal((await health(api)).bcm.ECHO?.calls ?? 0, 0, 'the new service never ran it');
  });

  it('a workspace cannot shadow the service with its own aios_service package or a json.py', async () => {
    const ws = process.env.AIOS_TEST_WORKSPACE!;
    const marker = join(ws, 'shadowed.txt');
    mkdirSync(join(ws, 'aios_service'), { recursive: true });
    const evil = `open(${JSON.stringify(marker)}, "w").write("ran")\n`;
    writeFileSync(join(ws, 'aios_service', '__init__.py'), evil);
    writeFileSync(join(ws, 'aios_service', '__main__.py'), evil);
    writeFileSync(join(ws, 'json.py'), evil);
    try {
      await vscode.commands.executeCommand('aios.restartPythonService');
      await healthyService(api);
      const r = await api.execute({ commandType: 'ECHO', parameters: { safe: true } });
      assert.equal(r.success, true, JSON.stringify(r.error));
      assert.equal(existsSync(marker), false, 'workspace code ran in place of the service');
    } finally {
      rmSync(join(ws, 'aios_service'), { recursive: true, force: true });
      rmSync(join(ws, 'json.py'), { force: true });
      rmSync(marker, { force: true });
    }
  });

  it('stop() ends the service process; start() brings a new one', async () => {
    const pid = await healthyService(api);
    await api.context.supervisor.stop();
    assert.equal(api.context.supervisor.state.status, 'stopped');
    assert.throws(() => process.kill(pid, 0), 'the process is gone once stop() resolves');
    await api.context.supervisor.start();
    assert.notEqual(await healthyService(api), pid);
  });

  it('an interpreter that does not exist is a clear, actionable error; fixing the setting brings the service back', async () => {
    if (hasUi) await vscode.commands.executeCommand('notifications.clearAll');
    await withSettings({ 'python.interpreterPath': '/nonexistent/bin/python3' }, async () => {
      const state = await waitUntil(
        () => (api.context.supervisor.state.status === 'crashed' ? api.context.supervisor.state : undefined),
        30_000,
        'the failure',
      );
      assert.match(state.detail ?? '', /No Python 3\.9\+ found/);
      assert.match(state.detail ?? '', /\/nonexistent\/bin\/python3 \(from aios\.python\.interpreterPath\): not found/);
      assert.match(state.detail ?? '', /aios\.python\.interpreterPath/);
      if (onScreen()) {
        await waitUntil(async () => ((await serviceNotifications()).length ? true : undefined), 10_000, 'the notification');
        await new Promise((r) => setTimeout(r, 1000));
        const shown = await serviceNotifications();
        assert.equal(shown.length, 1, `one notification, got: ${JSON.stringify(shown)}`);
        assert.match(shown[0], /No Python 3\.9\+ found/);
      }
    });
    if (hasUi) await vscode.commands.executeCommand('notifications.clearAll');
    await healthyService(api);
    const ok = await api.execute({ commandType: 'ECHO', parameters: {} });
    assert.equal(ok.success, true, JSON.stringify(ok.error));
  });

  it('stops after too many crashes in the window, tells the user once, and "Restart Python Service" recovers', async () => {
    await withSettings({ 'python.maxRestarts': 1 }, async () => {
      await vscode.commands.executeCommand('aios.restartPythonService'); // forget earlier crashes
      if (hasUi) await vscode.commands.executeCommand('notifications.clearAll');
      const log = logFromNow(api);
      for (let i = 0; i < 2; i++) {
        const pid = await healthyService(api);
        process.kill(pid, 'SIGKILL');
        await waitUntil(() => (api.context.supervisor.state.pid !== pid ? true : undefined), 10_000, 'the crash to be seen');
      }
      const state = await waitUntil(
        () => (api.context.supervisor.state.status === 'crashed' ? api.context.supervisor.state : undefined),
        20_000,
        'the crash-loop stop',
      );
      assert.match(state.detail ?? '', /2 times/);
      assert.ok(state.downSince && state.downSince <= Date.now(), 'down since the crash');
      await waitUntil(() => (/not restarted again/.test(log()) ? true : undefined), 10_000, 'the crash-loop line in the log');
      const lines = log()
        .split('\n')
        .filter((l) => /\[(warning|error)\]/.test(l));
      assert.equal(lines.length, 2, `one line per crash:\n${log()}`);
      assert.match(
        lines[0],
        /\[warning\] The Python service stopped unexpectedly: it was ended by SIGKILL \(pid \d+\); restarting in 500 ms \(restart 1 of at most 1\)$/,
      );
      assert.match(
        lines[1],
        /\[error\] The Python service stopped unexpectedly: it was ended by SIGKILL \(pid \d+\); it failed 2 times within 180 s, so it was not restarted again$/,
      );
      for (const re of NOISE) assert.doesNotMatch(log(), re, `the AIOS log has noise:\n${log()}`);
      if (onScreen()) {
        const shown = await waitUntil(
          async () => {
            const n = await serviceNotifications();
            return n.length ? n : undefined;
          },
          10_000,
          'the crash-loop notification',
        );
        await new Promise((r) => setTimeout(r, 1000)); // a second one would have come by now
        const again = await serviceNotifications();
        assert.equal(again.length, 1, `one notification, got: ${JSON.stringify(again)}`);
        assert.match(shown[0], /not restarted again/);
        assert.match(shown[0], /Show Output/);
        assert.match(shown[0], /Restart/);
      }
      const refused = await api.execute({ commandType: 'ECHO', parameters: {} });
      assert.equal(refused.success, false);
      assert.equal(refused.error?.code, 'service_unavailable');
      assert.match(refused.error?.message ?? '', /Restart Python Service/);
      if (onScreen()) {
        assert.match(await statusBarText('aios.status', /down/i), /down/i);
        await screenshot('service-crash-loop');
      }
      await vscode.commands.executeCommand('aios.restartPythonService');
      await healthyService(api);
      const ok = await api.execute({ commandType: 'ECHO', parameters: {} });
      assert.equal(ok.success, true, JSON.stringify(ok.error));
    });
    if (hasUi) await vscode.commands.executeCommand('notifications.clearAll'); // nothing left for later suites
  });
});
