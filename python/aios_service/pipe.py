"""Reading the protocol pipe, with a short poll before blocking while the client sends back to back.

A read that finds the pipe empty puts the reader thread to sleep. The wake-up when the next request lands is
then the largest single cost of a round trip on a virtual machine: about 50 µs here, more than the service's
own work on a control call. While the client sends requests back to back (one as soon as the previous reply is
in, as a burst of commands does), the reader first polls the pipe for up to `poll_s` and only then blocks.
After a wait longer than that it blocks at once, so an idle or slow client never makes the service spin: the
CPU spent on polling is at most `poll_s` at the end of each burst. `transport.pollMicroseconds` in the config
sets it; 0 turns polling off.

POSIX only: select and poll do not take pipes on Windows, where reads just block.
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
        # Poll before the next read? Only while the last read waited no longer than poll_s.
        self.polling = False

    def set_poll(self, seconds):
        """Poll for up to `seconds` before blocking (0: never). Ignored where pipes cannot be polled."""
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
        if self.polling:
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
