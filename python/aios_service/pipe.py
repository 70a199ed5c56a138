"""Reading the protocol pipe, with a short poll before blocking while the client sends back to back.

A read that finds the pipe empty puts the reader thread to sleep. The wake-up when the next request lands is
then the largest single cost of a round trip on a virtual machine: about 50 µs here, more than the service's
own work on a control call. So while the client sends requests back to back (the last read waited no longer
than `poll_s`), the reader first polls the pipe for up to `poll_s` and only then blocks. After a longer wait
it blocks at once, and it never polls while executes or queued control operations owe replies: then it
would only compete with their threads for the CPU and the GIL.

What it costs: an idle service never spins, but every gap shorter than `poll_s` between requests the
reader answers itself (health, in-memory control operations) is spun through, so a steady stream of them
keeps one core busy while it lasts. `transport.pollMicroseconds` in the config sets `poll_s` (0, the
default: off; at most 1 ms). POSIX only: select and poll do not take pipes on Windows, where reads just block.
"""

import os
import sys
import time


class PipeReader(object):
    """`read(n) -> bytes` on file descriptor `fd` (b"" at end of input or on an error)."""

    def __init__(self, fd):
        self._fd = fd
        self._poll = None  # select.poll().poll, made when polling is first turned on
        self.poll_s = 0.0
        self._owed = None
        # Poll before the next read? Only while the last read waited no longer than poll_s.
        self.polling = False

    def set_poll(self, seconds, owed=None):
        """Poll for up to `seconds` before blocking (0: never), except while `owed()` (if given) is true:
        other threads owe replies. Ignored where pipes cannot be polled."""
        self._owed = owed
        if seconds > 0 and self._poll is None:
            if sys.platform == "win32":
                return
            import select  # not before the initialize reply: it costs start-up time
            if not hasattr(select, "poll"):
                return
            poller = select.poll()
            poller.register(self._fd, select.POLLIN)
            self._poll = poller.poll
        self.poll_s = max(0.0, seconds)
        if not self.poll_s:
            self.polling = False

    def __call__(self, n):
        poll_s = self.poll_s
        if not poll_s:
            return self._read(n)
        clock = time.perf_counter
        start = clock()
        if self.polling and not (self._owed is not None and self._owed()):
            poll = self._poll
            deadline = start + poll_s
            # poll(0) returns at once; any event (data, hang-up, error) ends the loop and the read below sees it.
            while not poll(0) and clock() < deadline:
                pass
        data = self._read(n)
        self.polling = clock() - start <= poll_s
        return data

    def _read(self, n):
        try:
            return os.read(self._fd, n)
        except OSError:
            return b""
