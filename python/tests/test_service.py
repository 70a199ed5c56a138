"""The service end to end in-process: a Server on a thread, driven through the real framing."""

import json
import os
import textwrap
import threading
import unittest

from aios_service import errors
from aios_service.registry import REGISTRY, WORKSPACE
from aios_service.service import CONTROL_OPERATIONS
from tests.support import InProcess, TempDir, frame

HANDLERS = textwrap.dedent('''
    import logging
    from aios_service import command, control_command, ParamsError

    log = logging.getLogger(__name__)
    calls = []

    @command("WORD_COUNT", description="Count words in parameters.text.",
             parameters={"text": "string: the text to count"}, example={"text": "one two"})
    def word_count(params, ctx):
        text = params.get("text")
        if not isinstance(text, str):
            raise ParamsError("parameters.text must be a string")
        log.debug("counting %d characters", len(text))
        return {"words": len(text.split())}

    @command("BOOM")
    def boom(params):
        """Always fails."""
        raise RuntimeError("kaboom")

    @command("NOT_JSON")
    def not_json(params):
        return {"value": object()}

    @command("PRINTS")
    def prints(params):
        print("stray output from a handler")
        return "printed"

    @control_command("remember", description="Store arguments.", parameters={"k": "any: stored"},
                     example={"k": 1}, replay=True)
    def remember(arguments, ctx):
        calls.append(arguments)
        return {"stored": len(calls)}

    @control_command("explode")
    def explode(arguments):
        raise ValueError("no")
''')


class ServiceTestCase(unittest.TestCase):
    def setUp(self):
        # One registry per process (a service serves one workspace): forget earlier tests' workspace handlers.
        REGISTRY.replace_source(WORKSPACE, ({}, {}))
        self.tmp = TempDir()
        self.host = InProcess()
        self.c = self.host.client

    def tearDown(self):
        self.host.close()
        self.tmp.cleanup()

    def init(self, config=None, handlers=None, **options):
        if config is not None:
            options["configFile"] = self.tmp.write("config.json", config if isinstance(config, str)
                                                   else json.dumps(config))
        if handlers is not None:
            options["handlersModule"] = self.tmp.write("handlers.py", handlers)
        result = self.c.initialize(**options)
        # The reader imports the handlers right after the initialize reply, before it reads the next request: once
        # this answers, a test may change the files without racing that import.
        self.health()
        return result

    def execute(self, command_type, parameters=None, **extra):
        params = {"commandId": extra.pop("commandId", "cmd-" + command_type), "commandType": command_type,
                  "priority": extra.pop("priority", "NORMAL"), "parameters": parameters or {}}
        params.update(extra)
        return self.c.request("aios/execute", params)

    def control(self, operation, value=None, parameters=None):
        params = {"operation": operation, "timestamp": "2026-11-27T00:00:00Z", "source": "test",
                  "commandId": "ctl-" + operation}
        if value is not None:
            params["value"] = value
        if parameters is not None:
            params["parameters"] = parameters
        return self.c.request("aios/control", params)

    def ok_control(self, operation, value=None, parameters=None):
        reply = self.control(operation, value, parameters)
        self.assertIn("result", reply, reply)
        self.assertTrue(reply["result"]["ok"])
        return reply["result"]

    def health(self):
        return self.c.result("aios/health")

    def wait_busy(self, n):
        # The pool reports busy workers; poll health (an ordering wait, not a timing assertion).
        for _ in range(3000):
            if self.health()["workers"]["busy"] >= n:
                return
            threading.Event().wait(0.01)
        self.fail("workers never became busy")


class LifecycleTest(ServiceTestCase):
    def test_requests_before_initialize_are_refused(self):
        error = self.c.error("aios/health")
        self.assertEqual(error["code"], errors.SERVER_NOT_INITIALIZED)
        self.assertIn("send 'initialize'", error["message"])

    def test_initialize_shutdown_exit(self):
        result = self.init()
        self.assertEqual(result, {"capabilities": {}, "serverInfo": {"name": "aios-service", "version": "0.1.0"}})
        self.assertEqual(self.c.error("initialize", {})["code"], errors.INVALID_REQUEST)
        log = self.c.wait_notification("window/logMessage", lambda p: "ready" in p["message"])
        self.assertEqual(log["type"], 3)
        self.assertIsNone(self.c.result("shutdown"))
        self.assertEqual(self.c.error("aios/health")["code"], errors.INVALID_REQUEST)
        self.c.notify("exit")
        self.host.thread.join(30)
        self.assertEqual(self.host.exit_code, 0)

    def test_exit_without_shutdown_is_code_1(self):
        self.init()
        self.c.notify("exit")
        self.host.thread.join(30)
        self.assertEqual(self.host.exit_code, 1)

    def test_end_of_input_ends_the_loop(self):
        self.init()
        self.host.to_server.close()
        self.host.thread.join(30)
        self.assertEqual(self.host.exit_code, 1)

    def test_bad_initialization_options(self):
        self.assertEqual(self.c.error("initialize", {"initializationOptions": {"configFile": 3}})["code"],
                         errors.INVALID_PARAMS)
        self.assertEqual(self.c.error("initialize", {"initializationOptions": []})["code"], errors.INVALID_PARAMS)
        self.init()  # still possible after a refused attempt

    def test_invalid_config_file_at_start_uses_defaults_and_says_so(self):
        self.init(config='{"workers": "many"}')
        log = self.c.wait_notification("window/logMessage", lambda p: "workers" in p["message"])
        self.assertEqual(log["type"], 1)
        self.assertIn("using the defaults", log["message"])
        self.assertEqual(self.health()["config"]["workers"], 4)

    def test_log_level_option_wins_over_the_file(self):
        self.init(config={"logLevel": "ERROR"}, logLevel="debug")
        self.assertEqual(self.health()["logLevel"], "DEBUG")


