"""Cost counters per commandType ("BCM"): calls, errors, thread CPU seconds, wall seconds, bytes in+out."""

import threading

from .jsonenc import dumps_own


class CostMeter(object):
    def __init__(self):
        self._lock = threading.Lock()
        self._by_type = {}
        self._json = "{}"  # snapshot_json() while nothing was recorded since; None: encode again

    def record(self, command_type, cpu_s, wall_s, nbytes, failed):
        with self._lock:
            row = self._by_type.get(command_type)
            if row is None:
                row = self._by_type[command_type] = {"calls": 0, "errors": 0, "cpuSeconds": 0.0,
                                                     "wallSeconds": 0.0, "bytes": 0}
            row["calls"] += 1
            row["errors"] += 1 if failed else 0
            row["cpuSeconds"] += cpu_s
            row["wallSeconds"] += wall_s
            row["bytes"] += nbytes
            self._json = None

    def snapshot(self):
        with self._lock:
            return {k: _rounded(v) for k, v in self._by_type.items()}

    def snapshot_json(self):
        """`snapshot()` as JSON, encoded again only after a change: health rides on every control reply."""
        text = self._json
        if text is None:
            with self._lock:
                text = self._json = dumps_own({k: _rounded(v) for k, v in self._by_type.items()})
        return text

    def reset(self, command_type=None):
        """Clear the counters (all, or one type); returns them as they were."""
        with self._lock:
            self._json = None
            if command_type is None:
                before, self._by_type = self._by_type, {}
            else:
                row = self._by_type.pop(command_type, None)
                before = {command_type: row} if row is not None else {}
            return {k: _rounded(v) for k, v in before.items()}


def _rounded(row):
    out = dict(row)
    out["cpuSeconds"] = round(row["cpuSeconds"], 6)
    out["wallSeconds"] = round(row["wallSeconds"], 6)
    return out
