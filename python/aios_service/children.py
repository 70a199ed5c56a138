"""The programs a workspace handler starts, so that a cancelled handler leaves none behind.

`subprocess.Popen` (and everything built on it: `run`, `call`, `check_output`) records each process it starts
in the list of the handler call running on that thread. When a call was cancelled, what it started and is still
running is ended, with everything those processes started (proctree.py): once the handler returns, or
`processWorkers.cancelGraceMs` after the cancellation if it is still blocked (in `subprocess.run`, say: ending
the program is then what lets it return). Processes started otherwise (`os.system`, `os.fork`, native code) are
not seen: the service's own end still takes them (its process group; see python/README.md). Installed by the
service (and by each worker process) before the workspace module loads: importing subprocess costs start-up
time the initialize reply does not wait for.
"""

import subprocess
import threading

_current = threading.local()
_original_init = None


def install():
    """Wrap Popen.__init__ once per process."""
    global _original_init
    if _original_init is not None:
        return
    original = _original_init = subprocess.Popen.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        procs = getattr(_current, "procs", None)
        if procs is not None:
            procs.append(self)

    subprocess.Popen.__init__ = __init__


def track(procs):
    """Processes started on this thread from now on are appended to `procs` (until untrack())."""
    _current.procs = procs


def untrack():
    _current.procs = None


def end(procs):
    """Kill each process in `procs` that still runs, with its descendants; returns how many were ended."""
    from . import proctree
    ended = 0
    for proc in list(procs):
        if proc.poll() is None:
            proctree.kill_tree(proc.pid)
            ended += 1
            try:
                proc.wait(1.0)  # reap it: the handler may have dropped the Popen without waiting
            except (subprocess.TimeoutExpired, OSError):
                pass
    return ended
