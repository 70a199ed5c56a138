// The interpreters "Select Interpreter…" offers: the Python extension's, virtual environments in the workspace
// folders (.venv, venv, env), python3/python on PATH (py, python.exe on Windows) and pyenv's versions. Each is
// probed (sys.executable and version), so the list shows what would really run and names one executable once.
// No `vscode` import: the caller passes the Python extension's choice and the folders.
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { basename, delimiter, dirname, join } from 'node:path';
import { homedir } from 'node:os';
import { MIN_PYTHON, probeInterpreter, type Probe } from './interpreter';

export type ChoiceSource = 'python-extension' | 'workspace venv' | 'PATH' | 'pyenv';

export interface InterpreterChoice {
  /** What aios.python.interpreterPath is set to: the path found (a venv's python, not the base it links to). */
  path: string;
  /** sys.executable of the probed interpreter. */
  executable: string;
  version: readonly [number, number, number];
  source: ChoiceSource;
  /** Below Python 3.9: listed, but the service cannot run on it. */
  tooOld: boolean;
}

export interface ChoiceOptions {
  platform?: NodeJS.Platform;
  env?: NodeJS.ProcessEnv;
  folders?: readonly string[];
  pythonExtension?: string;
  exists?: (path: string) => boolean;
  list?: (dir: string) => string[];
  probe?: Probe;
  home?: string;
}

const VENV_NAMES = ['.venv', 'venv', 'env'];

/** Candidate paths in the order they are offered, each with where it was found (not yet probed). */
export function interpreterPaths(opts: ChoiceOptions = {}): { path: string; source: ChoiceSource }[] {
  const platform = opts.platform ?? process.platform;
  const env = opts.env ?? process.env;
  const exists = opts.exists ?? existsSync;
  const list = opts.list ?? ((dir: string) => readdirSync(dir));
  const win = platform === 'win32';
  const sep = win ? '\\' : '/';
  const joinP = (...parts: string[]) => (win ? parts.join(sep).replace(/[\\/]+/g, '\\') : join(...parts));
  const out: { path: string; source: ChoiceSource }[] = [];
  const add = (path: string, source: ChoiceSource) => {
    if (!out.some((c) => c.path === path) && exists(path)) out.push({ path, source });
  };
  if (opts.pythonExtension) add(opts.pythonExtension, 'python-extension');
  for (const folder of opts.folders ?? []) {
    for (const name of VENV_NAMES) add(win ? joinP(folder, name, 'Scripts', 'python.exe') : joinP(folder, name, 'bin', 'python'), 'workspace venv');
  }
  const pathVar = (win ? (env.Path ?? env.PATH) : env.PATH) ?? '';
  const names = win ? ['python.exe', 'python3.exe', 'py.exe'] : ['python3', 'python'];
  for (const dir of pathVar.split(win ? ';' : delimiter).filter(Boolean)) {
    // pyenv's shims choose by directory at run time: the versions are listed below, each by its real path.
    if (/[\\/]\.?pyenv[\\/]shims$/.test(dir)) continue;
    for (const name of names) add(joinP(dir, name), 'PATH');
  }
  const home = opts.home ?? homedir();
  const pyenvRoot = env.PYENV_ROOT ?? (win ? joinP(home, '.pyenv', 'pyenv-win') : joinP(home, '.pyenv'));
  const versions = joinP(pyenvRoot, 'versions');
  let found: string[];
  try {
    found = exists(versions) ? list(versions).sort() : [];
  } catch {
    found = [];
  }
  for (const v of found) add(win ? joinP(versions, v, 'python.exe') : joinP(versions, v, 'bin', 'python'), 'pyenv');
  return out;
}

/** The candidates, probed; one per executable (the first place it was found wins), those that fail to run left out. */
export async function interpreterChoices(opts: ChoiceOptions = {}): Promise<InterpreterChoice[]> {
  const probe = opts.probe ?? probeInterpreter;
  const paths = interpreterPaths(opts);
  const probed = await Promise.all(
    paths.map(async (c) => {
      try {
        const r = await probe({ command: c.path, args: [], source: c.source === 'python-extension' ? 'python-extension' : 'path' });
        const tooOld = r.version[0] < MIN_PYTHON[0] || (r.version[0] === MIN_PYTHON[0] && r.version[1] < MIN_PYTHON[1]);
        return { ...c, executable: r.executable, version: r.version, tooOld } satisfies InterpreterChoice;
      } catch {
        return undefined;
      }
    }),
  );
  const seen = new Set<string>();
  const out: InterpreterChoice[] = [];
  for (const c of probed) {
    if (!c) continue;
    // One program under two names (/bin is /usr/bin on many systems) is listed once; a venv's python is a link
    // to its base but lives in its own folder, so venvs stay apart from the Python they were made from.
    const key = sameProgramKey(c.executable);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(c);
  }
  return out;
}

/** A key equal for two paths of one program in one folder: the folder's real path and the name. */
export function sameProgramKey(executable: string): string {
  try {
    return join(realpathSync(dirname(executable)), basename(executable));
  } catch {
    return executable;
  }
}

/** Whether `a` and `b` run the same interpreter (links followed all the way: pyenv's python and python3). */
export function sameInterpreter(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return a === b;
  }
}
