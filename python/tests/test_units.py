"""Unit tests of the service's building blocks: config, caches, cost meter, model, pool, registry."""

import json
import os
import threading
import unittest

from aios_service import config, errors
from aios_service.bcm import CostMeter
from aios_service.cache import LruCache
from aios_service.errors import ConfigError, RpcError
from aios_service.ngram import NgramModel, detokenize, tokenize
from aios_service.pool import QueueFullError, WorkerPool
from aios_service.registry import BUILTIN, WORKSPACE, CancelToken, Context, Registry
from tests.support import TempDir


class ConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()

    def tearDown(self):
        self.tmp.cleanup()

    def test_defaults_and_overrides(self):
        cfg = config.validate({"logLevel": "warn", "cache": {"maxEntries": 3}, "$schema": "x", "comment": "y"})
        self.assertEqual(cfg["logLevel"], "WARNING")
        self.assertEqual(cfg["cache"], {"maxEntries": 3, "modelMaxEntries": 2})
        self.assertEqual(cfg["inference"], config.DEFAULTS["inference"])

    def test_invalid_values_name_the_key(self):
        cases = [({"cahce": {}}, "unknown config key 'cahce'"),
                 ({"cache": {"size": 1}}, "unknown config key cache.size"),
                 ({"cache": 5}, "cache must be an object"),
                 ({"workers": 0}, "workers must be an integer from 1 to 64 (got 0)"),
                 ({"workers": True}, "workers must be an integer"),
                 ({"logLevel": "LOUD"}, "logLevel must be one of DEBUG"),
                 ({"loggers": {"a": "nope"}}, "loggers['a'] must be one of"),
                 ({"inference": {"maxTokens": 500}}, "must not exceed inference.maxTokensLimit"),
                 ([], "must be a JSON object")]
        for raw, message in cases:
            with self.assertRaises(ConfigError) as cm:
                config.validate(raw)
            self.assertIn(message, cm.exception.message)
            self.assertEqual(cm.exception.code, errors.CONFIG_INVALID)

    def test_load_missing_invalid_and_relative_corpus(self):
        self.assertEqual(config.load(os.path.join(self.tmp.path, "none.json"))[0], config.validate({}))
        bad = self.tmp.write("bad.json", '{"logLevel": "INFO",}')
        with self.assertRaises(ConfigError) as cm:
            config.load(bad)
        self.assertIn("is not valid JSON", cm.exception.message)
        nan = self.tmp.write("nan.json", '{"workers": NaN}')
        self.assertRaises(ConfigError, config.load, nan)
        good = self.tmp.write("good.json", '{"inference": {"corpus": "text/c.txt"}}')
        self.assertEqual(config.load(good)[0]["inference"]["corpus"], os.path.join(self.tmp.path, "text", "c.txt"))

    def test_update_log_level_keeps_other_keys(self):
        path = self.tmp.write("c.json", json.dumps({"$schema": "s", "workers": 2}))
        config.update_log_level(path, "DEBUG")
        config.update_log_level(path, "ERROR", "some.module")
        self.assertEqual(self.tmp.read_json("c.json"),
                         {"$schema": "s", "workers": 2, "logLevel": "DEBUG", "loggers": {"some.module": "ERROR"}})
        with self.assertRaises(RpcError) as cm:
            config.update_log_level(None, "DEBUG")
        self.assertEqual(cm.exception.code, errors.CONFIG_WRITE_FAILED)
        broken = self.tmp.write("broken.json", "{")
        self.assertRaises(RpcError, config.update_log_level, broken, "DEBUG")


