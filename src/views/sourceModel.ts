// Pure helpers (no `vscode`, unit-tested in Node) for showing telemetry by source: one wording for a source's
// figures and for the filter wherever they show (the tree, the filter's pick, the report), and which command
// types have run at all.
import { round3, SOURCE_KINDS, type SourceFilter, type SourceKind, type SourceStatsReport, type TypeStatsReport } from '../core';

/** Durations as events record them (to the µs below 10 ms), so a row and its event's JSON say the same. */
export const ms = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(2)} s` : n < 10 ? `${round3(n)} ms` : `${n.toFixed(1)} ms`);
export const pct = (n: number) => `${(n * 100).toFixed(1)}%`;

/**
 * A source's figures in a few words. Terminal commands are the user's programs, only observed: their
 * non-zero exits are said as such, and that they are not in the headline. Control operations are not commands.
 */
export function describeSourceStats(kind: SourceKind, s: SourceStatsReport): string {
  if (kind === 'terminal') return `${s.count} · ${s.successCount} exited 0 · ${s.errorCount} non-zero · not in the totals`;
  if (kind === 'control') return `${s.count} · ${s.errorCount} failed · not commands`;
  return [
    `${s.count}`,
    `${pct(s.successRate)} ok`,
    `p95 ${ms(s.p95)}`,
    // Failed as in the overall figures: refusals are failures that never ran, said in brackets.
    s.errorCount ? `${s.errorCount} failed${s.refusedCount ? ` (${s.refusedCount} refused)` : ''}` : '',
    s.cancelledCount ? `${s.cancelledCount} cancelled` : '',
  ]
    .filter(Boolean)
    .join(' · ');
}

/** "palette, api": the kinds a filter keeps, in SOURCE_KINDS order; undefined for no filter. */
export function describeFilter(filter: SourceFilter): string | undefined {
  return filter ? SOURCE_KINDS.filter((k) => filter.has(k)).join(', ') || 'none' : undefined;
}

/** A type with ended commands, every one refused before it ran (invalid, blocked, queue full, unknown type). */
export function neverRan(s: Pick<TypeStatsReport, 'count' | 'refusedCount'>): boolean {
  return s.count > 0 && s.refusedCount === s.count;
}

/** Command types (not CONTROL:*, not RULE:*) apart: those that ran (or are on their way) and those that never did. */
export function partitionTypes(
  byType: Readonly<Record<string, TypeStatsReport>>,
  isCommandType: (commandType: string) => boolean,
): { ran: [string, TypeStatsReport][]; refused: [string, TypeStatsReport][] } {
  const ran: [string, TypeStatsReport][] = [];
  const refused: [string, TypeStatsReport][] = [];
  for (const entry of Object.entries(byType)) {
    if (!isCommandType(entry[0])) continue;
    (neverRan(entry[1]) ? refused : ran).push(entry);
  }
  return { ran, refused };
}
