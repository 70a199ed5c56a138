import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batchWindow, formatBatchResults, parseJsonLines, runBatch, summarizeBatch } from '../../../../src/core/execution/batch';
import { createMiddleware } from '../../../../src/core/pipeline/pipeline';
import { StaticSampler } from '../../../../src/core/system/sampler';
import type { Executor } from '../../../../src/core/types';

describe('batches', () => {
  it('parses JSON Lines, reporting each bad line with its number', () => {
    const text = [
      '{"commandType":"ECHO","parameters":{"n":1}}',
      '',
      'not json',
      '{"commandType":"ECHO","priority":"URGENT"}',
      '[1,2]',
      '  {"commandType":"LOW_ONE","priority":"LOW","source":"mine"}  ',
      '{"priority":"HIGH"}',
    ].join('\r\n');
    const { items, errors, lines } = parseJsonLines(text, 65536);
    assert.equal(lines, 6);
    assert.deepEqual(
      items.map((i) => i.line),
      [1, 6],
    );
    assert.equal((items[0].request as { source: string }).source, 'batch');
    assert.equal((items[1].request as { source: string }).source, 'batch:mine', "a line's own source is its caller");
    assert.deepEqual(
      errors.map((e) => e.line),
      [3, 4, 5, 7],
    );
    assert.match(errors[0].message, /not valid JSON/);
    assert.match(errors[1].message, /priority must be HIGH, NORMAL or LOW/);
    assert.match(errors[3].message, /commandType/);
  });

  it('at the limit in force a batch is never backed off by itself, follows the limit as it moves, and others run beside it', async () => {
    // The default backoff: a command submitted over the limit would wait 100 ms before it may queue.
    const m = createMiddleware({ sampler: new StaticSampler(), config: { maxConcurrency: 4, baseDelayMs: 100, maxQueueSize: 1000 } });
    let inFlight = 0;
    let maxInFlight = 0;
    const ex: Executor = async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return 1;
    };
    const items = Array.from({ length: 400 }, (_, i) => ({ line: i + 1, request: { commandType: 'WORK', parameters: { i }, source: 'batch' } }));
    const follow = batchWindow(m);
    const throttled = (type: string) => m.telemetry.query('DETAILED').byType[type]?.throttledCount ?? 0;
    let others: Promise<unknown> | undefined;
    let throttledAlone = -1;
    const outcome = await runBatch((r, o) => m.execute(r, ex, o), items, {
      window: follow.window,
      progressIntervalMs: 0,
      onProgress: (p) => {
        // Half-way, the limit moves to 8 and, as the batch fills it, another source sends 3 HIGH commands.
        if (p.done === 200 && !others) {
          throttledAlone = throttled('WORK');
          m.updateConfig({ maxConcurrency: 8 });
          others = Promise.all([0, 1, 2].map(() => m.execute({ commandType: 'OTHER', priority: 'HIGH', parameters: {} }, ex)));
        }
      },
    });
    follow.dispose();
    assert.equal(outcome.succeeded, 400);
    assert.ok(others, 'the other source ran');
    assert.deepEqual(
      ((await others) as { success: boolean }[]).map((r) => r.success),
      [true, true, true],
    );
    assert.equal(throttledAlone, 0, "alone, none of the batch's 200 commands waited a backoff");
    // With others competing, the batch's commands over the limit are the ones backed off, not theirs.
    assert.equal(throttled('OTHER'), 0);
    assert.equal(maxInFlight, 8, 'it filled the raised limit, and never more');
    assert.equal(follow.window(), 8);
    await m.close();
  });

  it('runs every request through the pipeline with their priorities, a window at a time', async () => {
    const m = createMiddleware({ sampler: new StaticSampler(), config: { maxConcurrency: 2, baseDelayMs: 0, maxQueueSize: 10 } });
    const order: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const ex: Executor = async (req) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      order.push(String(req.parameters.id));
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      if (req.commandType === 'FAIL') throw new Error('it failed');
      return req.parameters.id;
    };
    const lines: string[] = [];
    for (let i = 0; i < 60; i++) {
      const priority = i % 3 === 0 ? 'LOW' : i % 3 === 1 ? 'HIGH' : 'NORMAL';
      lines.push(JSON.stringify({ commandType: i === 59 ? 'FAIL' : 'WORK', priority, parameters: { id: `${priority}${i}` } }));
    }
    lines.splice(10, 0, '{oops');
    const parsed = parseJsonLines(lines.join('\n'), 65536);
    const progress: number[] = [];
    const outcome = await runBatch((r, o) => m.execute(r, ex, o), parsed.items, {
      window: 6,
      skipped: parsed.errors,
      progressIntervalMs: 0,
      onProgress: (p) => {
        assert.equal(p.done + p.failed + p.cancelled + p.waiting, p.total);
        progress.push(p.done);
      },
    });
    assert.equal(outcome.total, 61);
    assert.equal(outcome.succeeded, 59);
    assert.equal(outcome.failed, 1);
    assert.equal(outcome.skipped, 1);
    assert.equal(m.telemetry.query('SUMMARY').overall.totalCommands, 60, 'the bad line never reached the pipeline');
    assert.ok(maxInFlight <= 2);
    // HIGH lines are submitted before NORMAL, NORMAL before LOW.
    const firstLow = order.findIndex((id) => id.startsWith('LOW'));
    const lastHigh = order.map((id) => id.startsWith('HIGH')).lastIndexOf(true);
    assert.ok(lastHigh < firstLow, order.join(','));
    assert.deepEqual(
      outcome.results.map((r) => r.line),
      Array.from({ length: 61 }, (_, i) => i + 1),
    );
    const doc = formatBatchResults(outcome)
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(doc.length, 61);
    assert.deepEqual(Object.keys(doc[0]), ['line', 'commandId', 'commandType', 'success', 'durationMs']);
    assert.equal(doc[10].skipped, true);
    assert.equal((doc[10].error as { code: string }).code, 'invalid_request');
    assert.equal((doc[60].error as { message: string }).message, 'it failed');
    assert.ok(progress.length > 2 && progress.at(-1) === 59);
    assert.match(summarizeBatch(outcome), /^61 requests: 59 succeeded, 1 failed, 1 bad line skipped in/);
    await m.close();
  });

  it('while replies stream back it refills in groups, so a group leaves together; a slow command holds nothing', async () => {
    const m = createMiddleware({ sampler: new StaticSampler(), config: { maxConcurrency: 64, baseDelayMs: 0, maxQueueSize: 1000 } });
    // Each reply is its own macrotask, as vscode-jsonrpc hands them over; `turn` counts them.
    let turn = 0;
    const startsByTurn = new Map<number, number>();
    const fast: Executor = () => {
      startsByTurn.set(turn, (startsByTurn.get(turn) ?? 0) + 1);
      return new Promise((resolve) =>
        setImmediate(() => {
          turn++;
          resolve(1);
        }),
      );
    };
    const items = Array.from({ length: 2000 }, (_, i) => ({ line: i + 1, request: { commandType: 'FAST', parameters: { i } } }));
    const outcome = await runBatch((r, o) => m.execute(r, fast, o), items, { window: 64 });
    assert.equal(outcome.succeeded, 2000);
    // One by one, each reply's turn would start one command: ~1,900 turns with a start.
    assert.ok(startsByTurn.size < 250, `commands started in ${startsByTurn.size} turns`);
    assert.ok(Math.max(...startsByTurn.values()) <= 64);

    // The first command runs until the other 99 have finished: refills must not wait for it.
    let fastDone = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    let releaseSlow!: () => void;
    const slowReleased = new Promise<void>((r) => (releaseSlow = r));
    const mixed: Executor = async (req) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (req.parameters.i === 0) await slowReleased;
      else {
        await new Promise((r) => setImmediate(r));
        if (++fastDone === 99) releaseSlow();
      }
      inFlight--;
      return 1;
    };
    const order: number[] = [];
    const second = await runBatch(
      (r, o) =>
        m.execute(r, mixed, o).then((x) => {
          order.push((r as { parameters: { i: number } }).parameters.i);
          return x;
        }),
      items.slice(0, 100),
      { window: 8 },
    );
    assert.equal(second.succeeded, 100);
    assert.equal(order.at(-1), 0, 'the slow command finished last, after the other 99');
    assert.equal(maxInFlight, 8);
    await m.close();
  });

  it('cancel ends what has not finished in CANCEL, recorded, and what finished stays', async () => {
    const m = createMiddleware({ sampler: new StaticSampler(), config: { maxConcurrency: 4, baseDelayMs: 0 } });
    let started = 0;
    const ex: Executor = (_req, ctx) =>
      new Promise((resolve, reject) => {
        started++;
        const t = setTimeout(resolve, 5);
        ctx.onCancel(() => {
          clearTimeout(t);
          reject(new Error('stopped'));
        });
      });
    const items = Array.from({ length: 500 }, (_, i) => ({ line: i + 1, request: { commandType: 'SLOW' } }));
    const ac = new AbortController();
    const run = runBatch((r, o) => m.execute(r, ex, o), items, { signal: ac.signal, window: 16 });
    setTimeout(() => ac.abort(), 40);
    const outcome = await run;
    assert.ok(outcome.succeeded > 0 && outcome.succeeded < 500, String(outcome.succeeded));
    assert.equal(outcome.succeeded + outcome.cancelled, 500);
    assert.ok(started < 500, 'nothing new started after the cancel');
    const s = m.telemetry.query('SUMMARY').overall;
    assert.equal(s.cancelledCommands, outcome.cancelled, 'every cancelled line is recorded');
    assert.equal(s.successfulCommands, outcome.succeeded);
    await m.close();
  });
});