class BadInputTest(ServiceTestCase):
    def setUp(self):
        ServiceTestCase.setUp(self)
        self.init()

    def null_error(self):
        return self.c.wait_response(None)["error"]

    def test_invalid_json_and_utf8(self):
        self.c.send_raw(frame(b'{"jsonrpc": "2.0", "id": 1,'))
        error = self.null_error()
        self.assertEqual(error["code"], errors.PARSE_ERROR)
        self.assertIn("not valid JSON", error["message"])
        self.c.send_raw(frame(b'{"a": "\xff"}'))
        self.assertIn("UTF-8", self.null_error()["message"])
        self.c.send_raw(frame(b'{"jsonrpc": "2.0", "id": 1, "method": "aios/health", "params": {"x": NaN}}'))
        self.assertEqual(self.null_error()["code"], errors.PARSE_ERROR)
        self.assertEqual(self.health()["status"], "healthy")  # still serving

    def test_framing_errors_get_replies(self):
        self.c.send_raw(b"Content-Length: nope\r\n\r\n{}")
        self.assertEqual(self.null_error()["code"], errors.PARSE_ERROR)
        self.c.send_raw(b"Content-Type: x\r\n\r\n{}")
        self.assertIn("missing Content-Length", self.null_error()["message"])
        self.assertEqual(self.health()["status"], "healthy")

    def test_oversized_body_is_answered_with_its_id(self):
        self.control("RELOAD_CONFIG", parameters={"config_file": self.tmp.write(
            "small.json", json.dumps({"limits": {"maxMessageBytes": 1024}}))})
        reply = self.execute("ECHO", {"blob": "x" * 4096})
        self.assertEqual(reply["error"]["code"], errors.MESSAGE_TOO_LARGE)
        self.assertIn("limits.maxMessageBytes", reply["error"]["message"])
        self.assertEqual(self.execute("ECHO", {"small": 1})["result"]["result"], {"small": 1})

    def test_invalid_requests(self):
        cases = [([1, 2], errors.INVALID_REQUEST, None),
                 ("text", errors.INVALID_REQUEST, None),
                 ({"jsonrpc": "2.0", "id": 1.5, "method": "aios/health"}, errors.INVALID_REQUEST, None),
                 ({"jsonrpc": "2.0", "id": True, "method": "aios/health"}, errors.INVALID_REQUEST, None),
                 ({"jsonrpc": "1.0", "id": 7, "method": "aios/health"}, errors.INVALID_REQUEST, 7),
                 ({"jsonrpc": "2.0", "id": 8}, errors.INVALID_REQUEST, 8),
                 ({"jsonrpc": "2.0", "id": 9, "method": 5}, errors.INVALID_REQUEST, 9),
                 ({"jsonrpc": "2.0", "id": "s", "method": "aios/health", "params": [1]}, errors.INVALID_PARAMS, "s"),
                 ({"jsonrpc": "2.0", "id": "t", "method": "aios/health", "params": [{}, {}]}, errors.INVALID_PARAMS,
                  "t"),
                 ({"jsonrpc": "2.0", "id": 10, "method": "aios/nothing"}, errors.METHOD_NOT_FOUND, 10)]
        for msg, code, rid in cases:
            self.c.send(msg)
            reply = self.c.wait_response(rid)
            self.assertEqual(reply["error"]["code"], code, msg)
            self.assertTrue(reply["error"]["message"], msg)
        for positional in ([None], [], [{}]):  # what vscode-jsonrpc sends for an undefined / positional param
            self.c.send({"jsonrpc": "2.0", "id": "p", "method": "aios/health", "params": positional})
            self.assertEqual(self.c.wait_response("p")["result"]["status"], "healthy")
        self.c.send({"jsonrpc": "2.0", "id": 99, "result": {}})  # a stray response is ignored
        self.c.notify("unknown/notification", {"x": 1})  # no reply to notifications, ever
        self.assertEqual(self.health()["status"], "healthy")
        self.assertEqual(self.c.responses.get("99"), None)

    def test_execute_param_types(self):
        cases = [({"commandType": 5}, "'commandType' must be a non-empty string"),
                 ({"commandType": ""}, "'commandType' must be a non-empty string"),
                 ({"commandType": "ECHO", "commandId": 3}, "'commandId' must be a string"),
                 ({"commandType": "ECHO", "priority": "URGENT"}, "'priority' must be one of HIGH, NORMAL, LOW"),
                 ({"commandType": "ECHO", "parameters": [1]}, "'parameters' must be an object"),
                 ({"commandType": "SLEEP", "parameters": {"seconds": "1"}}, "parameters.seconds must be a number"),
                 ({"commandType": "SLEEP", "parameters": {"seconds": -1}}, "parameters.seconds must be a number"),
                 ({"commandType": "AI_INFERENCE", "parameters": {"maxTokens": 0}}, "parameters.maxTokens"),
                 ({"commandType": "AI_INFERENCE", "parameters": {"prompt": 1}}, "parameters.prompt")]
        for params, message in cases:
            error = self.c.error("aios/execute", params)
            self.assertEqual(error["code"], errors.INVALID_PARAMS, params)
            self.assertIn(message, error["message"])

    def test_unknown_command_type(self):
        error = self.execute("LAUNCH_ROCKET")["error"]
        self.assertEqual(error["code"], errors.UNKNOWN_COMMAND_TYPE)
        self.assertIn("Available: AI_INFERENCE, ECHO, SLEEP", error["message"])
        self.assertEqual(error["data"], {"commandId": "cmd-LAUNCH_ROCKET", "commandType": "LAUNCH_ROCKET"})

    def test_control_param_errors(self):
        cases = [("DESTROY", None, None, errors.UNKNOWN_OPERATION),
                 (None, None, None, errors.UNKNOWN_OPERATION),
                 ("FLUSH_CACHE", None, [1], errors.INVALID_PARAMS),
                 ("UPDATE_LOG_LEVEL", "LOUD", None, errors.INVALID_PARAMS),
                 ("UPDATE_LOG_LEVEL", "DEBUG", {"persistent": "yes"}, errors.INVALID_PARAMS),
                 ("UPDATE_LOG_LEVEL", "DEBUG", {"target_module": 3}, errors.INVALID_PARAMS),
                 ("FLUSH_CACHE", None, {"cache_type": "disk"}, errors.INVALID_PARAMS),
                 ("FLUSH_CACHE", None, {"force": 1}, errors.INVALID_PARAMS),
                 ("HEALTH_OVERRIDE", "sick", None, errors.INVALID_PARAMS),
                 ("HEALTH_OVERRIDE", "unhealthy", {"duration": -1}, errors.INVALID_PARAMS),
                 ("BCM_RESET", None, {"command_type": 1}, errors.INVALID_PARAMS),
                 ("CUSTOM_COMMAND", None, {}, errors.INVALID_PARAMS),
                 ("CUSTOM_COMMAND", None, {"command": "nope"}, errors.UNKNOWN_CONTROL_COMMAND),
                 ("CUSTOM_COMMAND", None, {"command": "reduce_complexity", "arguments": [1]}, errors.INVALID_PARAMS),
                 ("CUSTOM_COMMAND", None, {"command": "reduce_complexity", "arguments": {"factor": 0}},
                  errors.INVALID_PARAMS),
                 ("CUSTOM_COMMAND", None, {"command": "adjust_throttling", "arguments": {}}, errors.INVALID_PARAMS),
                 ("CUSTOM_COMMAND", None, {"command": "adjust_throttling",
                                           "arguments": {"new_base_delay": 50, "new_max_delay": 10}},
                  errors.INVALID_PARAMS),
                 ("RELOAD_CONFIG", None, {"config_file": "/no/such/file.json"}, errors.CONFIG_INVALID)]
        for operation, value, parameters, code in cases:
            params = {"parameters": parameters} if parameters is not None else {}
            if operation is not None:
                params["operation"] = operation
            if value is not None:
                params["value"] = value
            reply = self.c.request("aios/control", params)
            self.assertIn("error", reply, params)
            self.assertEqual(reply["error"]["code"], code, params)
        self.assertEqual(self.health()["status"], "healthy")


