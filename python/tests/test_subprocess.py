"""The real process: `python -m aios_service` over pipes, as the extension runs it."""

import glob
import json
import os
import shutil
import textwrap
import unittest

from aios_service import errors
from tests.support import PYTHON_DIR, Subprocess, TempDir, frame

HANDLERS = textwrap.dedent('''
    import os, subprocess, sys
    from aios_service import command

    @command("NOISY")
    def noisy(params):
        print("print() from a handler")
        sys.stdout.write("sys.stdout.write from a handler\\n")
        os.write(1, b"os.write(1) from a handler\\n")
        subprocess.run([sys.executable, "-c", "print('a child process')"], check=True)
        return {"stdin": sys.stdin.read()}
''')


LOOPING = "while True:\n    pass\n"

BIG = textwrap.dedent('''
    from aios_service import command, control_command

    @command("BIG")
    def big(params):
        return "x" * params["n"]

    @command("BIG_IN_A_WORKER", process=True)
    def big_in_a_worker(params):
        return "x" * params["n"]

    @control_command("big_control")
    def big_control(arguments, ctx):
        return "x" * arguments["n"]
''')


class SubprocessTest(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()
        self.proc = None

    def tearDown(self):
        if self.proc is not None:
            self.proc.close()
        self.tmp.cleanup()

    def start(self, **options):
        self.proc = Subprocess(args=["--stdio"])
        self.c = self.proc.client
        return self.c.initialize(**options)

    def test_full_session_and_clean_exit(self):
        self.assertEqual(self.start()["serverInfo"]["name"], "aios-service")
        result = self.c.result("aios/execute", {"commandId": "e1", "commandType": "ECHO", "priority": "NORMAL",
                                                "parameters": {"hello": "wörld"}})
        self.assertEqual(result["result"], {"hello": "wörld"})
        text = self.c.result("aios/execute", {"commandId": "i1", "commandType": "AI_INFERENCE", "priority": "HIGH",
                                              "parameters": {"prompt": "The machine", "maxTokens": 8, "seed": 1}})
        self.assertEqual(text["result"]["tokens"], 8)
        health = self.c.result("aios/health")
        self.assertEqual(health["pid"], self.proc.proc.pid)
        self.assertIsNone(self.c.result("shutdown"))
        self.c.notify("exit")
        self.assertEqual(self.proc.wait(), 0)
        self.assertIn("ready", self.proc.stderr_text())

    def test_own_bytecode_is_kept_but_the_workspace_gets_none_under_dontwritebytecode(self):
        # A copy of the package, so the check does not depend on what earlier runs left in the repository.
        python_dir = os.path.join(self.tmp.path, "ext")
        shutil.copytree(os.path.join(PYTHON_DIR, "aios_service"), os.path.join(python_dir, "aios_service"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        os.mkdir(os.path.join(self.tmp.path, ".aios"))
        self.tmp.write(".aios/helper.py", "VALUE = 41\n")
        handlers = self.tmp.write(".aios/handlers.py", "from aios_service import command\nimport helper\n\n"
                                  "@command('ANSWER')\ndef answer(params):\n    return helper.VALUE + 1\n")
        self.proc = Subprocess(extra_env={"PYTHONDONTWRITEBYTECODE": "1"}, python_dir=python_dir)
        self.c = self.proc.client
        self.c.initialize(handlersModule=handlers, workspaceFolder=self.tmp.path)
        result = self.c.result("aios/execute", {"commandId": "a", "commandType": "ANSWER", "priority": "NORMAL",
                                                "parameters": {}})
        self.assertEqual(result["result"], 42)
        compiled = {os.path.basename(f).split(".")[0]
                    for f in glob.glob(os.path.join(python_dir, "aios_service", "__pycache__", "*.pyc"))}
        self.assertTrue({"server", "service", "framing", "ngram", "pool", "builtin_handlers"} <= compiled, compiled)
        self.assertFalse(os.path.exists(os.path.join(self.tmp.path, ".aios", "__pycache__")))

    def test_importing_the_package_leaves_the_bytecode_setting_alone(self):
        # A user's own tests import the decorators; only the service itself keeps its bytecode.
        import subprocess
        import sys
        out = subprocess.run([sys.executable, "-B", "-c", "import sys, aios_service; print(sys.dont_write_bytecode)"],
                             cwd=PYTHON_DIR, capture_output=True, text=True, check=True)
        self.assertEqual(out.stdout.strip(), "True")

    def test_exit_codes_without_shutdown(self):
        self.start()
        self.c.notify("exit")
        self.assertEqual(self.proc.wait(), 1)

    def test_end_of_input_exits(self):
        self.start()
        self.proc.close_stdin()
        self.assertEqual(self.proc.wait(), 1)

    def test_bad_bytes_never_kill_the_process(self):
        self.start()
        c = self.c
        c.send_raw(b"Content-Length: 12x\r\n\r\n{}")
        self.assertEqual(c.wait_response(None)["error"]["code"], errors.PARSE_ERROR)
        c.send_raw(b"Content-Type: application/json\r\n\r\n{}")
        self.assertIn("missing Content-Length", c.wait_response(None)["error"]["message"])
        c.send_raw(frame(b"{not json"))
        self.assertIn("not valid JSON", c.wait_response(None)["error"]["message"])
        c.send_raw(frame(b"\xff\xfe"))
        self.assertIn("UTF-8", c.wait_response(None)["error"]["message"])
        c.send({"jsonrpc": "2.0", "id": 5, "method": "aios/unknown"})
        self.assertEqual(c.wait_response(5)["error"]["code"], errors.METHOD_NOT_FOUND)
        c.send({"jsonrpc": "2.0", "id": 6, "method": "aios/execute", "params": {"commandType": 42}})
        self.assertEqual(c.wait_response(6)["error"]["code"], errors.INVALID_PARAMS)
        # 9 MiB: over the default 8 MiB limit; skipped as it streams, answered with its id
        big = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "aios/execute",
                          "params": {"commandType": "ECHO", "parameters": {"b": "x" * (9 << 20)}}}).encode()
        c.send_raw(frame(big))
        error = c.wait_response(7)["error"]
        self.assertEqual(error["code"], errors.MESSAGE_TOO_LARGE)
        self.assertIn("8388608", error["message"])
        self.assertEqual(c.result("aios/health")["status"], "healthy")
        self.assertEqual(c.framing_errors, [])  # everything the service wrote was well framed

    def test_cancellation_across_the_pipe(self):
        self.start()
        rid = self.c.request_async("aios/execute", {"commandId": "s", "commandType": "SLEEP", "priority": "LOW",
                                                    "parameters": {"seconds": 600}})
        health_rid = self.c.request_async("aios/health")
        self.assertEqual(self.c.wait_response(health_rid)["result"]["status"], "healthy")  # not stuck behind it
        self.c.notify("$/cancelRequest", {"id": rid})
        self.assertEqual(self.c.wait_response(rid)["error"]["code"], errors.REQUEST_CANCELLED)

    def test_stray_output_from_handlers_goes_to_stderr(self):
        self.start(handlersModule=self.tmp.write("handlers.py", HANDLERS))
        result = self.c.result("aios/execute", {"commandType": "NOISY"})
        self.assertEqual(result["result"], {"stdin": ""})  # stdin is not the protocol pipe
        self.assertEqual(self.c.result("aios/health")["status"], "healthy")
        self.assertEqual(self.c.framing_errors, [])
        self.assertIsNone(self.c.result("shutdown"))
        self.c.notify("exit")
        self.assertEqual(self.proc.wait(), 0)
        err = self.proc.stderr_text()
        for text in ("print() from a handler", "sys.stdout.write", "os.write(1)", "a child process"):
            self.assertIn(text, err)

    def test_a_handlers_module_that_never_finishes_importing_ends_the_service_naming_the_file(self):
        from aios_service.service import EXIT_HANDLERS_IMPORT_TIMEOUT
        handlers = self.tmp.write("handlers.py", LOOPING)
        config = self.tmp.write("config.json", json.dumps({"limits": {"importTimeoutMs": 300}}))
        self.start(handlersModule=handlers, configFile=config)  # answered before the import starts
        record = self.c.wait_notification("window/logMessage", lambda p: "did not finish" in p["message"])
        self.assertEqual(record["type"], 1, "an error")
        self.assertIn("Importing the workspace handlers module %s did not finish within 300 ms "
                      "(limits.importTimeoutMs)" % handlers, record["message"])
        self.assertEqual(self.proc.wait(), EXIT_HANDLERS_IMPORT_TIMEOUT)
        self.assertIn("did not finish within 300 ms", self.proc.stderr_text())

    def test_a_reload_that_never_finishes_importing_ends_the_service_too(self):
        from aios_service.service import EXIT_HANDLERS_IMPORT_TIMEOUT
        handlers = self.tmp.write("handlers.py", "from aios_service import command\n")
        config = self.tmp.write("config.json", json.dumps({"limits": {"importTimeoutMs": 300}}))
        self.start(handlersModule=handlers, configFile=config)
        self.assertEqual(self.c.result("aios/health")["handlers"]["loaded"], True)
        self.tmp.write("handlers.py", LOOPING)
        rid = self.c.request_async("aios/control", {"operation": "RELOAD_CONFIG", "parameters": {}})
        self.assertEqual(self.c.result("aios/health")["status"], "healthy", "the reader still answers meanwhile")
        self.c.wait_notification("window/logMessage", lambda p: ("module %s did not finish" % handlers) in p["message"])
        self.assertEqual(self.proc.wait(), EXIT_HANDLERS_IMPORT_TIMEOUT)
        self.c.wait_closed()
        self.assertNotIn(json.dumps(rid), self.c.responses, "the reload never answered: the process ended")

    def test_a_result_over_max_message_bytes_is_refused_with_its_size_and_the_service_goes_on(self):
        config = self.tmp.write("config.json", json.dumps({"limits": {"maxMessageBytes": 4096}}))
        self.start(handlersModule=self.tmp.write("handlers.py", BIG), configFile=config)
        for command_type in ("BIG", "BIG_IN_A_WORKER"):
            error = self.c.error("aios/execute", {"commandId": "b", "commandType": command_type,
                                                  "parameters": {"n": 5000}})
            self.assertEqual(error["code"], errors.MESSAGE_TOO_LARGE)
            self.assertIn("Handler for %s returned 5002 bytes of JSON, more than limits.maxMessageBytes (4096)"
                          % command_type, error["message"])
            self.assertEqual(error["data"], {"commandId": "b", "commandType": command_type, "bytes": 5002,
                                             "limit": 4096})
            result = self.c.result("aios/execute", {"commandType": command_type, "parameters": {"n": 4000}})
            self.assertEqual(len(result["result"]), 4000)
        error = self.c.error("aios/control", {"operation": "CUSTOM_COMMAND",
                                              "parameters": {"command": "big_control", "arguments": {"n": 5000}}})
        self.assertEqual((error["code"], error["data"]), (errors.MESSAGE_TOO_LARGE,
                                                          {"command": "big_control", "bytes": 5002, "limit": 4096}))
        self.assertEqual(self.c.result("aios/health")["bcm"]["BIG"]["errors"], 1)
        self.assertEqual(self.c.framing_errors, [])

    def test_version_flag(self):
        proc = Subprocess(args=["--version"])
        try:
            self.assertEqual(proc.wait(), 0)
            self.assertIn("aios-service 0.1.0", proc.stderr_text())
        finally:
            proc.close()


if __name__ == "__main__":
    unittest.main()
