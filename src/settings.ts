// VS Code settings `aios.*` ⇄ the core's MiddlewareConfig and the supervisor's settings. Setting keys are
// the config field names (aios.maxConcurrency is MiddlewareConfig.maxConcurrency): one name for one thing.
import * as vscode from 'vscode';
import { DEFAULT_CONFIG, type PartialConfig } from './core';
import { PYTHON_NUMBER_RULES, validatePythonSettings, type PythonSettings } from './python/pythonSettings';
import { USER_ONLY_WHEN_UNTRUSTED } from './trustedSettings';

export type { PythonSettings };

export const SECTION = 'aios';

/** The middleware part of the settings, as the core's PartialConfig (the core validates it). Each key of
 *  the core's DEFAULT_CONFIG is the setting `aios.<key>`, or `aios.<section>.<key>` inside a section. */
export function readMiddlewareSettings(trusted = vscode.workspace.isTrusted): PartialConfig {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const get = (key: string): unknown => (trusted || !USER_ONLY_WHEN_UNTRUSTED.has(key) ? cfg.get(key) : cfg.inspect(key)?.globalValue);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(DEFAULT_CONFIG)) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      out[key] = get(key);
      continue;
    }
    const part: Record<string, unknown> = {};
    for (const sub of Object.keys(value)) part[sub] = get(`${key}.${sub}`);
    out[key] = part;
  }
  return out;
}

/**
 * aios.python.*, validated over `previous` (the settings in force): an invalid value keeps the previous one
 * and is reported. In an untrusted workspace, an interpreter path set by the workspace is ignored: a
 * workspace must not be able to choose the program that runs.
 */
export function readPythonSettings(previous?: PythonSettings, trusted = vscode.workspace.isTrusted): { settings: PythonSettings; errors: string[] } {
  const cfg = vscode.workspace.getConfiguration(`${SECTION}.python`);
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(PYTHON_NUMBER_RULES)) raw[key] = cfg.get(key);
  const userOnly = !trusted && USER_ONLY_WHEN_UNTRUSTED.has('python.interpreterPath');
  raw.interpreterPath = userOnly ? cfg.inspect<string>('interpreterPath')?.globalValue : cfg.get('interpreterPath');
  raw.processWorkers = cfg.get('processWorkers');
  return validatePythonSettings(raw, previous);
}
