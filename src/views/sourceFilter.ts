// The telemetry filter by source ("AIOS: Filter Telemetry by Source…"): which source kinds the tree, the
// metrics panel and the Show Telemetry report show. One object for the three, remembered per workspace
// (workspace state), so nobody finds a view filtered that the others are not.
import * as vscode from 'vscode';
import { isSourceKind, SOURCE_KINDS, type SourceFilter, type SourceKind } from '../core';
import { describeFilter } from './sourceModel';

const STATE_KEY = 'aios.telemetry.sourceFilter';

export class TelemetrySourceFilter implements vscode.Disposable {
  private kinds: SourceFilter;
  private readonly emitter = new vscode.EventEmitter<SourceFilter>();
  /** Fires with the new filter (undefined: all sources). */
  readonly onDidChange = this.emitter.event;

  constructor(private readonly state: vscode.Memento) {
    const saved = state.get<unknown>(STATE_KEY);
    // What another version saved may name kinds this one does not know: those are dropped.
    const kinds = Array.isArray(saved) ? saved.filter(isSourceKind) : [];
    this.kinds = kinds.length ? new Set(kinds) : undefined;
  }

  /** The kinds shown; undefined: all of them (the headline for the overall figures). */
  get filter(): SourceFilter {
    return this.kinds;
  }

  /** "palette, api" while a filter is on, else undefined. */
  get description(): string | undefined {
    return describeFilter(this.kinds);
  }

  /** Shows only `kinds` (SOURCE_KINDS order); none, or undefined, shows all again. */
  async set(kinds: readonly SourceKind[] | undefined): Promise<void> {
    const next = kinds && kinds.length ? new Set(SOURCE_KINDS.filter((k) => kinds.includes(k))) : undefined;
    if (describeFilter(next) === describeFilter(this.kinds)) return;
    this.kinds = next;
    await this.state.update(STATE_KEY, next ? [...next] : undefined);
    this.emitter.fire(next);
  }

  dispose(): void {
    this.emitter.dispose();
  }
}
