"""A small priority thread pool for executes (and a one-thread one for control operations).

Not concurrent.futures: its import pulls in logging and more at start-up, and it has neither priorities nor
removal of a queued item (which `$/cancelRequest` needs to answer at once instead of when a worker frees up).
Threads start on demand up to `max_workers` and are daemons, so a stuck handler never blocks process exit.
"""

import threading
from collections import deque

PRIORITIES = ("HIGH", "NORMAL", "LOW")


class QueueFullError(Exception):
    pass


class WorkerPool(object):
    Full = QueueFullError  # raised by submit(); reachable without importing this module

    def __init__(self, max_workers, max_queued, name="aios-worker"):
        self.max_workers = max_workers
        self.max_queued = max_queued
        self._name = name
        self._cond = threading.Condition(threading.Lock())
        self._queues = tuple(deque() for _ in PRIORITIES)
        self._threads = 0
        self._idle = 0
        self._busy = 0
        self._serial = 0

    def submit(self, job, priority="NORMAL"):
        """Queue `job` (a callable); raises QueueFullError when `max_queued` jobs already wait."""
        index = PRIORITIES.index(priority) if priority in PRIORITIES else 1
        with self._cond:
            if self.queued_locked() >= self.max_queued:
                raise QueueFullError()
            self._queues[index].append(job)
            if self._idle > 0:
                self._cond.notify()
            # A woken thread counts as idle until it takes its job, so compare the jobs waiting with the idle
            # threads: in a burst, each job beyond them needs a thread of its own (up to max_workers).
            if self.queued_locked() > self._idle and self._threads < self.max_workers:
                self._start_thread()

    def _start_thread(self):
        """Call with `_cond` held."""
        self._threads += 1
        self._serial += 1
        t = threading.Thread(target=self._work, name="%s-%d" % (self._name, self._serial))
        t.daemon = True
        t.start()

    def remove(self, job):
        """Take a job out of the queue before it starts; False if it already started (or never was queued)."""
        with self._cond:
            for q in self._queues:
                try:
                    q.remove(job)
                    return True
                except ValueError:
                    pass
            return False

    def has_queued(self):
        """Whether any job waits for a thread. Without the lock: only the submitting (reader) thread adds jobs,
        so for that thread a False cannot turn True meanwhile."""
        return any(self._queues)

    def queued_locked(self):
        return sum(len(q) for q in self._queues)

    def idle(self):
        """True when nothing is queued or running."""
        with self._cond:
            return self._busy == 0 and self.queued_locked() == 0

    def stats(self):
        with self._cond:
            return {"max": self.max_workers, "busy": self._busy, "queued": self.queued_locked()}

    def wait_idle(self, timeout):
        """Wait until nothing is queued or running (or `timeout` seconds pass); True if idle."""
        import time
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy or self.queued_locked():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
            return True

    def resize(self, max_workers, max_queued):
        """Growing starts threads for queued jobs at once; shrinking lets running jobs finish (then surplus
        threads leave)."""
        with self._cond:
            self.max_workers = max_workers
            self.max_queued = max_queued
            for _ in range(min(self.queued_locked() - self._idle, max_workers - self._threads)):
                self._start_thread()
            self._cond.notify_all()  # idle workers take queued jobs; surplus ones leave

    def _take(self):
        with self._cond:
            while True:
                if self._threads > self.max_workers:
                    self._threads -= 1
                    return None
                for q in self._queues:
                    if q:
                        self._busy += 1
                        return q.popleft()
                self._idle += 1
                self._cond.wait()
                self._idle -= 1

    def _work(self):
        while True:
            job = self._take()
            if job is None:
                return
            try:
                job()
            except BaseException:  # jobs report their own errors; never lose the worker
                pass
            finally:
                with self._cond:
                    self._busy -= 1
                    if not self._busy:
                        self._cond.notify_all()  # wakes wait_idle()
