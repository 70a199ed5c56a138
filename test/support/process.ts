// Whether a process a test started (or its child) still runs: for the checks that a cancel ended a process tree.
import { readFileSync } from 'node:fs';

/** True while `pid` runs; an ended process that is still a zombie (not reaped yet) counts as ended. */
export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // Linux: an ended orphan stays a zombie until init reaps it, which can take a while in a container.
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc (macOS): kill(pid, 0) said it exists
  }
}
