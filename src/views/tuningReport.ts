// "Tune Throttling from Telemetry…" in words: the periods offered, the one line said when there is too little
// to tune from, the settings a recommendation changes (aios.* keys), and the table a person reads (Markdown,
// aligned so it reads as plain text too). No vscode: src/commands/tune.ts shows and applies what this says.
import type { PartialConfig, RecordedWorkload, TunableSettings, TuningResult, TuningRow } from '../core';

export const TUNING_PERIODS = [
  { id: 'hour', label: 'the last hour', ms: 3_600_000 },
  { id: 'day', label: 'the last 24 hours', ms: 86_400_000 },
  { id: 'week', label: 'the last 7 days', ms: 7 * 86_400_000 },
  { id: 'all', label: 'everything on disk' },
] as const;

export type TuningPeriod = (typeof TUNING_PERIODS)[number]['id'];

export function tuningPeriod(id: unknown): (typeof TUNING_PERIODS)[number] {
  const p = TUNING_PERIODS.find((x) => x.id === id);
  if (!p) throw new Error(`period must be one of ${TUNING_PERIODS.map((x) => `"${x.id}"`).join(', ')}; got ${JSON.stringify(id)}`);
  return p;
}

/** Commands that ran (completed or failed in the service) a replay needs at least: fewer say little. */
export const MIN_TUNING_COMMANDS = 20;

/** The one line to show when the period holds too little to tune from; undefined when there is enough. */
export function tooLittleTelemetry(workload: Pick<RecordedWorkload, 'commands'>, periodLabel: string): string | undefined {
  const ran = workload.commands.filter((c) => c.outcome === 'completed' || c.outcome === 'error').length;
  if (ran >= MIN_TUNING_COMMANDS) return undefined;
  return `Too little telemetry to tune from: ${ran} command${ran === 1 ? '' : 's'} ran in ${periodLabel}, at least ${MIN_TUNING_COMMANDS} are needed.`;
}

/** A row's changes as aios.* setting keys below `aios.` (`throttle.mode`), with the values to write. */
export function settingChanges(changes: PartialConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (value: object, prefix: string): void => {
    for (const [k, v] of Object.entries(value)) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) walk(v as object, `${prefix}${k}.`);
      else out[`${prefix}${k}`] = v;
    }
  };
  walk(changes, '');
  return out;
}

/** The value of a setting key (`throttle.mode`) in `settings`. */
function settingValue(settings: TunableSettings, key: string): unknown {
  return key.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), settings);
}

/** "aios.maxConcurrency 16 → 4, aios.baseDelayMs 100 → 0". */
export function describeChanges(row: TuningRow, current: TunableSettings): string {
  return Object.entries(settingChanges(row.changes))
    .map(([k, v]) => `aios.${k} ${String(settingValue(current, k))} → ${String(v)}`)
    .join(', ');
}

/** 0 → "0 ms", 0.8 → "0.8 ms", 340 → "340 ms", 12_345 → "12.3 s", 754_000 → "12.6 min". */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  if (ms === 0) return '0 ms';
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

function formatRate(perS: number): string {
  if (!Number.isFinite(perS)) return '–';
  return perS >= 100 ? perS.toFixed(0) : perS >= 10 ? perS.toFixed(1) : perS.toFixed(3);
}

const utc = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;

export interface TuningReportContext {
  /** "the last hour". */
  periodLabel: string;
  workload: Pick<RecordedWorkload, 'fromMs' | 'toMs' | 'abandoned' | 'unfinished' | 'bypassed' | 'maxRunning'>;
}

export const CURRENT_MARK = 'current';
export const RECOMMENDED_MARK = '**recommended**';
export const EXTRAPOLATED_MARK = 'extrapolated';

/** The row's marks: current, recommended, extrapolated. */
function marks(row: TuningRow, result: TuningResult): string {
  return [row.current ? CURRENT_MARK : '', row === result.recommended ? RECOMMENDED_MARK : '', row.extrapolated ? EXTRAPOLATED_MARK : '']
    .filter(Boolean)
    .join(', ');
}

