"""PipeReader on real OS pipes, and the server turning its polling on and following the config."""

import io
import json
import os
import sys
import threading
import time
import unittest

from aios_service.pipe import PipeReader
from aios_service.server import Server
from tests.support import TIMEOUT, BytePipe, Client, TempDir

CAN_POLL = sys.platform != "win32" and hasattr(__import__("select"), "poll")


def wait_for(predicate):
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class PipeReaderTest(unittest.TestCase):
    def setUp(self):
        self.r, self.w = os.pipe()
        self.reader = PipeReader(self.r)

    def tearDown(self):
        for fd in (self.r, self.w):
            try:
                os.close(fd)
            except OSError:
                pass

    def write_later(self, data, delay):
        t = threading.Timer(delay, write_all, (self.w, data))
        t.start()
        self.addCleanup(t.join)

    def test_reads_what_was_written_then_end_of_input(self):
        for poll_s in (0, 0.001):
            self.reader.set_poll(poll_s)
            write_all(self.w, b"abc")
            self.assertEqual(self.reader(10), b"abc")
            write_all(self.w, b"0123456789")
            self.assertEqual(self.reader(4), b"0123")
            self.assertEqual(self.reader(100), b"456789")
        os.close(self.w)
        self.assertEqual(self.reader(10), b"")

    @unittest.skipUnless(CAN_POLL, "pipes cannot be polled on this platform")
    def test_polls_only_while_reads_do_not_wait_longer_than_the_poll(self):
        self.reader.set_poll(0.02)  # generous, so a busy machine does not turn an instant read into a "wait"
        self.assertFalse(self.reader.polling)  # nothing read yet: the first read blocks
        write_all(self.w, b"a")
        self.assertEqual(self.reader(10), b"a")
        self.assertTrue(self.reader.polling)  # the data was there: the client is keeping up, poll next time
        self.write_later(b"b", 0.5)  # far longer than the poll: it gives up, blocks, and the read still works
        cpu = time.thread_time()
        self.assertEqual(self.reader(10), b"b")
        # It spun for at most the 20 ms poll, then slept: not through the whole half second.
        self.assertLess(time.thread_time() - cpu, 0.15)
        self.assertFalse(self.reader.polling)  # a slow client: block at once next time, no spinning
        self.write_later(b"c", 0.1)
        self.assertEqual(self.reader(10), b"c")
        self.assertFalse(self.reader.polling)
        self.reader.set_poll(0)
        write_all(self.w, b"d")
        self.assertEqual(self.reader(10), b"d")
        self.assertFalse(self.reader.polling)

    @unittest.skipUnless(CAN_POLL, "pipes cannot be polled on this platform")
    def test_never_polls_while_other_threads_owe_replies(self):
        owed = [True]
        self.reader.set_poll(0.02, lambda: owed[0])
        polls = [0]
        real_poll = self.reader._poll

        def counting_poll(timeout):
            polls[0] += 1
            return real_poll(timeout)
        self.reader._poll = counting_poll
        write_all(self.w, b"a")
        self.assertEqual(self.reader(10), b"a")
        self.assertTrue(self.reader.polling)
        write_all(self.w, b"b")
        self.assertEqual(self.reader(10), b"b")
        self.assertEqual(polls[0], 0, "polled while an execute owed its reply")
        owed[0] = False
        write_all(self.w, b"c")
        self.assertEqual(self.reader(10), b"c")
        self.assertGreater(polls[0], 0)

    @unittest.skipUnless(CAN_POLL, "pipes cannot be polled on this platform")
    def test_end_of_input_while_polling_ends_the_read(self):
        self.reader.set_poll(TIMEOUT)  # only the hang-up can end this poll before the failsafe below
        write_all(self.w, b"x")
        self.assertEqual(self.reader(10), b"x")
        self.assertTrue(self.reader.polling)
        threading.Timer(0.05, os.close, (self.w,)).start()
        started = time.monotonic()
        self.assertEqual(self.reader(10), b"")
        self.assertLess(time.monotonic() - started, TIMEOUT, "the hang-up did not end the poll")

    def test_a_closed_descriptor_reads_as_end_of_input(self):
        self.reader.set_poll(0.001)
        os.close(self.r)
        self.assertEqual(self.reader(10), b"")
        self.reader.polling = True
        self.assertEqual(self.reader(10), b"")

    def test_windows_never_polls(self):
        if sys.platform != "win32":
            self.skipTest("Windows only")
        self.reader.set_poll(0.001)
        self.assertEqual(self.reader.poll_s, 0)


class ServerPollingTest(unittest.TestCase):
    """The server polls only once the initialize reply is out, and follows transport.pollMicroseconds."""

    def setUp(self):
        self.tmp = TempDir()
        self.r, self.w = os.pipe()
        self.reader = PipeReader(self.r)
        out = BytePipe()
        self.server = Server(self.reader, out.write, log_stream=io.StringIO())
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()
        self.client = Client(lambda data: write_all(self.w, data), out.read)

    def tearDown(self):
        os.close(self.w)
        self.thread.join(TIMEOUT)
        os.close(self.r)
        self.tmp.cleanup()

    def reload(self, transport):
        path = self.tmp.write("c.json", json.dumps({"transport": transport}))
        return self.client.request("aios/control", {"operation": "RELOAD_CONFIG", "parameters": {"config_file": path},
                                                    "commandId": "c"})

    def test_polling_follows_the_config(self):
        self.assertEqual(self.reader.poll_s, 0)
        self.client.initialize()
        state = self.client.result("aios/health")  # answered after the start-up work that follows initialize
        self.assertEqual(state["config"]["transport"], {"pollMicroseconds": 0})
        self.assertEqual(self.reader.poll_s, 0, "off by default")
        self.assertEqual(self.reload({"pollMicroseconds": 250})["result"]["state"]["config"]["transport"],
                         {"pollMicroseconds": 250})
        self.assertEqual(self.reader.poll_s, 250e-6 if CAN_POLL else 0)
        self.assertEqual(self.reload({"pollMicroseconds": 0})["result"]["state"]["config"]["transport"],
                         {"pollMicroseconds": 0})
        self.assertEqual(self.reader.poll_s, 0)
        self.assertFalse(self.reader.polling)
        self.reload({"pollMicroseconds": 1000})
        self.assertEqual(self.reader.poll_s, 1000e-6 if CAN_POLL else 0)
        error = self.reload({"pollMicroseconds": 2000})["error"]
        self.assertIn("transport.pollMicroseconds must be an integer from 0 to 1000 (got 2000)", error["message"])
        self.assertEqual(self.reader.poll_s, 1000e-6 if CAN_POLL else 0)  # the old config stays
        self.assertFalse(self.server._replies_owed())
        sleep = self.client.request_async("aios/execute", {"commandId": "s", "commandType": "SLEEP",
                                                           "priority": "NORMAL", "parameters": {"seconds": 30}})
        self.client.result("aios/health")  # the execute was dispatched before this answer
        self.assertTrue(self.server._replies_owed())
        self.client.notify("$/cancelRequest", {"id": sleep})
        self.assertEqual(self.client.wait_response(sleep)["error"]["code"], -32800)
        self.assertTrue(wait_for(lambda: not self.server._replies_owed()))


if __name__ == "__main__":
    unittest.main()