class ConfigLocationTest(unittest.TestCase):
    """Config errors name the file, line and column, so the extension can put a diagnostic there."""

    def setUp(self):
        self.tmp = TempDir()

    def tearDown(self):
        self.tmp.cleanup()

    def error(self, text, binary=False):
        path = os.path.join(self.tmp.path, "config.json")
        with open(path, "wb") as f:
            f.write(text if binary else text.encode("utf-8"))
        with self.assertRaises(ConfigError) as cm:
            config.load(path)
        e = cm.exception
        self.assertEqual(e.data["configFile"], path)
        self.assertIn(path, e.message)
        self.assertIn("line %d" % e.data["line"], e.message)
        return e.data["line"], e.data["column"], e.message

    def test_syntax_errors_give_the_exact_position(self):
        self.assertEqual(self.error('{\n  "workers": 2,\n  "cache": {"maxEntries" 3}\n}')[:2], (3, 26))
        line, column, message = self.error('{\n  "logLevel": "INFO"\n  "workers": 2\n}')
        self.assertEqual((line, column), (3, 3))
        self.assertIn("not valid JSON at line 3, column 3: Expecting ',' delimiter", message)
        self.assertEqual(self.error('\ufeff{"a":\n   ]}')[:2], (2, 4))  # a BOM is not a column
        self.assertEqual(self.error('{\n "workers": NaN}')[:2], (2, 13))
        self.assertEqual(self.error(b'{\n "comment": "\xff"}', binary=True)[:2], (2, 14))

    def test_bad_values_give_the_line_of_their_member(self):
        text = ('{\n  "$schema": "x",\n  "workers": 4,\n  "cache": {\n    "modelMaxEntries": 1,\n'
                '    "maxEntries": "x"\n  },\n  "loggers": {"a": "INFO", "b": "LOUD"}\n}')
        line, column, message = self.error(text)
        self.assertEqual((line, column), (6, 5))
        self.assertIn("line 6, column 5: cache.maxEntries must be an integer", message)
        self.assertEqual(self.error(text.replace('"x"', "3"))[:2], (8, 28))  # loggers["b"]
        self.assertEqual(self.error('{"workers": 2,\n"wrokers": 3}')[:2], (2, 1))  # unknown key
        self.assertEqual(self.error('{"inference": {\n "maxTokens": 500}}')[:2], (2, 2))  # cross-check
        self.assertEqual(self.error('{"workers": 1, "workers": 0}')[:2], (1, 16))  # the last one counts, as in json
        self.assertEqual(self.error('[1, 2]')[:2], (1, 1))  # nothing to point at: line 1

    def test_member_position_is_best_effort(self):
        text = '{"a": [1, {"b": "s\\"}"}, true, null, -1.5e3], "c": {"d": {}}}'
        self.assertEqual(config.member_position(text, ("c", "d")), (1, 53))
        self.assertEqual(config.member_position(text, ("c", "missing")), (1, 47))  # the deepest key present
        self.assertEqual(config.member_position(text, ("b",)), (1, 1))  # "b" is not a top-level member
        self.assertEqual(config.member_position("{broken", ("a",)), (1, 1))


class CacheAndMeterTest(unittest.TestCase):
    def test_lru_eviction_stats_and_clear(self):
        c = LruCache(2)
        c.put("a", 1)
        c.put("b", 2)
        self.assertEqual(c.get("a"), 1)  # a is now the most recent
        c.put("c", 3)  # evicts b
        self.assertIsNone(c.get("b"))
        self.assertEqual(c.stats(), {"entries": 2, "hits": 1, "misses": 1, "maxEntries": 2})
        c.resize(1)
        self.assertEqual(len(c), 1)
        self.assertEqual(c.clear(), 1)
        self.assertEqual(c.stats()["hits"], 1)
        c.clear(reset_stats=True)
        self.assertEqual(c.stats(), {"entries": 0, "hits": 0, "misses": 0, "maxEntries": 1})
        zero = LruCache(0)
        zero.put("a", 1)
        self.assertNotIn("a", zero)

    def test_cost_meter(self):
        m = CostMeter()
        m.record("A", 0.5, 1.0, 10, False)
        m.record("A", 0.25, 0.5, 5, True)
        m.record("B", 0, 0, 1, False)
        self.assertEqual(m.snapshot()["A"], {"calls": 2, "errors": 1, "cpuSeconds": 0.75, "wallSeconds": 1.5,
                                             "bytes": 15})
        self.assertEqual(list(m.reset("B")), ["B"])
        before = m.reset()
        self.assertEqual(before["A"]["calls"], 2)
        self.assertEqual(m.snapshot(), {})


