// Finds a Python ≥ 3.9 to run the service. Order: the user's setting, the Python extension's active
// environment, then the usual names on PATH (`py -3` first on Windows). Each candidate is probed once and
// the real interpreter (`sys.executable`) is what starts the service: going through a shim such as pyenv's
// costs ~300 ms per start. No `vscode` import: the VS Code lookups are passed in.
import { execa } from 'execa';

export const MIN_PYTHON: readonly [number, number] = [3, 9];

export type InterpreterSource = 'setting' | 'python-extension' | 'path';

export interface InterpreterCandidate {
  command: string;
  args: readonly string[];
  source: InterpreterSource;
}

export interface ResolvedInterpreter {
  /** sys.executable of the probed interpreter. */
  executable: string;
  version: readonly [number, number, number];
  source: InterpreterSource;
  /** How the user would recognise it, e.g. "python3 (3.11.7, on PATH)". */
  description: string;
}

export class InterpreterNotFoundError extends Error {
  constructor(
    readonly attempts: readonly string[],
    advice = 'Install Python 3.9 or later, set "aios.python.interpreterPath" to one, or pick one with the Python extension\'s "Python: Select Interpreter".',
  ) {
    super(`No Python ${MIN_PYTHON.join('.')}+ found to run the AIOS service. Tried: ${attempts.join('; ')}. ${advice}`);
    this.name = 'InterpreterNotFoundError';
  }
}

export type Probe = (candidate: InterpreterCandidate) => Promise<{ executable: string; version: [number, number, number] }>;

const PROBE_SCRIPT = 'import sys,json;print(json.dumps([sys.executable,list(sys.version_info[:3])]))';

/** Runs the candidate once (no shell) and reads its executable and version. */
export const probeInterpreter: Probe = async (candidate) => {
  // -I: the probe must not import anything from the current directory or the user's environment.
  const { stdout } = await execa(candidate.command, [...candidate.args, '-I', '-c', PROBE_SCRIPT], {
    timeout: 15_000,
    windowsHide: true,
    stdin: 'ignore',
  });
  const [executable, version] = JSON.parse(stdout.trim().split(/\r?\n/).pop() ?? '') as [string, [number, number, number]];
  if (typeof executable !== 'string' || !executable || !Array.isArray(version)) {
    throw new Error(`unexpected answer: ${stdout.slice(0, 200)}`);
  }
  return { executable, version };
};

export function pathCandidates(platform: NodeJS.Platform = process.platform): InterpreterCandidate[] {
  const names: [string, string[]][] =
    platform === 'win32' ? [['py', ['-3']], ['python', []], ['python3', []]] : [['python3', []], ['python', []]];
  return names.map(([command, args]) => ({ command, args, source: 'path' }));
}

function describe(c: InterpreterCandidate): string {
  const where = { setting: 'from aios.python.interpreterPath', 'python-extension': "the Python extension's environment", path: 'on PATH' }[c.source];
  return `${[c.command, ...c.args].join(' ')} (${where})`;
}

export interface ResolveOptions {
  /** aios.python.interpreterPath, already filtered for workspace trust by the caller. */
  setting?: string;
  /** The Python extension's active interpreter, when that extension is installed. */
  pythonExtension?: () => Promise<string | undefined>;
  platform?: NodeJS.Platform;
  probe?: Probe;
}

/**
 * An explicit setting is honoured or refused, never silently replaced by another Python: a user who named an
 * interpreter expects that one (or to be told why not).
 */
export async function resolveInterpreter(opts: ResolveOptions = {}): Promise<ResolvedInterpreter> {
  const probe = opts.probe ?? probeInterpreter;
  const attempts: string[] = [];
  const candidates: InterpreterCandidate[] = [];
  if (opts.setting?.trim()) {
    const chosen: InterpreterCandidate = { command: opts.setting.trim(), args: [], source: 'setting' };
    const found = await tryCandidate(chosen, probe, attempts);
    if (found) return found;
    throw new InterpreterNotFoundError(
      attempts,
      'Fix or clear "aios.python.interpreterPath" (when it is empty, the interpreter picked with the Python extension\'s "Python: Select Interpreter" is used, else python3 on PATH).',
    );
  }
  if (opts.pythonExtension) {
    try {
      const fromExtension = await opts.pythonExtension();
      if (fromExtension) candidates.push({ command: fromExtension, args: [], source: 'python-extension' });
    } catch (err) {
      attempts.push(`the Python extension (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  candidates.push(...pathCandidates(opts.platform));

  for (const candidate of candidates) {
    const found = await tryCandidate(candidate, probe, attempts);
    if (found) return found;
  }
  throw new InterpreterNotFoundError(attempts);
}

/** Probes one candidate; on failure records why in `attempts`. */
async function tryCandidate(candidate: InterpreterCandidate, probe: Probe, attempts: string[]): Promise<ResolvedInterpreter | undefined> {
  try {
    const { executable, version } = await probe(candidate);
    if (version[0] < MIN_PYTHON[0] || (version[0] === MIN_PYTHON[0] && version[1] < MIN_PYTHON[1])) {
      attempts.push(`${describe(candidate)}: ${version.join('.')} is too old`);
      return undefined;
    }
    return {
      executable,
      version: [version[0], version[1], version[2]],
      source: candidate.source,
      description: `${describe(candidate)}, Python ${version.join('.')} at ${executable}`,
    };
  } catch (err) {
    const e = err as { code?: string; shortMessage?: string; message?: string };
    attempts.push(`${describe(candidate)}: ${e.code === 'ENOENT' ? 'not found' : (e.shortMessage ?? e.message ?? String(err)).split('\n')[0]}`);
    return undefined;
  }
}
