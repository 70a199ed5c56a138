// The `aios.python.*` settings: defaults, bounds and validation, with no `vscode` import so the rules are
// unit-tested and compared with package.json (test/unit/manifest.test.ts). src/settings.ts reads the values.
import { checkNumbers, show, type NumberRule } from '../core/config';
import type { SupervisorSettings } from './supervisor';

export interface PythonSettings extends SupervisorSettings {
  /** Already filtered for workspace trust; undefined = find one. */
  interpreterPath: string | undefined;
  executeTimeoutMs: number;
  /** Where handlers run (the service's processWorkers mode); undefined: its config file decides (opt-in). */
  processWorkers: ProcessWorkersMode | undefined;
}

export const PROCESS_WORKERS_MODES = ['off', 'opt-in', 'all'] as const;
export type ProcessWorkersMode = (typeof PROCESS_WORKERS_MODES)[number];

export const DEFAULT_PYTHON_SETTINGS: Readonly<PythonSettings> = Object.freeze({
  interpreterPath: undefined,
  healthIntervalMs: 5000,
  healthTimeoutMs: 3000,
  maxRestarts: 5,
  restartWindowMs: 180_000,
  executeTimeoutMs: 300_000,
  processWorkers: undefined,
});

/** Bounds by key below `aios.python.`; package.json's minimum and maximum must match. */
export const PYTHON_NUMBER_RULES: Readonly<Record<string, NumberRule>> = Object.freeze({
  healthIntervalMs: { min: 500, max: 600_000, integer: true },
  healthTimeoutMs: { min: 100, max: 600_000, integer: true },
  maxRestarts: { min: 0, max: 100, integer: true },
  restartWindowMs: { min: 1000, max: 86_400_000, integer: true },
  executeTimeoutMs: { min: 0, max: 86_400_000, integer: true },
});

/**
 * Checks raw setting values over `base` (the settings in force): a valid value replaces the base one, an
 * invalid one keeps it and yields one message naming `<prefix>python.<key>`, the accepted range and what is kept.
 */
export function validatePythonSettings(
  raw: Readonly<Record<string, unknown>>,
  base: Readonly<PythonSettings> = DEFAULT_PYTHON_SETTINGS,
  prefix = 'aios.',
): { settings: PythonSettings; errors: string[] } {
  const settings: PythonSettings = { ...base };
  const errors: string[] = [];
  checkNumbers(raw, settings as unknown as Record<string, unknown>, PYTHON_NUMBER_RULES, `${prefix}python.`, errors);
  const path = raw.interpreterPath;
  if (path === undefined || path === null) settings.interpreterPath = undefined;
  else if (typeof path === 'string') settings.interpreterPath = path.trim() || undefined;
  else errors.push(`${prefix}python.interpreterPath must be a path (got ${show(path)}); keeping ${show(base.interpreterPath ?? '')}`);
  const mode = raw.processWorkers;
  if (mode === undefined || mode === null || mode === '') settings.processWorkers = undefined;
  else if ((PROCESS_WORKERS_MODES as readonly unknown[]).includes(mode)) settings.processWorkers = mode as ProcessWorkersMode;
  else
    errors.push(`${prefix}python.processWorkers must be one of ${PROCESS_WORKERS_MODES.join(', ')} or empty (got ${show(mode)}); keeping ${show(base.processWorkers ?? '')}`);
  return { settings, errors };
}
