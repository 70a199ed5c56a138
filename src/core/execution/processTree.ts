// Ending a process and anything it started (the Python service, a shell executor's program). POSIX: the
// process leads its own process group (spawned detached), so one signal to the group reaches its children.
// Windows: taskkill /T walks the tree. No vscode import.
import { spawn } from 'node:child_process';

/** Settles when the kill has been carried out (on Windows, when taskkill has finished); never rejects. */
export function killProcessTree(pid: number, platform: NodeJS.Platform = process.platform): Promise<void> {
  if (platform === 'win32') {
    // Not spawnSync: it would block the extension host.
    return new Promise((resolve) => {
      spawn('taskkill', ['/pid', String(pid), '/T', '/F'], { windowsHide: true, stdio: 'ignore' })
        .on('error', () => resolve())
        .on('exit', () => resolve());
    });
  }
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
      break;
    } catch {
      // No such group (not a group leader, or already gone): try the process itself.
    }
  }
  return Promise.resolve();
}

/** POSIX: signals every process in the group `pgid` leads; by default ends whatever is left (nothing happens when the group is gone). */
export function killProcessGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // No such group: nothing left.
  }
}

/** True while a process with this pid exists (signal 0 tests without sending anything). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
