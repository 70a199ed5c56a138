"""A cancelled handler leaves no process behind, counted in the process table (`ps`) after each cancellation.

Through the real service process: a thread handler blocked on a program it started (that program is ended
`cancelGraceMs` after the cancel, which lets the handler return), one that returns on the cancel and leaves a
program (with a child of its own) running, and a process handler that ignores the cancel (its worker is
terminated with every process it started). A program started by a call that was not cancelled is left alone.
"""

import json
import os
import subprocess
import textwrap
import threading
import unittest

from aios_service import errors
from tests.support import TIMEOUT, Subprocess, TempDir

MARK = "aios-test-child-%d" % os.getpid()

HANDLERS = textwrap.dedent('''
    import subprocess, sys
    from aios_service import command

    def sleeper(tag):
        return [sys.executable, "-c", "import time; time.sleep(600)", %r, tag]

    @command("BLOCKS")
    def blocks(params):
        subprocess.run(sleeper(params["tag"]))

    @command("LEAVES")
    def leaves(params, ctx):
        # A program that starts one of its own, then a handler that returns on the cancel without ending it.
        script = "import subprocess, sys, time; subprocess.Popen(%%r); time.sleep(600)" %% (sleeper(params["tag"]),)
        subprocess.Popen([sys.executable, "-c", script, %r, params["tag"]])
        ctx.wait(600)

    @command("BLOCKS_IN_A_WORKER", process=True)
    def blocks_in_a_worker(params):
        subprocess.run(sleeper(params["tag"]))

    @command("BACKGROUND")
    def background(params):
        return subprocess.Popen(sleeper(params["tag"])).pid
''' % (MARK, MARK))


def marked(tag):
    """Pids of the processes whose command line carries MARK and `tag` (orphans included: the whole table)."""
    out = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "args="], stdout=subprocess.PIPE, check=True).stdout
    pids = []
    for line in out.decode("utf-8", "replace").splitlines():
        pid, _, args = line.strip().partition(" ")
        if MARK in args and args.split()[-1] == tag:
            pids.append(int(pid))
    return pids


def until(what, probe):
    """Polls `probe` (every 20 ms, at most TIMEOUT seconds) until it is true; fails naming `what`."""
    done = threading.Event()
    for _ in range(int(TIMEOUT / 0.02)):
        value = probe()
        if value:
            return value
        done.wait(0.02)
    raise AssertionError("timed out waiting for " + what)


@unittest.skipUnless(os.name == "posix", "counts processes with ps (POSIX); Windows ends the tree with taskkill /T")
class CancelledChildrenTest(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()
        config = self.tmp.write("config.json", json.dumps({"processWorkers": {"cancelGraceMs": 200}}))
        self.proc = Subprocess()
        self.c = self.proc.client
        self.c.initialize(handlersModule=self.tmp.write("handlers.py", HANDLERS), configFile=config)

    def tearDown(self):
        self.proc.close()
        self.tmp.cleanup()

    def cancelled(self, command_type, tag, programs):
        """Starts `command_type`, waits for its `programs` to run, cancels it; returns the reply's error."""
        rid = self.c.request_async("aios/execute", {"commandType": command_type, "parameters": {"tag": tag}})
        until("%d program(s) of %s" % (programs, command_type), lambda: len(marked(tag)) == programs)
        self.c.notify("$/cancelRequest", {"id": rid})
        return self.c.wait_response(rid)["error"]

    def test_a_thread_handler_blocked_on_a_program_has_it_ended(self):
        self.assertEqual(self.cancelled("BLOCKS", "blocks", 1)["code"], errors.REQUEST_CANCELLED)
        self.assertEqual(until("no program left", lambda: marked("blocks") == [] or None), True)

    def test_a_thread_handler_that_returns_on_the_cancel_has_what_it_left_ended_with_its_children(self):
        self.assertEqual(self.cancelled("LEAVES", "leaves", 2)["code"], errors.REQUEST_CANCELLED)
        self.assertEqual(marked("leaves"), [], "ended before the reply")

    def test_a_process_handler_that_ignores_the_cancel_has_its_worker_ended_with_its_programs(self):
        error = self.cancelled("BLOCKS_IN_A_WORKER", "worker", 1)
        self.assertEqual(error["code"], errors.REQUEST_CANCELLED)
        self.assertIn("ignored the cancellation for 200 ms", error["message"])
        self.assertEqual(marked("worker"), [], "ended with the worker")
        self.assertEqual(self.c.result("aios/health")["processWorkers"]["terminated"], 1)

    def test_a_program_a_call_starts_on_purpose_is_left_alone(self):
        pid = self.c.result("aios/execute", {"commandType": "BACKGROUND", "parameters": {"tag": "kept"}})["result"]
        try:
            self.assertEqual(marked("kept"), [pid])
        finally:
            os.kill(pid, 9)


if __name__ == "__main__":
    unittest.main()
