// VS Code settings `aios.*` ⇄ the core's MiddlewareConfig and the supervisor's settings. Setting keys are
// the config field names (aios.maxConcurrency is MiddlewareConfig.maxConcurrency): one name for one thing.
import * as vscode from 'vscode';
import { DEFAULT_CONFIG, type PartialConfig } from './core';
import type { SupervisorSettings } from './python/supervisor';

export const SECTION = 'aios';

/** The middleware part of the settings, as the core's PartialConfig (the core validates it). Each key of
 *  the core's DEFAULT_CONFIG is the setting `aios.<key>`, or `aios.<section>.<key>` inside a section. */
export function readMiddlewareSettings(): PartialConfig {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(DEFAULT_CONFIG)) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      out[key] = cfg.get(key);
      continue;
    }
    const part: Record<string, unknown> = {};
    for (const sub of Object.keys(value)) part[sub] = cfg.get(`${key}.${sub}`);
    out[key] = part;
  }
  return out;
}

export interface PythonSettings extends SupervisorSettings {
  interpreterPath: string | undefined;
  executeTimeoutMs: number;
}

function positive(value: unknown, fallback: number, min: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= min ? value : fallback;
}

/**
 * aios.python.*. In an untrusted workspace, an interpreter path set by the workspace is ignored: a
 * workspace must not be able to choose the program that runs.
 */
export function readPythonSettings(trusted = vscode.workspace.isTrusted): PythonSettings {
  const cfg = vscode.workspace.getConfiguration(`${SECTION}.python`);
  const inspected = cfg.inspect<string>('interpreterPath');
  const interpreterPath = trusted ? cfg.get<string>('interpreterPath') : inspected?.globalValue;
  return {
    interpreterPath: interpreterPath?.trim() || undefined,
    healthIntervalMs: positive(cfg.get('healthIntervalMs'), 5000, 500),
    healthTimeoutMs: positive(cfg.get('healthTimeoutMs'), 3000, 100),
    maxRestarts: positive(cfg.get('maxRestarts'), 5, 0),
    restartWindowMs: positive(cfg.get('restartWindowMs'), 180_000, 1000),
    executeTimeoutMs: positive(cfg.get('executeTimeoutMs'), 300_000, 0),
  };
}
