// VS Code settings `aios.*` ⇄ the core's MiddlewareConfig and the supervisor's settings. Setting keys are
// the config field names (aios.maxConcurrency is MiddlewareConfig.maxConcurrency): one name for one thing.
import * as vscode from 'vscode';
import type { PartialConfig } from './core';
import type { SupervisorSettings } from './python/supervisor';

export const SECTION = 'aios';

const TOP_LEVEL = ['maxConcurrency', 'baseDelayMs', 'maxDelayMs', 'cpuThreshold', 'maxQueueSize', 'agingMs', 'countExternalPythonProcesses', 'maxParameterBytes'] as const;
const NESTED = {
  security: ['denyPatterns', 'allowPatterns'],
  telemetry: ['maxRecentEvents', 'maxFileSizeMB', 'maxTotalSizeMB', 'flushIntervalMs'],
  sampler: ['intervalMs', 'processIntervalMs'],
} as const;

/** The middleware part of the settings, as the core's PartialConfig (the core validates it). */
export function readMiddlewareSettings(): PartialConfig {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const out: Record<string, unknown> = {};
  for (const key of TOP_LEVEL) out[key] = cfg.get(key);
  for (const [section, keys] of Object.entries(NESTED)) {
    const part: Record<string, unknown> = {};
    for (const key of keys) part[key] = cfg.get(`${section}.${key}`);
    out[section] = part;
  }
  return out as PartialConfig;
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