class NgramTest(unittest.TestCase):
    TEXT = "the cat sat on the mat. the dog sat on the rug. a bird sang."

    def test_generation_is_deterministic_per_seed_and_uses_the_corpus(self):
        model = NgramModel.train(self.TEXT, 2)
        a = model.generate("the cat", 12, seed=1)
        self.assertEqual(a, model.generate("the cat", 12, seed=1))
        self.assertEqual(len(a), 12)
        vocab = set(tokenize(self.TEXT))
        self.assertTrue(set(a) <= vocab)
        # an unseen prompt backs off to shorter contexts instead of failing
        self.assertEqual(len(model.generate("zebra quantum", 5)), 5)
        self.assertEqual(model.describe()["vocabularySize"], len(vocab))

    def test_should_stop_cuts_generation(self):
        model = NgramModel.train(self.TEXT, 1)
        self.assertEqual(model.generate("", 100, should_stop=lambda: True), [])

    def test_detokenize(self):
        self.assertEqual(detokenize(["hello", ",", "world", ".", "again"]), "Hello, world. Again")
        self.assertEqual(detokenize(["more", "words"], sentence_start=False), "more words")
        self.assertRaises(ValueError, NgramModel.train, "  ", 2)


class PoolTest(unittest.TestCase):
    def test_priorities_queue_limit_and_removal(self):
        pool = WorkerPool(1, 3)
        gate = threading.Event()
        started = threading.Event()
        order = []

        def blocker():
            started.set()
            gate.wait(30)
        pool.submit(blocker)
        self.assertTrue(started.wait(30))
        low = lambda: order.append("low")  # noqa: E731
        pool.submit(low, "LOW")
        pool.submit(lambda: order.append("normal"), "NORMAL")
        pool.submit(lambda: order.append("high"), "HIGH")
        self.assertRaises(QueueFullError, pool.submit, lambda: None)
        self.assertEqual(pool.stats(), {"max": 1, "busy": 1, "queued": 3})
        self.assertTrue(pool.remove(low))
        self.assertFalse(pool.remove(low))
        gate.set()
        self.assertTrue(pool.wait_idle(30))
        self.assertEqual(order, ["high", "normal"])

    def test_a_burst_onto_one_idle_worker_starts_more_workers(self):
        # One thread exists and is idle (nothing ran at once before); four jobs arrive together. Waking the idle
        # thread is not enough: every job beyond the idle threads needs one, up to max_workers.
        pool = WorkerPool(4, 100)
        pool.submit(lambda: None)
        self.assertTrue(pool.wait_idle(30))
        self.assertTrue(_wait_until(lambda: pool._idle == 1))
        barrier = threading.Barrier(4, timeout=30)
        passed = []

        def job():
            barrier.wait()
            passed.append(1)
        for _ in range(4):
            pool.submit(job)
        self.assertTrue(_wait_until(lambda: len(passed) == 4), "four jobs never ran at once: %r" % pool.stats())
        self.assertTrue(pool.wait_idle(30))

    def test_growing_starts_queued_jobs_at_once_and_shrinking_lets_running_ones_finish(self):
        pool = WorkerPool(1, 100)
        gate = threading.Event()
        barrier = threading.Barrier(4, timeout=30)  # passes only when four jobs run at the same time
        passed = []

        def job():
            barrier.wait()
            passed.append(1)
            gate.wait(30)
        for _ in range(4):
            pool.submit(job)
        self.assertTrue(_wait_until(lambda: pool.stats()["busy"] == 1))
        self.assertEqual(pool.stats()["queued"], 3)
        pool.resize(4, 100)  # no new submit: the resize itself must start the queued jobs
        self.assertTrue(_wait_until(lambda: len(passed) == 4))
        self.assertEqual(pool.stats(), {"max": 4, "busy": 4, "queued": 0})
        pool.resize(1, 100)
        self.assertEqual(pool.stats(), {"max": 1, "busy": 4, "queued": 0})  # running jobs are not stopped
        done = []
        pool.submit(lambda: done.append(threading.current_thread().name))
        gate.set()
        self.assertTrue(pool.wait_idle(30))
        self.assertEqual(len(done), 1)
        self.assertTrue(_wait_until(lambda: pool._threads == 1))  # surplus workers left