class ExecuteTest(ServiceTestCase):
    def setUp(self):
        ServiceTestCase.setUp(self)
        self.init()

    def test_echo(self):
        result = self.execute("ECHO", {"x": [1, "two", None], "ü": True}, priority="HIGH")["result"]
        self.assertTrue(result["success"])
        self.assertEqual(result["result"], {"x": [1, "two", None], "ü": True})
        self.assertIsInstance(result["durationMs"], float)
        bcm = self.health()["bcm"]["ECHO"]
        self.assertEqual(bcm["calls"], 1)
        self.assertEqual(bcm["bytes"], 2 * len(json.dumps({"x": [1, "two", None], "ü": True}, ensure_ascii=False,
                                                          separators=(",", ":")).encode("utf-8")))

    def test_ai_inference_uses_model_and_result_caches(self):
        params = {"prompt": "The keeper climbed", "maxTokens": 12, "seed": 3}
        first = self.execute("AI_INFERENCE", params)["result"]["result"]
        self.assertEqual(first["tokens"], 12)
        self.assertFalse(first["cached"])
        self.assertTrue(first["text"])
        self.assertEqual(first["model"]["order"], 2)
        cache = self.health()["cache"]
        self.assertEqual((cache["model_cache"]["entries"], cache["model_cache"]["misses"]), (1, 1))
        self.assertEqual((cache["result_cache"]["entries"], cache["result_cache"]["misses"]), (1, 1))
        second = self.execute("AI_INFERENCE", params)["result"]["result"]
        self.assertTrue(second["cached"])
        self.assertEqual(second["text"], first["text"])
        self.assertEqual(self.health()["cache"]["result_cache"]["hits"], 1)
        other = self.execute("AI_INFERENCE", dict(params, seed=4))["result"]["result"]
        self.assertFalse(other["cached"])
        self.assertEqual(self.health()["cache"]["model_cache"]["hits"], 1)

    def test_handlers_get_priority_and_default_command_id(self):
        reply = self.c.request("aios/execute", {"commandType": "ECHO"})
        self.assertEqual(reply["result"]["result"], {})

    def test_cancel_running_sleep(self):
        rid = self.c.request_async("aios/execute", {"commandId": "s1", "commandType": "SLEEP",
                                                    "priority": "LOW", "parameters": {"seconds": 600}})
        self.wait_busy(1)
        self.c.notify("$/cancelRequest", {"id": rid})
        reply = self.c.wait_response(rid)
        self.assertEqual(reply["error"]["code"], errors.REQUEST_CANCELLED)
        self.assertEqual(reply["error"]["data"]["commandId"], "s1")
        self.c.notify("$/cancelRequest", {"id": rid})  # late cancel: ignored
        self.c.notify("$/cancelRequest", {"id": 12345})
        self.assertEqual(self.health()["bcm"]["SLEEP"]["errors"], 1)

    def test_health_and_control_answer_while_executes_run_and_queued_ones_cancel_at_once(self):
        workers = self.health()["config"]["workers"]
        sleeps = [self.c.request_async("aios/execute", {"commandType": "SLEEP", "parameters": {"seconds": 600}})
                  for _ in range(workers + 1)]
        self.wait_busy(workers)
        health = self.health()
        self.assertEqual(health["workers"], {"max": workers, "busy": workers, "queued": 1})
        self.assertTrue(self.ok_control("HEALTH_OVERRIDE", "unhealthy")["state"]["overridden"])
        self.assertEqual(self.c.result("aios/commands")["controlOperations"], list(CONTROL_OPERATIONS))
        # the queued one is answered on cancel without waiting for a free worker
        self.c.notify("$/cancelRequest", {"id": sleeps[-1]})
        self.assertIn("before it started", self.c.wait_response(sleeps[-1])["error"]["message"])
        for rid in sleeps[:-1]:
            self.c.notify("$/cancelRequest", {"id": rid})
        for rid in sleeps[:-1]:
            self.assertEqual(self.c.wait_response(rid)["error"]["code"], errors.REQUEST_CANCELLED)

    def test_shutdown_cancels_and_answers_in_flight_executes_first(self):
        rid = self.c.request_async("aios/execute", {"commandType": "SLEEP", "parameters": {"seconds": 600}})
        self.wait_busy(1)
        self.assertIsNone(self.c.result("shutdown"))
        self.assertEqual(self.c.wait_response(rid)["error"]["code"], errors.REQUEST_CANCELLED)

    def test_concurrent_executes_all_answer(self):
        ids = [self.c.request_async("aios/execute", {"commandType": "ECHO", "parameters": {"i": i}})
               for i in range(200)]
        for i, rid in enumerate(ids):
            self.assertEqual(self.c.wait_response(rid)["result"]["result"], {"i": i})
        self.assertEqual(self.health()["bcm"]["ECHO"]["calls"], 200)


