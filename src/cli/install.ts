// Puts `aios` where terminals can run it: the bundled script (copied from the extension's dist/cli), its
// launchers and the PowerShell module, in one folder per extension version (the extension's storage), each
// file written only when its content differs. A folder of its own also gives the script a package.json of
// its own: Node reads the nearest one at every start, and the extension's is large. Plain Node.
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAUNCHER_CMD, LAUNCHER_SH, POWERSHELL_MANIFEST, POWERSHELL_MODULE } from './launchers';

export interface CliInstall {
  /** The CLI script the launchers run (AIOS_CLI_MAIN). */
  main: string;
  /** The folder to put on PATH: `aios` and `aios.cmd`. */
  bin: string;
  /** The folder to put on PSModulePath: holds AIOS/. */
  powershell: string;
}

/** Installs into `dir` the CLI built at `builtMain` (dist/cli/aios.js); returns where things are. */
export function installCli(dir: string, builtMain: string): CliInstall {
  const bin = join(dir, 'bin');
  const powershell = join(dir, 'powershell');
  const main = join(dir, 'aios.js');
  mkdirSync(join(powershell, 'AIOS'), { recursive: true });
  mkdirSync(bin, { recursive: true });
  writeIfChanged(main, readFileSync(builtMain, 'utf8'));
  writeIfChanged(join(dir, 'package.json'), '{ "type": "commonjs" }\n');
  writeIfChanged(join(bin, 'aios'), LAUNCHER_SH, 0o755);
  writeIfChanged(join(bin, 'aios.cmd'), LAUNCHER_CMD);
  writeIfChanged(join(powershell, 'AIOS', 'AIOS.psm1'), POWERSHELL_MODULE);
  writeIfChanged(join(powershell, 'AIOS', 'AIOS.psd1'), POWERSHELL_MANIFEST);
  return { main, bin, powershell };
}

/** Written through a temporary file and a rename: a terminal starting `aios` meanwhile sees the old or the new. */
function writeIfChanged(file: string, text: string, mode = 0o644): void {
  let same = false;
  try {
    same = readFileSync(file, 'utf8') === text && (process.platform === 'win32' || (statSync(file).mode & 0o777) === mode);
  } catch {
    // not there yet
  }
  if (same) return;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  if (process.platform !== 'win32') chmodSync(tmp, mode);
  renameSync(tmp, file);
}