/** The limit in words: "fixed 4", "adaptive 1..64 from 4". */
export function limitLabel(s: TunableSettings): string {
  return s.throttle.mode === 'adaptive'
    ? `adaptive ${s.throttle.minConcurrency}..${s.throttle.maxConcurrency} from ${s.maxConcurrency}`
    : `fixed ${s.maxConcurrency}`;
}

/** The settings besides the limit: a column each when the grid varies it, else said once above the table. */
const AXES = [
  { header: 'Delay', value: (s: TunableSettings) => `${s.baseDelayMs} ms`, setting: 'aios.baseDelayMs' },
  { header: 'CPU', value: (s: TunableSettings) => `${s.cpuThreshold} %`, setting: 'aios.cpuThreshold' },
  { header: 'Queue', value: (s: TunableSettings) => String(s.maxQueueSize), setting: 'aios.maxQueueSize' },
];

/** A Markdown table with its columns padded, so the source reads as a table too. */
function table(header: string[], rows: string[][], right: boolean[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (right[i] ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)];
}

/** The whole report: what was replayed, the objective, the recommendation, then one row per setting. */
export function tuningMarkdown(result: TuningResult, context: TuningReportContext): string {
  const { workload } = context;
  const rec = result.recommended;
  const current = result.current.settings;
  const leftOut = [
    workload.abandoned ? `${workload.abandoned} cancelled while waiting` : '',
    workload.unfinished ? `${workload.unfinished} not ended in the events read` : '',
    workload.bypassed ? `${workload.bypassed} holding no admission slot` : '',
  ].filter(Boolean);
  const knee = result.knee
    ? `The service's time per command grew past ${result.knee.capacity} commands at once (seen up to ${result.knee.maxLevelSeen}); the replay slows commands the same way.`
    : `The service's time per command did not grow with the number running (seen up to ${workload.maxRunning}): recorded times are replayed as they are.`;
  const varying = AXES.filter((a) => new Set(result.rows.map((r) => a.value(r.settings))).size > 1);
  const same = AXES.filter((a) => !varying.includes(a)).map((a) => `${a.setting} ${a.value(current)}`);
  const header = ['', 'Limit', ...varying.map((a) => a.header), 'Goodput /s', 'p50 wait', 'p99 wait', 'p99 latency', 'Service', 'Throttled', 'Refused'];
  const rows = result.rows.map((r) => [
    marks(r, result),
    limitLabel(r.settings),
    ...varying.map((a) => a.value(r.settings)),
    formatRate(r.goodput),
    formatMs(r.p50WaitMs),
    formatMs(r.p99WaitMs),
    formatMs(r.p99LatencyMs),
    formatMs(r.meanServiceMs),
    String(r.throttled),
    String(r.refused),
  ]);
  const recommendation = rec.current
    ? `**Recommended: the current settings** (${rec.label}): nothing to change.`
    : `**Recommended: ${rec.label}**: ${describeChanges(rec, current)}.`;
  return [
    '# AIOS: Tune Throttling from Telemetry',
    '',
    `Replayed ${result.commands.toLocaleString('en-US')} commands of ${result.sessions} window session${result.sessions === 1 ? '' : 's'} ` +
      `from ${context.periodLabel} (${utc(workload.fromMs)} to ${utc(workload.toMs)}) for ${result.rows.length} settings ` +
      `in ${formatMs(result.elapsedMs)}.${leftOut.length ? ` Left out: ${leftOut.join(', ')}.` : ''}`,
    '',
    knee,
    '',
    `**Objective:** ${result.objective}. A row that ran more commands at once than the recording ever did is marked ${EXTRAPOLATED_MARK} ` +
      '(its times past what was recorded are a guess) and recommended only when no other row qualifies.',
    '',
    recommendation,
    '',
    ...(same.length ? [`In every row: ${same.join(', ')}.`, ''] : []),
    ...table(
      header,
      rows,
      header.map((_, i) => i >= 2 + varying.length),
    ),
    '',
    'Goodput: commands completed per second of the period. Wait: submission to start; latency: submission to end; ' +
      'service: the mean time a command held its slot. The replay is as good as the recorded times: read p99 at ' +
      'other settings as an estimate, goodput and refusals with more trust.',
    '',
  ].join('\n');
}
