// aios.rules in the extension: the core's RuleEngine (src/core/rules/engine.ts) fed by the middleware's metrics on the
// sampler's tick, acting through the same control plane and limit settings as the palette, recording each firing
// and restore as RULE:<name> telemetry. Rules are settings from the user (a workspace cannot set them: see
// capabilities.untrustedWorkspaces.restrictedConfigurations), never code.
import * as vscode from 'vscode';
import type { ControlCall } from '../python/controlState';
import type { Disposable, Middleware } from '../core';
import { systemClock } from '../core/clock';
import { MetricSource } from '../core/rules';
import { RuleEngine, type RuleLimits, type RuleState } from '../core/rules';

export const RULES_SETTING = 'rules';

export interface RulesHost {
  readonly middleware: Middleware;
  readonly log: vscode.LogOutputChannel;
  control(call: ControlCall): Promise<{ success: boolean; error?: { message: string } }>;
  /** Applies middleware limits like a settings change does (and resizes the service's pool). */
  applyLimits(limits: RuleLimits): string[];
  reportSettingProblems(problems: readonly string[]): void;
}

export class RulesIntegration implements vscode.Disposable {
  readonly metrics: MetricSource;
  private readonly engine: RuleEngine;
  private readonly disposables: Disposable[] = [];

  constructor(host: RulesHost) {
    const { middleware } = host;
    this.metrics = new MetricSource({
      sampler: middleware.sampler,
      telemetry: middleware.telemetry,
      admission: () => middleware.admission,
      clock: systemClock,
    });
    this.engine = new RuleEngine({
      metrics: this.metrics,
      clock: systemClock,
      ticks: middleware.sampler,
      record: (r) => middleware.record(r.eventType, middleware.newCommandId(), r.commandType, r.priority, r.durationMs, r.metadata),
      actions: {
        control: (call) => host.control({ operation: call.operation, value: call.value, parameters: call.parameters, source: call.source }),
        setLimits: (limits) => host.applyLimits(limits),
        // Not awaited: a notification nobody clicks must not hold the rule's action.
        notify: (message, severity) => {
          void (severity === 'warning' ? vscode.window.showWarningMessage(`AIOS: ${message}`) : vscode.window.showInformationMessage(`AIOS: ${message}`));
        },
        log: (level, message) => host.log[level](message),
      },
    });
    host.reportSettingProblems(this.engine.setRules(vscode.workspace.getConfiguration('aios').get(RULES_SETTING)));
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(`aios.${RULES_SETTING}`)) {
          host.reportSettingProblems(this.engine.setRules(vscode.workspace.getConfiguration('aios').get(RULES_SETTING)));
        }
      }),
    );
  }

  states(): RuleState[] {
    return this.engine.states();
  }

  /** Limits firing rules hold: a settings edit re-applies them on top, so it does not silently undo a rule. */
  activeLimits(): RuleLimits {
    return this.engine.activeLimits();
  }

  onDidChange(listener: () => void): Disposable {
    return this.engine.onDidChange(listener);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
    this.engine.dispose();
    this.metrics.dispose();
  }
}