class InlineTest(ServiceTestCase):
    """ECHO (inline=True) is answered by the reader thread, but never ahead of executes waiting for a thread."""

    def test_echo_waits_its_turn_behind_queued_executes(self):
        self.init({"workers": 1})
        running = self.c.request_async("aios/execute", {"commandType": "SLEEP", "parameters": {"seconds": 600}})
        self.wait_busy(1)
        queued = self.c.request_async("aios/execute", {"commandType": "SLEEP", "parameters": {"seconds": 600}})
        echo = self.c.request_async("aios/execute", {"commandType": "ECHO", "parameters": {"after": "queued"}})
        self.assertEqual(self.health()["workers"]["queued"], 2, "the ECHO is queued behind the SLEEP")
        self.c.notify("$/cancelRequest", {"id": running})
        self.assertEqual(self.c.wait_response(running)["error"]["code"], errors.REQUEST_CANCELLED)
        self.wait_busy(1)  # the queued SLEEP runs now: the ECHO is still behind it
        self.assertEqual(self.health()["workers"]["queued"], 1)
        self.assertNotIn(json.dumps(echo), self.c.responses)
        self.c.notify("$/cancelRequest", {"id": queued})
        self.assertEqual(self.c.wait_response(echo)["result"]["result"], {"after": "queued"})
        self.assertEqual(self.health()["bcm"]["ECHO"]["calls"], 1)

    def test_inline_echo_refuses_an_id_in_flight_and_counts_its_cost(self):
        self.init()
        rid = self.c.request_async("aios/execute", {"commandType": "SLEEP", "parameters": {"seconds": 600}})
        self.wait_busy(1)
        self.c.send({"jsonrpc": "2.0", "id": rid, "method": "aios/execute", "params": {"commandType": "ECHO"}})
        self.assertEqual(self.c.wait_response(rid)["error"]["code"], errors.INVALID_REQUEST)
        self.c.notify("$/cancelRequest", {"id": rid})
        self.assertEqual(self.c.wait_response(rid)["error"]["code"], errors.REQUEST_CANCELLED)
        self.assertEqual(self.execute("ECHO", {"a": 1})["result"]["result"], {"a": 1})
        self.assertEqual(self.health()["bcm"]["ECHO"]["calls"], 1)

    def test_only_builtins_may_be_inline(self):
        self.init(handlers="from aios_service import command\n\n@command('FAST', inline=True)\n"
                           "def fast(params):\n    return params\n")
        self.assertIn("inline=True is only for the service's built-in handlers", self.health()["handlers"]["error"])


class BatchedRepliesTest(unittest.TestCase):
    """The replies to the requests one read brings in leave in one write."""

    def test_one_write_per_read(self):
        from tests.support import BytePipe, Client
        from aios_service.server import Server
        REGISTRY.replace_source(WORKSPACE, ({}, {}))
        to_server, from_server = BytePipe(), BytePipe()
        writes = []

        def write(data):
            writes.append(data)
            from_server.write(data)
        server = Server(to_server.read, write, log_stream=__import__("io").StringIO())
        thread = threading.Thread(target=server.serve, daemon=True)
        thread.start()
        client = Client(to_server.write, from_server.read)
        try:
            client.initialize()
            client.result("aios/health")
            before = len(writes)
            # Ten requests in one write, so the reader gets them in one read.
            to_server.write(b"".join(frame({"jsonrpc": "2.0", "id": 100 + i, "method": "aios/execute",
                                            "params": {"commandType": "ECHO", "parameters": {"i": i}}})
                                     for i in range(9)) +
                            frame({"jsonrpc": "2.0", "id": 109, "method": "aios/health"}))
            for i in range(9):
                self.assertEqual(client.wait_response(100 + i)["result"]["result"], {"i": i})
            self.assertEqual(client.wait_response(109)["result"]["status"], "healthy")
            self.assertEqual(len(writes) - before, 1, "one write for the ten replies")
        finally:
            to_server.close()
            thread.join(30)


class HintsTest(ServiceTestCase):
    def test_every_builtin_has_hints_and_an_example_that_runs(self):
        self.init()
        commands = self.c.result("aios/commands")
        builtin_types = [c for c in commands["commandTypes"] if c["source"] == "builtin"]
        builtin_controls = [c for c in commands["controlCommands"] if c["source"] == "builtin"]
        self.assertEqual([c["name"] for c in builtin_types], ["AI_INFERENCE", "ECHO", "SLEEP"])
        self.assertEqual({c["name"]: c["replay"] for c in builtin_controls},
                         {"adjust_throttling": False, "reduce_complexity": True})
        for info in builtin_types + builtin_controls:
            self.assertTrue(info["description"] and info["parameters"] and info["example"], info)
            for name, hint in info["parameters"].items():
                self.assertRegex(hint, r"^(string|number|integer|any JSON value)\b", (info["name"], name))
        # The examples are real: each one runs as it stands (AI_INFERENCE's after reduce_complexity's, so the
        # factor it sets shows in the result).
        for info in builtin_controls:
            arguments = {"command": info["name"], "arguments": info["example"]}
            reply = self.ok_control("CUSTOM_COMMAND", parameters=arguments)
            self.assertEqual(reply["detail"]["command"], info["name"])
        self.assertEqual(self.health()["inference"]["complexityFactor"], 0.5)
        self.c.wait_notification("aios/adjustThrottling")
        for info in builtin_types:
            reply = self.execute(info["name"], info["example"])
            self.assertIn("result", reply, (info["name"], reply))
        inference = next(c for c in builtin_types if c["name"] == "AI_INFERENCE")
        generated = self.execute("AI_INFERENCE", inference["example"])["result"]["result"]
        self.assertEqual((generated["requestedMaxTokens"], generated["maxTokens"]), (20, 10))


