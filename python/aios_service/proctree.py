"""Ending a worker process together with every process it started (a handler's children, theirs, ...).

A process handler that ignores the cancellation has its worker terminated; the programs it ran must go with it,
or they would run on, orphaned, until the service itself stops. POSIX: each process is stopped (SIGSTOP) as it
is found, so nothing forks while the tree is read, then all are killed; the tree is read from /proc on Linux,
from `ps` elsewhere. Windows: `taskkill /T /F` walks the tree. A process that left the tree on purpose (a
daemon that detached itself and was adopted by init) is not found.
"""

import os
import signal
import subprocess
import sys


def _children_by_parent():
    """{ppid: [pid, ...]} of every process this user can see."""
    tree = {}
    if os.path.isdir("/proc/self/task"):  # Linux
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name, "rb") as f:
                    stat = f.read()
            except OSError:
                continue  # gone meanwhile
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
            fields = stat[stat.rfind(b")") + 2:].split()
            if len(fields) > 1:
                tree.setdefault(int(fields[1]), []).append(int(name))
        return tree
    try:
        out = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, check=False).stdout
    except OSError:
        return tree
    for line in out.decode("ascii", "replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            tree.setdefault(int(parts[1]), []).append(int(parts[0]))
    return tree


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError:
        pass  # gone already


def kill_tree(pid):
    """Kill `pid` and its descendants; returns the pids signalled (POSIX), for the log and the tests."""
    if sys.platform == "win32":
        subprocess.run(["taskkill", "/PID", str(pid), "/T", "/F"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        return [pid]
    found = [pid]
    seen = {pid}
    frontier = [pid]
    while frontier:
        for p in frontier:
            _signal(p, signal.SIGSTOP)
        tree = _children_by_parent()
        frontier = [c for p in frontier for c in tree.get(p, ()) if c not in seen]
        seen.update(frontier)
        found.extend(frontier)
    for p in found:
        _signal(p, signal.SIGKILL)
    return found
