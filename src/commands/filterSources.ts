// "AIOS: Filter Telemetry by Source…": a multi-select pick of the sources seen (and those the filter holds),
// with "All sources"; the tree, the metrics panel and the Show Telemetry report follow it. From code,
// `executeCommand('aios.filterTelemetryBySource', ['palette', 'api'])` sets it at once ([] or 'all': all again).
import * as vscode from 'vscode';
import { isSourceKind, SOURCE_KINDS, SOURCE_LABELS, type SourceKind } from '../core';
import type { AiosContext } from '../context';
import type { TelemetrySourceFilter } from '../views/sourceFilter';
import { describeSourceStats } from '../views/sourceModel';

/** The part of the extension's services this file uses. */
export type FilterHost = Pick<AiosContext, 'middleware'>;

type Item = vscode.QuickPickItem & { source?: SourceKind };

export const ALL_SOURCES_LABEL = 'All sources';

/** Sets the filter (from `args`, or as the user picks); resolves to the kinds now shown ([]: all), undefined when dismissed. */
export async function filterTelemetryBySource(ctx: FilterHost, filter: TelemetrySourceFilter, args?: unknown): Promise<SourceKind[] | undefined> {
  if (args !== undefined) {
    const list: unknown[] = args === 'all' ? [] : Array.isArray(args) ? args : [args];
    const unknown = list.filter((k) => !isSourceKind(k));
    if (unknown.length) {
      throw new TypeError(`Not a telemetry source: ${unknown.map((k) => JSON.stringify(k)).join(', ')}; the sources are ${SOURCE_KINDS.join(', ')}`);
    }
    await filter.set(list as SourceKind[]);
    return shown(filter);
  }
  const bySource = ctx.middleware.telemetry.query('SUMMARY').bySource;
  const current = filter.filter;
  const all: Item = { label: ALL_SOURCES_LABEL, description: 'the headline figures: every command but those typed in a terminal' };
  const items: Item[] = [
    all,
    ...SOURCE_KINDS.filter((k) => bySource[k] !== undefined || current?.has(k)).map((kind): Item => ({
      source: kind,
      label: kind,
      description: SOURCE_LABELS[kind],
      detail: bySource[kind] ? describeSourceStats(kind, bySource[kind]) : 'nothing recorded yet',
    })),
  ];
  const qp = vscode.window.createQuickPick<Item>();
  qp.title = 'AIOS: Filter Telemetry by Source';
  qp.placeholder = 'The sources the tree, the metrics panel and Show Telemetry show';
  qp.canSelectMany = true;
  qp.matchOnDescription = true;
  qp.items = items;
  qp.selectedItems = current ? items.filter((i) => i.source !== undefined && current.has(i.source)) : [all];
  // "All sources" and the sources exclude each other: checking one unchecks the other.
  let before = new Set(qp.selectedItems);
  qp.onDidChangeSelection((selection) => {
    const added = selection.filter((i) => !before.has(i));
    const next = added.includes(all) ? [all] : added.length > 0 ? selection.filter((i) => i !== all) : selection;
    before = new Set(next);
    if (next.length !== selection.length) qp.selectedItems = next;
  });
  const accepted = await new Promise<readonly Item[] | undefined>((resolve) => {
    qp.onDidAccept(() => resolve(qp.selectedItems));
    qp.onDidHide(() => resolve(undefined));
    qp.show();
  });
  qp.dispose();
  if (accepted === undefined) return undefined;
  await filter.set(accepted.includes(all) ? [] : accepted.flatMap((i) => (i.source ? [i.source] : [])));
  return shown(filter);
}

function shown(filter: TelemetrySourceFilter): SourceKind[] {
  return filter.filter ? [...filter.filter] : [];
}