class ConcurrencyTest(ServiceTestCase):
    """The pool follows the extension's aios.maxConcurrency: max(config.workers, maxConcurrency) threads."""

    BARRIER = textwrap.dedent('''
        import threading
        from aios_service import command

        barrier = threading.Barrier(8, timeout=20)

        @command("MEET", description="Return once eight MEETs run at the same time.")
        def meet(params):
            barrier.wait()
            return "met"
    ''')

    def wait_workers(self, **expected):
        for _ in range(3000):
            workers = self.health()["workers"]
            if all(workers[k] == v for k, v in expected.items()):
                return workers
            threading.Event().wait(0.01)
        self.fail("workers never reached %r (last %r)" % (expected, workers))

    def test_eight_commands_really_run_at_once_with_two_workers_configured(self):
        self.init(config={"workers": 2}, handlers=self.BARRIER, maxConcurrency=8)
        health = self.health()
        self.assertEqual((health["config"]["workers"], health["workers"]["max"]), (2, 8))
        ids = [self.c.request_async("aios/execute", {"commandType": "MEET"}) for _ in range(8)]
        for rid in ids:  # a barrier of eight: with fewer threads every one would time out with BrokenBarrierError
            self.assertEqual(self.c.wait_response(rid)["result"]["result"], "met")

    def test_set_concurrency_grows_at_once_and_shrinks_gently(self):
        self.init(config={"workers": 2})
        self.assertEqual(self.health()["workers"]["max"], 2)
        sleeps = [self.c.request_async("aios/execute", {"commandType": "SLEEP", "parameters": {"seconds": 600}})
                  for _ in range(5)]
        self.wait_workers(busy=2, queued=3)
        grown = self.c.result("aios/setConcurrency", {"maxConcurrency": 4})
        self.assertEqual(grown["workers"]["max"], 4)
        self.wait_workers(max=4, busy=4, queued=1)  # no new request needed: the queued ones started
        shrunk = self.c.result("aios/setConcurrency", {"maxConcurrency": 1})
        self.assertEqual(shrunk["workers"]["max"], 2)  # never below the config's workers
        self.assertEqual(self.wait_workers(busy=4)["max"], 2)  # running work goes on
        for rid in sleeps:
            self.c.notify("$/cancelRequest", {"id": rid})
        for rid in sleeps:
            self.assertEqual(self.c.wait_response(rid)["error"]["code"], errors.REQUEST_CANCELLED)
        self.wait_workers(busy=0, queued=0)
        # A reload follows the same rule: max(config.workers, maxConcurrency).
        self.c.result("aios/setConcurrency", {"maxConcurrency": 6})
        self.tmp.write("config.json", json.dumps({"workers": 8}))
        self.assertEqual(self.ok_control("RELOAD_CONFIG")["state"]["workers"]["max"], 8)
        self.tmp.write("config.json", json.dumps({"workers": 3}))
        self.assertEqual(self.ok_control("RELOAD_CONFIG")["state"]["workers"]["max"], 6)

    def test_bad_concurrency_is_refused_with_the_range(self):
        for bad in (0, 257, 2.5, True, "4"):
            error = self.c.error("initialize", {"initializationOptions": {"maxConcurrency": bad}})
            self.assertEqual(error["code"], errors.INVALID_PARAMS, bad)
            self.assertIn("initializationOptions.maxConcurrency must be an integer from 1 to 256", error["message"])
        self.init(maxConcurrency=None)  # null: the config's workers alone
        self.assertEqual(self.health()["workers"]["max"], 4)
        for bad in ({}, {"maxConcurrency": 0}, {"maxConcurrency": "8"}):
            error = self.c.error("aios/setConcurrency", bad)
            self.assertEqual(error["code"], errors.INVALID_PARAMS, bad)
            self.assertIn("'maxConcurrency' must be an integer from 1 to 256", error["message"])
        self.assertEqual(self.health()["workers"]["max"], 4)


class LogLevelTest(ServiceTestCase):
    def test_each_level_reaches_the_client_with_its_message_type(self):
        # window/logMessage types: vscode-languageclient 11 logs 5 at debug level (4 would land at info).
        self.init(logLevel="DEBUG")
        import logging
        log = logging.getLogger("aios_handlers.levels")
        log.setLevel(1)  # a custom level below DEBUG (5) must pass too
        for level, expected in ((logging.DEBUG, 5), (logging.INFO, 3), (logging.WARNING, 2), (logging.ERROR, 1),
                                (logging.CRITICAL, 1), (5, 5), (25, 3)):
            log.log(level, "record at %d", level)
            message = self.c.wait_notification("window/logMessage", lambda p: "record at %d" % level in p["message"])
            self.assertEqual(message["type"], expected, level)


