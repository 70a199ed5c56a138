"""The service end to end in-process: a Server on a thread, driven through the real framing."""

import json
import os
import textwrap
import threading
import unittest

from aios_service import errors
from aios_service.service import CONTROL_OPERATIONS
from tests.support import InProcess, TempDir, frame

HANDLERS = textwrap.dedent('''
    import logging
    from aios_service import command, control_command, ParamsError

    log = logging.getLogger(__name__)
    calls = []

    @command("WORD_COUNT", description="Count words in parameters.text.")
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

    @control_command("remember", description="Store arguments.")
    def remember(arguments, ctx):
        calls.append(arguments)
        return {"stored": len(calls)}

    @control_command("explode")
    def explode(arguments):
        raise ValueError("no")
''')


class ServiceTestCase(unittest.TestCase):
    def setUp(self):
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
        return self.c.initialize(**options)

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

    def wait_busy(self, n):
        # The pool reports busy workers; poll health (an ordering wait, not a timing assertion).
        for _ in range(3000):
            if self.health()["workers"]["busy"] >= n:
                return
            threading.Event().wait(0.01)
        self.fail("workers never became busy")

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
                                                 "parameters.text.", "source": "workspace"})
        self.assertEqual(by_name["BOOM"]["description"], "Always fails.")
        self.assertEqual(by_name["ECHO"]["source"], "builtin")
        self.assertIn({"name": "remember", "description": "Store arguments.", "source": "workspace"},
                      commands["controlCommands"])
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
        self.init(handlers="from aios_service import command\n\n@command('OK')\ndef ok(p):\n    return 1\n"
                           "raise ImportError('missing dependency numpy')\n")
        handlers = self.health()["handlers"]
        self.assertFalse(handlers["loaded"])
        self.assertIn("ImportError: missing dependency numpy (handlers.py, line 6)", handlers["error"])
        self.assertNotIn("OK", self.health()["commands"])  # a half-imported module registers nothing
        self.c.wait_notification("window/logMessage", lambda p: p["type"] == 1 and "handlers" in p["message"])
        self.assertEqual(self.execute("ECHO", {"a": 1})["result"]["result"], {"a": 1})

    def test_syntax_error_and_builtin_clash(self):
        self.init(handlers="def broken(:\n")
        self.assertIn("SyntaxError", self.health()["handlers"]["error"])
        self.assertIn("line 1", self.health()["handlers"]["error"])
        self.tmp.write("handlers.py", "from aios_service import command\n@command('ECHO')\ndef e(p):\n    return 0\n")
        state = self.ok_control("RELOAD_CONFIG")["state"]
        self.assertIn("cannot be replaced", state["handlers"]["error"])

    def test_reload_picks_up_changes_and_keeps_old_registrations_on_failure(self):
        self.init(handlers=HANDLERS)
        self.tmp.write("handlers.py", HANDLERS + "\n@command('NEW_ONE')\ndef new_one(p):\n    return 'new'\n")
        self.ok_control("RELOAD_CONFIG")
        self.assertEqual(self.execute("NEW_ONE")["result"]["result"], "new")
        self.tmp.write("handlers.py", "raise SystemExit(3)\n")
        state = self.ok_control("RELOAD_CONFIG")["state"]
        self.assertIn("SystemExit", state["handlers"]["error"])
        self.assertEqual(self.execute("NEW_ONE")["result"]["result"], "new")  # previous registrations stay

    def test_missing_module_path_is_not_an_error(self):
        self.c.initialize(handlersModule=os.path.join(self.tmp.path, "absent.py"))
        handlers = self.health()["handlers"]
        self.assertEqual((handlers["loaded"], handlers["error"]), (False, None))


if __name__ == "__main__":
    unittest.main()