describe('batch results document', () => {
  it("carries each command's result or error code and message; a result over the cap is left out with a note", async () => {
    const m = createMiddleware({ sampler: new StaticSampler(), config: { maxConcurrency: 2, baseDelayMs: 0 } });
    const ex: Executor = (req) => {
      const p = req.parameters as { n?: number; fail?: boolean };
      if (p.fail) return Promise.reject(new Error('no model'));
      return Promise.resolve({ prediction: 'x'.repeat(p.n ?? 1) });
    };
    const parsed = parseJsonLines(
      [
        '{"commandType":"PREDICT","parameters":{"n":3}}',
        '{"commandType":"PREDICT","parameters":{"fail":true}}',
        '{"commandType":"PREDICT","parameters":{"n":5000}}',
      ].join('\n'),
      65536,
    );
    const outcome = await runBatch((r, o) => m.execute(r, ex, o), parsed.items, { keepResults: true });
    const rows = formatBatchResults(outcome, { maxResultBytes: 100, openResult: 'run it alone to see it whole' })
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rows[0].result, { prediction: 'xxx' });
    assert.equal(rows[1].success, false);
    assert.deepEqual(Object.keys(rows[1].error as object), ['code', 'message']);
    assert.match((rows[1].error as { message: string }).message, /no model/);
    assert.equal('result' in rows[1], false);
    assert.equal('result' in rows[2], false);
    assert.equal(rows[2].resultOmitted, '5017 bytes, over the 100 bytes shown here; run it alone to see it whole');
    // The caller keeping omitted results is asked for each, by index and size, and its note is written.
    const asked: [number, number][] = [];
    const kept = formatBatchResults(outcome, { maxResultBytes: 100, openResult: (i, bytes) => (asked.push([i, bytes]), 'open it from its line') });
    assert.deepEqual(asked, [[2, 5017]]);
    assert.match(kept.split('\n')[2], /"resultOmitted":"5017 bytes, over the 100 bytes shown here; open it from its line"/);
    await m.close();
  });
});