class RegistryTest(unittest.TestCase):
    def test_register_describe_and_protect_builtins(self):
        reg = Registry()

        @reg.command("ONE", description="First line.\nmore")
        def one(params):
            return params

        @reg.control_command("tweak")
        def tweak(arguments, ctx):
            """Tweak something."""
            return ctx.command_id

        desc = reg.describe()
        self.assertEqual(desc["commandTypes"], [{"name": "ONE", "description": "First line.", "source": BUILTIN,
                                                 "parameters": {}, "example": {}}])
        self.assertEqual(desc["controlCommands"], [{"name": "tweak", "description": "Tweak something.",
                                                    "source": BUILTIN, "parameters": {}, "example": {},
                                                    "replay": False}])
        ctx = Context(None, "c9", "X", "NORMAL")
        self.assertEqual(reg.get_command("ONE").call({"a": 1}, ctx), {"a": 1})
        self.assertEqual(reg.get_control("tweak").call({}, ctx), "c9")
        reg.source = WORKSPACE
        with self.assertRaises(ValueError):
            reg.command("ONE")(one)
        reg.command("TWO")(one)
        snap = reg.snapshot(WORKSPACE)
        reg.replace_source(WORKSPACE, ({}, {}))
        self.assertIsNone(reg.get_command("TWO"))
        reg.replace_source(WORKSPACE, snap)
        self.assertIsNotNone(reg.get_command("TWO"))
        self.assertRaises(ValueError, reg.command(""), one)

    def test_hints_are_described_and_copied(self):
        reg = Registry()
        params = {"text": " string: the text to count "}
        example = {"text": "one two"}

        @reg.command("COUNT", parameters=params, example=example)
        def count(p):
            return len(p["text"].split())

        @reg.control_command("pin", description="Pin it.", parameters={"level": "integer 1-3: how hard"},
                             example={"level": 2}, replay=True)
        def pin(arguments):
            return arguments

        params["extra"] = "x"  # the caller's dicts are not shared with aios/commands
        example["text"] = "changed"
        desc = reg.describe()
        self.assertEqual(desc["commandTypes"][0]["parameters"], {"text": "string: the text to count"})
        self.assertEqual(desc["commandTypes"][0]["example"], {"text": "one two"})
        self.assertNotIn("replay", desc["commandTypes"][0])  # command types are never replayed
        self.assertEqual(desc["controlCommands"], [{"name": "pin", "description": "Pin it.", "source": BUILTIN,
                                                    "parameters": {"level": "integer 1-3: how hard"},
                                                    "example": {"level": 2}, "replay": True}])
        # No parameter hints: any example goes (ECHO-like commands take anything).
        reg.command("FREE", example={"anything": [1, None]})(count)
        self.assertEqual(reg.get_command("FREE").example, {"anything": [1, None]})

    def test_bad_hints_raise_at_registration_naming_the_command(self):
        reg = Registry()
        cases = [(dict(parameters=["text"]), "parameters must map each parameter name"),
                 (dict(parameters={"text": 3}), "parameters must map each parameter name"),
                 (dict(parameters={"text": "  "}), "parameters must map each parameter name"),
                 (dict(parameters={1: "x"}), "parameters must map each parameter name"),
                 (dict(parameters={"text": "string:\nthe text"}), "hint for parameter 'text' must be one line"),
                 (dict(example=[1]), "example must be a JSON object"),
                 (dict(example="{}"), "example must be a JSON object"),
                 (dict(example={"x": object()}), "example must be JSON-serialisable"),
                 (dict(example={"x": float("nan")}), "example must be JSON-serialisable"),
                 (dict(parameters={"text": "string"}, example={"txt": "a"}),
                  "example uses txt, which parameters does not describe (described: text)"),
                 (dict(description=5), "description must be a string")]
        for kwargs, message in cases:
            with self.assertRaises(ValueError, msg=kwargs) as cm:
                reg.command("BAD_ONE", **kwargs)(lambda p: p)
            self.assertIn("command type 'BAD_ONE'", str(cm.exception))
            self.assertIn(message, str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            reg.control_command("bad_control", replay="yes")(lambda p: p)
        self.assertIn("control command 'bad_control': replay must be True or False", str(cm.exception))
        self.assertEqual(reg.describe(), {"commandTypes": [], "controlCommands": []})  # nothing half-registered

    def test_context_cancellation(self):
        ctx = Context(None, "c", "T", "LOW")
        self.assertFalse(ctx.cancelled)
        ctx.check_cancelled()
        ctx.cancel_event.set()
        self.assertTrue(ctx.wait(30))
        with self.assertRaises(errors.Cancelled):
            ctx.check_cancelled()


if __name__ == "__main__":
    unittest.main()


def _wait_until(predicate, timeout=30.0):
    """An ordering wait with a generous failsafe (never a timing assertion)."""
    import time
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


class IsoUtcTest(unittest.TestCase):
    def test_matches_datetime_across_seconds_in_any_order(self):
        import datetime
        from aios_service.service import iso_utc
        # Out of order, so the reused second is sometimes right and sometimes stale.
        cases = {1700000000.123: "2023-11-14T22:13:20.123Z", 1700000000.9996: "2023-11-14T22:13:21.000Z",
                 1700000001.0: "2023-11-14T22:13:21.000Z", 1700000000.5: "2023-11-14T22:13:20.500Z",
                 0.0: "1970-01-01T00:00:00.000Z", 1999999999.001: "2033-05-18T03:33:19.001Z"}
        for t, expected in cases.items():
            self.assertEqual(iso_utc(t), expected, t)
            stamp = datetime.datetime.fromtimestamp(round(t, 3), datetime.timezone.utc)
            self.assertEqual(iso_utc(t), stamp.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (stamp.microsecond // 1000))


class HealthJsonTest(unittest.TestCase):
    """aios/health is formatted straight into JSON: it must stay valid JSON with every member right."""

    def test_formatted_health_matches_the_state_it_reports(self):
        from aios_service.service import Service
        svc = Service(registry=Registry())
        svc.initialize({})
        svc.registry.command("ECHO")(lambda p: p)
        svc.registry.control_command("tune")(lambda p: p)
        svc.logger_levels = {"aios_handlers.x": "ERROR", 'odd "name"\\': "DEBUG"}
        svc.bcm.record("ECHO", 0.0012345678, 0.5, 42, False)
        svc.bcm.record("ECHO", 0.001, 0.25, 8, True)
        svc.model_cache.put("k", object())
        svc.models.get_or_load("user model", lambda: object())
        svc.models.get_or_load("user model", lambda: object())
        svc.result_cache.get("missing")
        svc.complexity_factor = 0.35
        svc.throttling = {"maxConcurrency": 2, "reason": "r\u00e9duire \"vite\"",
                          "requestedAt": "2026-11-27T00:00:00.000Z"}
        svc.pool_stats = lambda: {"max": 4, "busy": 1, "queued": 7}
        svc._op_health_override("unhealthy", {"duration": 600}, None)
        health = json.loads(svc.health_json())
        expected_keys = {"status", "overridden", "overrideExpiresAt", "timestamp", "pid", "version", "python",
                         "uptimeS", "logLevel", "loggers", "cache", "bcm", "config", "configFile", "configError",
                         "commands", "controlCommands", "handlers", "inference", "workers", "processWorkers",
                         "throttling"}
        self.assertEqual(set(health), expected_keys)
        self.assertEqual((health["status"], health["overridden"]), ("unhealthy", True))
        self.assertTrue(health["overrideExpiresAt"].endswith("Z"))
        self.assertEqual(health["loggers"], svc.logger_levels)
        self.assertEqual(health["cache"], {"model_cache": svc.model_cache.stats(),
                                           "result_cache": svc.result_cache.stats(),
                                           "models": {"entries": 1, "hits": 1, "loads": 1}})
        self.assertEqual(health["bcm"], svc.bcm.snapshot())
        self.assertEqual(health["inference"], {"complexityFactor": 0.35, "maxTokens": 40, "effectiveMaxTokens": 14,
                                               "order": 2, "modelLoaded": True})
        self.assertEqual(health["workers"], {"max": 4, "busy": 1, "queued": 7})
        self.assertEqual(health["processWorkers"], {"mode": "opt-in", "startMethod": "spawn",
                                                    "max": svc.process_pool_size(), "alive": 0, "busy": 0,
                                                    "started": 0, "crashed": 0, "terminated": 0, "models": 0})
        svc.process_stats = lambda: {"startMethod": "forkserver", "max": 3, "alive": 2, "busy": 1, "started": 5,
                                     "crashed": 1, "terminated": 2, "models": 4}
        svc.process_mode_option = "all"
        self.assertEqual(json.loads(svc.health_json())["processWorkers"], {
            "mode": "all", "startMethod": "forkserver", "max": 3, "alive": 2, "busy": 1, "started": 5, "crashed": 1,
            "terminated": 2, "models": 4})
        self.assertEqual(health["throttling"], svc.throttling)
        self.assertEqual((health["commands"], health["controlCommands"]), (["ECHO"], ["tune"]))
        self.assertEqual(health["config"], svc.config)
        self.assertIsNone(health["configError"])
        self.assertEqual(health["handlers"], {"module": None, "loaded": False, "error": None, "errorLocation": None,
                                              "commandTypes": [], "controlCommands": []})
        self.assertIsInstance(health["uptimeS"], float)
        svc._op_health_override("clear", {}, None)
        cleared = json.loads(svc.health_json())
        self.assertEqual((cleared["status"], cleared["overridden"], cleared["overrideExpiresAt"]),
                         ("healthy", False, None))
        svc.registry.command("LATER")(lambda p: p)  # a registry change shows without any other change
        self.assertIn("LATER", json.loads(svc.health_json())["commands"])

    def test_process_workers_before_any_worker_follow_what_they_are_made_of(self):
        # Reused while the config, initializationOptions.processWorkers and the extension's limit stay the same:
        # each of them must still show at once.
        from aios_service import config as config_mod
        from aios_service.service import Service, usable_cores
        svc = Service(registry=Registry())
        svc.initialize({})
        cfg, raw = config_mod.load(None)
        cfg["workers"] = 1
        svc._apply_config(cfg, raw)

        def procs():
            return json.loads(svc.health_json())["processWorkers"]

        self.assertEqual((procs()["mode"], procs()["max"]), ("opt-in", 1))
        svc.max_concurrency = 8  # aios/setConcurrency
        self.assertEqual(procs()["max"], min(usable_cores(), 8))
        svc.process_mode_option = "all"
        self.assertEqual(procs()["mode"], "all")
        cfg, raw = config_mod.load(None)
        cfg["processWorkers"] = dict(cfg["processWorkers"], max=3, startMethod="forkserver")
        svc._apply_config(cfg, raw)  # RELOAD_CONFIG
        self.assertEqual((procs()["max"], procs()["startMethod"]), (3, "forkserver"))


class CancelTokenTest(unittest.TestCase):
    def test_behaves_like_an_event_for_is_set_set_and_wait(self):
        token = CancelToken()
        self.assertFalse(token.is_set())
        self.assertFalse(token.wait(0.01))  # times out
        token.set()
        self.assertTrue(token.is_set())
        self.assertTrue(token.wait(0))
        already = CancelToken()
        already.set()
        self.assertTrue(already.wait(5))  # set before anyone waited: no Event needed, no wait

    def test_a_set_from_another_thread_wakes_a_waiter(self):
        token = CancelToken()
        woke = []
        waiter = threading.Thread(target=lambda: woke.append(token.wait(10)))
        waiter.start()
        threading.Timer(0.05, token.set).start()
        waiter.join(10)
        self.assertEqual(woke, [True])