class ControlTest(ServiceTestCase):
    def test_every_operation_changes_health_and_replies_with_it(self):
        cfg_path = self.tmp.write("config.json", json.dumps({"logLevel": "INFO", "workers": 3}))
        self.init(configFile=cfg_path)
        for op in CONTROL_OPERATIONS:
            self.assertTrue(hasattr(self, "check_" + op.lower()), op)
        for op in CONTROL_OPERATIONS:
            getattr(self, "check_" + op.lower())(cfg_path)
        # The replies carried the new state; only the change nobody asked for (the expiry) was announced.
        announced = [n["params"]["reason"] for n in self.c.notifications if n["method"] == "aios/stateChanged"]
        self.assertEqual(announced, [])

    def changed(self, reason):
        return self.c.wait_notification("aios/stateChanged", lambda p: p["reason"] == reason)

    def check_update_log_level(self, cfg_path):
        result = self.ok_control("UPDATE_LOG_LEVEL", "debug")
        self.assertEqual(result["state"]["logLevel"], "DEBUG")
        self.assertEqual(result["detail"], {"logLevel": "DEBUG", "target": None, "persisted": False})
        self.assertEqual(self.health()["logLevel"], "DEBUG")
        import logging
        self.assertEqual(logging.getLogger().level, logging.DEBUG)
        self.ok_control("UPDATE_LOG_LEVEL", "ERROR", {"target_module": "aios_handlers.x", "persistent": True})
        self.assertEqual(logging.getLogger("aios_handlers.x").level, logging.ERROR)
        self.assertEqual(self.health()["loggers"], {"aios_handlers.x": "ERROR"})
        self.ok_control("UPDATE_LOG_LEVEL", "WARNING", {"persistent": True})
        self.assertEqual(self.tmp.read_json("config.json"), {"logLevel": "WARNING", "workers": 3,
                                                             "loggers": {"aios_handlers.x": "ERROR"}})

    def check_flush_cache(self, cfg_path):
        self.execute("AI_INFERENCE", {"prompt": "ships", "maxTokens": 5})
        self.assertTrue(self.health()["inference"]["modelLoaded"])
        result = self.ok_control("FLUSH_CACHE", parameters={"cache_type": "model_cache"})
        self.assertEqual(result["detail"]["flushed"], {"model_cache": 1})
        self.assertEqual(result["state"]["cache"]["model_cache"]["entries"], 0)
        self.assertEqual(result["state"]["cache"]["result_cache"]["entries"], 1)
        self.assertFalse(result["state"]["inference"]["modelLoaded"])
        result = self.ok_control("FLUSH_CACHE", parameters={"cache_type": "all", "force": True})
        self.assertEqual(result["state"]["cache"]["result_cache"], {"entries": 0, "hits": 0, "misses": 0,
                                                                    "maxEntries": 256})

    def check_reload_config(self, cfg_path):
        self.tmp.write("config.json", json.dumps({"workers": 5, "inference": {"maxTokens": 10}}))
        state = self.ok_control("RELOAD_CONFIG")["state"]
        self.assertEqual((state["config"]["workers"], state["inference"]["maxTokens"]), (5, 10))
        self.assertEqual(state["logLevel"], "WARNING")  # the file no longer sets it: the run-time level stays
        self.assertEqual(state["workers"]["max"], 5)
        for bad, message in (("{broken", "not valid JSON"), ('{"workers": 0}', "workers must be an integer"),
                             ('{"cache": {"maxEntries": "x"}}', "cache.maxEntries")):
            self.tmp.write("config.json", bad)
            error = self.control("RELOAD_CONFIG")["error"]
            self.assertEqual(error["code"], errors.CONFIG_INVALID)
            self.assertIn(message, error["message"])
            self.assertIn("current config stays", error["message"])
            self.assertEqual(self.health()["config"]["workers"], 5)
        other = self.tmp.write("other.json", json.dumps({"workers": 2, "logLevel": "ERROR"}))
        state = self.ok_control("RELOAD_CONFIG", parameters={"config_file": other})["state"]
        self.assertEqual((state["configFile"], state["config"]["workers"], state["logLevel"]), (other, 2, "ERROR"))

    def check_health_override(self, cfg_path):
        state = self.ok_control("HEALTH_OVERRIDE", "unhealthy")["state"]
        self.assertEqual((state["status"], state["overridden"], state["overrideExpiresAt"]),
                         ("unhealthy", True, None))
        result = self.ok_control("HEALTH_OVERRIDE", "unhealthy", {"duration": 0.2})
        self.assertTrue(result["state"]["overrideExpiresAt"].endswith("Z"))
        expired = self.changed("HEALTH_OVERRIDE_EXPIRED")
        self.assertEqual((expired["state"]["status"], expired["state"]["overridden"]), ("healthy", False))
        self.assertFalse(self.ok_control("HEALTH_OVERRIDE", "healthy")["state"]["status"] == "unhealthy")
        self.assertFalse(self.ok_control("HEALTH_OVERRIDE", "clear")["state"]["overridden"])

    def check_bcm_reset(self, cfg_path):
        self.execute("ECHO", {"a": 1})
        self.execute("ECHO", {"a": 2})
        result = self.ok_control("BCM_RESET")
        before = result["detail"]["previous"]["ECHO"]
        self.assertEqual(before["calls"], 2)
        self.assertGreater(before["bytes"], 0)
        self.assertGreaterEqual(before["cpuSeconds"], 0)
        self.assertEqual(result["state"]["bcm"], {})

    def check_custom_command(self, cfg_path):
        result = self.ok_control("CUSTOM_COMMAND", parameters={"command": "reduce_complexity",
                                                               "arguments": {"factor": 0.5}})
        self.assertEqual(result["detail"]["result"]["complexityFactor"], 0.5)
        inference = result["state"]["inference"]
        self.assertEqual(inference["complexityFactor"], 0.5)
        self.assertEqual(inference["effectiveMaxTokens"], 20)  # other.json leaves maxTokens at 40
        generated = self.execute("AI_INFERENCE", {"prompt": "the sea", "maxTokens": 20})["result"]["result"]
        self.assertEqual((generated["tokens"], generated["requestedMaxTokens"]), (10, 20))
        result = self.ok_control("CUSTOM_COMMAND", parameters={"command": "adjust_throttling", "arguments": {
            "new_max_concurrency": 2, "new_base_delay": 250, "new_max_delay": 4000}})
        sent = self.c.wait_notification("aios/adjustThrottling")
        self.assertEqual(sent, {"maxConcurrency": 2, "baseDelayMs": 250, "maxDelayMs": 4000,
                                "reason": "adjust_throttling", "commandId": "ctl-CUSTOM_COMMAND"})
        self.assertEqual(result["state"]["throttling"]["maxConcurrency"], 2)


