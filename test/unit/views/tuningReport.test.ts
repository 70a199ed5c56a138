// The tuning report in words, from a real recording (the pipeline on simulated time, a service of capacity 4)
// replayed by the real tuner: the table holds the current row and the recommended one, marked; the
// recommendation's aios.* keys are the ones the settings take.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CONFIG } from '../../../src/core/config';
import { tunableSettings, tune, workloadFromEvents } from '../../../src/core/learning';
import {
  CURRENT_MARK,
  MIN_TUNING_COMMANDS,
  RECOMMENDED_MARK,
  formatMs,
  limitLabel,
  settingChanges,
  tooLittleTelemetry,
  tuningMarkdown,
  tuningPeriod,
} from '../../../src/views/tuningReport';
import { offered, record } from '../core/learning/harness';

/** The table's body rows, split into trimmed cells. */
function tableRows(markdown: string): string[][] {
  const lines = markdown.split('\n').filter((l) => l.startsWith('|'));
  return lines.slice(2).map((l) =>
    l
      .slice(1, -1)
      .split('|')
      .map((c) => c.trim()),
  );
}

describe('tuningReport', () => {
  it('the current row, the recommended row marked, the objective and what to change, aligned as plain text', async () => {
    // Recorded at limit 16 with a 100 ms backoff against a service doing 4 at a time: fewer at once is better.
    const config = { ...DEFAULT_CONFIG, maxConcurrency: 16, baseDelayMs: 100 };
    const { events } = await record(offered(3, 1500, 28, 100, 0.2), 4, { config: { maxConcurrency: 16, baseDelayMs: 100 } });
    const workload = await workloadFromEvents(events);
    assert.equal(tooLittleTelemetry(workload, 'the last hour'), undefined);
    const result = await tune(workload, { current: tunableSettings(config) });
    assert.equal(result.recommended.current, false, 'the recording leaves something to gain');
    const md = tuningMarkdown(result, { periodLabel: 'the last hour', workload });

    assert.match(md, /^# AIOS: Tune Throttling from Telemetry$/m);
    assert.ok(md.includes(`**Objective:** ${result.objective}`), 'the objective is stated');
    const rows = tableRows(md);
    assert.equal(rows.length, result.rows.length, 'one table row per replayed setting');
    const current = rows.filter((r) => r[0].split(', ').includes(CURRENT_MARK));
    const recommended = rows.filter((r) => r[0].split(', ').includes(RECOMMENDED_MARK));
    assert.equal(current.length, 1);
    assert.equal(current[0][1], limitLabel(result.current.settings));
    assert.equal(current[0][2], '100 ms', 'the backoff varies in the grid: a column of its own');
    assert.equal(recommended.length, 1);
    assert.equal(recommended[0][1], limitLabel(result.recommended.settings));
    assert.equal(recommended[0][6], formatMs(result.recommended.p99LatencyMs), 'its p99 latency column');
    // The recommendation names each setting it changes, old → new, as aios.* keys.
    const changes = settingChanges(result.recommended.changes);
    assert.ok(Object.keys(changes).length > 0);
    for (const [k, v] of Object.entries(changes)) assert.match(md, new RegExp(`aios\\.${k.replace('.', '\\.')} \\S+ → ${String(v)}`));
    // Aligned: every line of the table is as long as the header's.
    const lines = md.split('\n').filter((l) => l.startsWith('|'));
    assert.equal(new Set(lines.map((l) => l.length)).size, 1, 'the columns are padded');
    assert.ok(md.includes('In every row: aios.cpuThreshold 85 %, aios.maxQueueSize 1000.'), 'what the grid does not vary is said once');
    assert.match(md, /grew past \d+(\.\d+)? commands at once/, 'the knee the replay used');
  });

  it('the current settings recommended: says nothing is to change', async () => {
    const config = { ...DEFAULT_CONFIG, maxConcurrency: 1, baseDelayMs: 0 };
    // One command at a time, never two arriving together: no setting does better.
    const load = Array.from({ length: 40 }, (_, i) => ({ atMs: i * 1000, commandType: 'SOLO', priority: 'NORMAL' as const, workMs: 50 }));
    const { events } = await record(load, 4, { config: { maxConcurrency: 1, baseDelayMs: 0 } });
    const workload = await workloadFromEvents(events);
    const result = await tune(workload, { current: tunableSettings(config) });
    assert.equal(result.recommended, result.current);
    const md = tuningMarkdown(result, { periodLabel: 'everything on disk', workload });
    assert.match(md, /\*\*Recommended: the current settings\*\* \(fixed 1, [^)]*\): nothing to change\./);
    const [row] = tableRows(md).filter((r) => r[0].includes(CURRENT_MARK));
    assert.equal(row[0], `${CURRENT_MARK}, ${RECOMMENDED_MARK}`);
    assert.match(md, /did not grow with the number running \(seen up to 1\)/);
  });

  it('too little telemetry: one line saying how many ran and how many are needed', async () => {
    const load = Array.from({ length: MIN_TUNING_COMMANDS - 1 }, (_, i) => ({ atMs: i * 10, commandType: 'FEW', priority: 'NORMAL' as const, workMs: 5 }));
    const workload = await workloadFromEvents((await record(load, 4)).events);
    assert.equal(
      tooLittleTelemetry(workload, 'the last hour'),
      `Too little telemetry to tune from: ${MIN_TUNING_COMMANDS - 1} commands ran in the last hour, at least ${MIN_TUNING_COMMANDS} are needed.`,
    );
    assert.equal(
      tooLittleTelemetry({ commands: [] }, 'the last 7 days'),
      `Too little telemetry to tune from: 0 commands ran in the last 7 days, at least ${MIN_TUNING_COMMANDS} are needed.`,
    );
  });

  it('the changes as setting keys: nested ones dotted; a bad period named', () => {
    assert.deepEqual(settingChanges({ maxConcurrency: 4, throttle: { mode: 'adaptive' } }), { maxConcurrency: 4, 'throttle.mode': 'adaptive' });
    assert.deepEqual(settingChanges({}), {});
    assert.deepEqual(tuningPeriod('day'), { id: 'day', label: 'the last 24 hours', ms: 86_400_000 });
    assert.throws(() => tuningPeriod('month'), /period must be one of "hour", "day", "week", "all"; got "month"/);
  });

  it('durations in words', () => {
    assert.equal(formatMs(0), '0 ms');
    assert.equal(formatMs(0.84), '0.8 ms');
    assert.equal(formatMs(340.4), '340 ms');
    assert.equal(formatMs(4321), '4.32 s');
    assert.equal(formatMs(12_345), '12.3 s');
    assert.equal(formatMs(754_000), '12.6 min');
    assert.equal(formatMs(NaN), '–');
  });
});