class HandlersModuleTest(ServiceTestCase):
    def test_workspace_commands_and_controls(self):
        self.init(handlers=HANDLERS)
        commands = self.c.result("aios/commands")
        by_name = {c["name"]: c for c in commands["commandTypes"]}
        self.assertEqual(by_name["WORD_COUNT"], {"name": "WORD_COUNT", "description": "Count words in "
                                                 "parameters.text.", "source": "workspace",
                                                 "parameters": {"text": "string: the text to count"},
                                                 "example": {"text": "one two"}})
        self.assertEqual((by_name["BOOM"]["description"], by_name["BOOM"]["parameters"], by_name["BOOM"]["example"]),
                         ("Always fails.", {}, {}))
        self.assertEqual(by_name["ECHO"]["source"], "builtin")
        self.assertIn({"name": "remember", "description": "Store arguments.", "source": "workspace",
                       "parameters": {"k": "any: stored"}, "example": {"k": 1}, "replay": True},
                      commands["controlCommands"])
        self.assertFalse({c["name"]: c for c in commands["controlCommands"]}["explode"]["replay"])
        health = self.health()
        self.assertEqual(health["handlers"]["commandTypes"], ["BOOM", "NOT_JSON", "PRINTS", "WORD_COUNT"])
        self.assertTrue(health["handlers"]["loaded"])
        self.assertIn("WORD_COUNT", health["commands"])

        self.assertEqual(self.execute("WORD_COUNT", {"text": "one two three"})["result"]["result"], {"words": 3})
        self.assertEqual(self.execute("WORD_COUNT", {})["error"]["code"], errors.INVALID_PARAMS)
        boom = self.execute("BOOM")["error"]
        self.assertEqual(boom["code"], errors.HANDLER_FAILED)
        self.assertIn("RuntimeError: kaboom", boom["message"])
        self.assertEqual(boom["data"]["exception"], "RuntimeError")
        self.assertEqual(self.execute("NOT_JSON")["error"]["code"], errors.HANDLER_FAILED)
        self.assertEqual(self.health()["bcm"]["BOOM"]["errors"], 1)
        stored = self.ok_control("CUSTOM_COMMAND", parameters={"command": "remember", "arguments": {"k": 1}})
        self.assertEqual(stored["detail"], {"command": "remember", "result": {"stored": 1}})
        exploded = self.control("CUSTOM_COMMAND", parameters={"command": "explode"})["error"]
        self.assertEqual(exploded["code"], errors.HANDLER_FAILED)
        self.assertIn("ValueError: no", exploded["message"])

        # target_module reaches the workspace module's own logger
        self.ok_control("UPDATE_LOG_LEVEL", "DEBUG", {"target_module": "aios_handlers"})
        self.execute("WORD_COUNT", {"text": "a b"})
        self.c.wait_notification("window/logMessage", lambda p: "counting 3 characters" in p["message"])

    def test_broken_module_is_reported_not_fatal(self):
        path = self.tmp.write("handlers.py", "from aios_service import command\n\n@command('OK')\ndef ok(p):\n"
                                             "    return 1\nraise ImportError('missing dependency numpy')\n")
        self.c.initialize(handlersModule=path)
        handlers = self.health()["handlers"]
        self.assertFalse(handlers["loaded"])
        self.assertIn("ImportError: missing dependency numpy (handlers.py, line 6)", handlers["error"])
        self.assertEqual(handlers["errorLocation"], {"file": path, "line": 6, "column": None})
        self.assertNotIn("OK", self.health()["commands"])  # a half-imported module registers nothing
        self.c.wait_notification("window/logMessage", lambda p: p["type"] == 1 and "handlers" in p["message"])
        self.assertEqual(self.execute("ECHO", {"a": 1})["result"]["result"], {"a": 1})

    def handlers_invalid(self):
        error = self.control("RELOAD_CONFIG")["error"]
        self.assertEqual(error["code"], errors.HANDLERS_INVALID, error)
        data = error["data"]
        self.assertEqual(data["handlersModule"], os.path.join(self.tmp.path, "handlers.py"))
        self.assertEqual((data["previousHandlersKept"], data["configApplied"]), (True, True))
        self.assertIn(data["handlersModule"], error["message"])
        self.assertIn("line %d" % data["line"], error["message"])
        self.assertIn("stay in force", error["message"])
        health = self.health()["handlers"]
        self.assertEqual(health["errorLocation"], {"file": data["file"], "line": data["line"],
                                                   "column": data["column"]})
        return error

    def test_syntax_error_and_builtin_clash(self):
        path = self.tmp.write("handlers.py", "import os\n\ndef broken(:\n")
        self.c.initialize(handlersModule=path)
        handlers = self.health()["handlers"]
        self.assertIn("SyntaxError", handlers["error"])
        self.assertIn("(handlers.py, line 3, column", handlers["error"])
        self.assertEqual(handlers["errorLocation"]["file"], path)
        self.assertEqual(handlers["errorLocation"]["line"], 3)
        self.assertIsInstance(handlers["errorLocation"]["column"], int)  # where the parser stopped (varies)
        self.tmp.write("handlers.py", "from aios_service import command\n\n@command('ECHO')\ndef e(p):\n"
                                      "    return 0\n")
        error = self.handlers_invalid()
        self.assertIn("cannot be replaced", error["message"])
        self.assertEqual(error["data"]["exception"], "ValueError")
        self.assertIn(error["data"]["line"], (3, 4))  # the decorator's line (3.9+) or the def's (older tracebacks)
        self.assertIn("there were none: only the built-in commands run", error["message"])

    def test_reload_picks_up_changes_and_keeps_old_registrations_on_failure(self):
        self.init(handlers=HANDLERS, config={"workers": 2})
        self.tmp.write("handlers.py", HANDLERS + "\n@command('NEW_ONE')\ndef new_one(p):\n    return 'new'\n")
        self.ok_control("RELOAD_CONFIG")
        self.assertEqual(self.execute("NEW_ONE")["result"]["result"], "new")
        self.tmp.write("handlers.py", "import os\n\nraise SystemExit(3)\n")
        self.tmp.write("config.json", json.dumps({"workers": 3}))
        error = self.handlers_invalid()
        self.assertIn("SystemExit: 3 (handlers.py, line 3)", error["message"])
        self.assertIn("the previous handlers (BOOM, NEW_ONE, NOT_JSON, PRINTS, WORD_COUNT, explode, remember) stay "
                      "in force", error["message"])
        self.assertEqual((error["data"]["line"], error["data"]["column"]), (3, None))
        health = self.health()
        self.assertEqual(health["config"]["workers"], 3)  # configApplied: the config part took effect
        self.assertIn("SystemExit", health["handlers"]["error"])
        self.assertEqual(self.execute("NEW_ONE")["result"]["result"], "new")  # previous registrations stay
        # A later successful reload clears the error and its location.
        self.tmp.write("handlers.py", HANDLERS)
        state = self.ok_control("RELOAD_CONFIG")["state"]
        self.assertEqual((state["handlers"]["error"], state["handlers"]["errorLocation"]), (None, None))
        self.assertNotIn("NEW_ONE", state["commands"])
        # reload_handlers: false re-reads only the config, so a broken module cannot fail it.
        self.tmp.write("handlers.py", "raise RuntimeError('x')\n")
        self.assertTrue(self.ok_control("RELOAD_CONFIG", parameters={"reload_handlers": False})["ok"])
        self.assertEqual(self.control("RELOAD_CONFIG", parameters={"reload_handlers": "no"})["error"]["code"],
                         errors.INVALID_PARAMS)

    def test_bad_hints_and_errors_in_sibling_modules_point_at_their_line(self):
        self.init(handlers=HANDLERS)
        self.tmp.write("handlers.py", "from aios_service import command\n\n\n@command('HINTED', parameters={'text': 3})"
                                      "\ndef hinted(p):\n    return p\n")
        error = self.handlers_invalid()
        self.assertIn("command type 'HINTED': parameters must map", error["message"])
        self.assertIn(error["data"]["line"], (4, 5))
        self.assertNotIn("HINTED", self.health()["commands"])
        self.assertIn("WORD_COUNT", self.health()["commands"])
        helper = self.tmp.write("helper_mod.py", "X = 1\nY = (\n")
        self.tmp.write("handlers.py", "import helper_mod  # noqa\n")
        error = self.handlers_invalid()
        self.assertEqual((error["data"]["file"], error["data"]["line"]), (helper, 2))
        self.assertIn("(helper_mod.py, line 2", error["message"])
        self.tmp.write("helper_mod.py", "X = 1\n\n\nraise KeyError('conf')\n")
        sys_modules_clean = "import sys\nsys.modules.pop('helper_mod', None)\nimport helper_mod  # noqa\n"
        self.tmp.write("handlers.py", sys_modules_clean)
        error = self.handlers_invalid()
        self.assertEqual((error["data"]["file"], error["data"]["line"], error["data"]["column"]), (helper, 4, None))

    def test_config_errors_have_their_position_and_change_nothing(self):
        self.init(config='{\n  "workers": 3\n}', handlers=HANDLERS)
        self.tmp.write("config.json", '{\n  "workers": 5,\n  "cache": {\n    "maxEntries": -1\n  }\n}')
        self.tmp.write("handlers.py", HANDLERS + "\n@command('NEW_ONE')\ndef new_one(p):\n    return 'new'\n")
        error = self.control("RELOAD_CONFIG")["error"]
        path = os.path.join(self.tmp.path, "config.json")
        self.assertEqual(error["code"], errors.CONFIG_INVALID)
        self.assertEqual(error["data"], {"configFile": path, "line": 4, "column": 5})
        self.assertIn("config file %s, line 4, column 5: cache.maxEntries must be an integer" % path,
                      error["message"])
        health = self.health()
        self.assertEqual(health["config"]["workers"], 3)  # nothing changed: not the config...
        self.assertNotIn("NEW_ONE", health["commands"])  # ...nor the handlers
        self.assertEqual(health["configError"], {"message": error["message"].replace("; the current config stays",
                                                                                     ""),
                                                 "configFile": path, "line": 4, "column": 5})
        self.tmp.write("config.json", '{"workers": 5,\n"logLevel": "INFO",,}')
        error = self.control("RELOAD_CONFIG")["error"]
        self.assertEqual(error["data"], {"configFile": path, "line": 2, "column": 20})
        self.assertIn("is not valid JSON at line 2, column 20", error["message"])
        self.tmp.write("config.json", '{"workers": 5}')
        self.assertIsNone(self.ok_control("RELOAD_CONFIG")["state"]["configError"])
        absent = os.path.join(self.tmp.path, "absent.json")
        missing = self.control("RELOAD_CONFIG", parameters={"config_file": absent})["error"]
        self.assertEqual(missing["data"], {"configFile": absent, "line": None, "column": None})

    def test_invalid_config_at_start_is_in_health_with_its_position(self):
        self.init(config='{\n  "workers": "many"\n}')
        error = self.health()["configError"]
        self.assertEqual((error["line"], error["column"]), (2, 3))
        self.assertIn("workers must be an integer", error["message"])
        self.assertIn("line 2", error["message"])

    def test_missing_module_path_is_not_an_error(self):
        self.c.initialize(handlersModule=os.path.join(self.tmp.path, "absent.py"))
        handlers = self.health()["handlers"]
        self.assertEqual((handlers["loaded"], handlers["error"]), (False, None))


if __name__ == "__main__":
    unittest.main()
