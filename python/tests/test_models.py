"""`ctx.models` (cache.ModelCache): loaded once, kept across reloads while the loader's code is the same, loaded
again when it changed, flushed by FLUSH_CACHE with counts, one load for concurrent first calls. The worker
processes' own caches are tested in test_processes.py."""

import os
import textwrap
import threading
import time
import unittest

from aios_service.cache import ModelCache, loader_fingerprint
from aios_service.errors import Cancelled
from tests.test_service import ServiceTestCase


def _loader_from(source, name="load"):
    """A fresh function object made from `source`, as a reload of handlers.py makes one."""
    namespace = {}
    exec(compile(textwrap.dedent(source), "<handlers>", "exec"), namespace)
    return namespace[name]


class FingerprintTest(unittest.TestCase):
    BASE = """
        def load(path="model.bin"):
            return {"path": path, "weights": [0.5, 0.25]}
    """

    def fp(self, source, name="load"):
        return loader_fingerprint(_loader_from(source, name))

    def test_the_same_code_in_a_new_function_object_is_the_same_loader(self):
        self.assertEqual(self.fp(self.BASE), self.fp(self.BASE))

    def test_moving_the_loader_or_editing_around_it_is_not_a_change(self):
        moved = "\n\n\n# a comment above\nX = 1\n" + textwrap.dedent(self.BASE) + "\ndef other():\n    return 2\n"
        self.assertEqual(self.fp(self.BASE), self.fp(moved))

    def test_its_code_constants_names_and_literal_defaults_are(self):
        base = self.fp(self.BASE)
        for changed in (self.BASE.replace("0.25", "0.125"),  # a constant
                        self.BASE.replace('"weights"', '"w"'),
                        self.BASE.replace("[0.5, 0.25]", "[0.5, 0.25] * 2"),  # the bytecode
                        self.BASE.replace('path="model.bin"', 'path="other.bin"')):  # a default argument
            self.assertNotEqual(self.fp(changed), base, changed)

    def test_nested_code_counts_and_a_lambda_ignores_its_closure_values(self):
        outer = """
            def make(params):
                return lambda: sorted(params["rows"], key=lambda r: -r)
        """
        one = _loader_from(outer, "make")({"rows": [1]})
        two = _loader_from(outer, "make")({"rows": [2, 3]})
        self.assertEqual(loader_fingerprint(one), loader_fingerprint(two), "what it closes over is not its code")
        changed = _loader_from(outer.replace("-r", "r"), "make")({"rows": [1]})
        self.assertNotEqual(loader_fingerprint(one), loader_fingerprint(changed), "a nested lambda changed")

    def test_the_functions_of_its_module_it_calls_count_too(self):
        source = """
            import json

            def train(path):
                return {"w": scale(len(path))}

            def scale(n):
                return n * 0.5

            def make(params):
                return lambda: train(params["path"])
        """
        loader = _loader_from(source, "make")({"path": "a"})
        self.assertEqual(loader_fingerprint(loader), loader_fingerprint(_loader_from(source, "make")({"path": "b"})))
        edited = _loader_from(source.replace("0.5", "0.25"), "make")({"path": "a"})
        self.assertNotEqual(loader_fingerprint(loader), loader_fingerprint(edited), "scale, two calls down, changed")
        recursive = "def load(n=3):\n    return load(n - 1) if n else 0\n"
        self.assertEqual(self.fp(recursive), self.fp(recursive))

    def test_objects_as_defaults_do_not_make_every_reload_a_change(self):
        source = "class Spec(object):\n    pass\n\ndef load(spec=Spec()):\n    return spec\n"
        self.assertEqual(self.fp(source), self.fp(source))

    def test_partials_methods_callables_and_builtins(self):
        import functools
        load = _loader_from(self.BASE)
        self.assertEqual(loader_fingerprint(functools.partial(load, "a")),
                         loader_fingerprint(functools.partial(_loader_from(self.BASE), "a")))
        self.assertNotEqual(loader_fingerprint(functools.partial(load, "a")),
                            loader_fingerprint(functools.partial(load, "b")))
        method = _loader_from("class M(object):\n    def load(self):\n        return 1\n", "M")().load
        self.assertTrue(loader_fingerprint(method))
        callable_object = _loader_from("class C(object):\n    def __call__(self):\n        return 1\n", "C")()
        self.assertTrue(loader_fingerprint(callable_object))
        self.assertNotEqual(loader_fingerprint(dict), loader_fingerprint(list))


class ModelCacheTest(unittest.TestCase):
    def test_get_or_load_runs_the_loader_once(self):
        cache = ModelCache()
        runs = []

        def load():
            runs.append(1)
            return object()

        first = cache.get_or_load("m", load)
        self.assertIs(cache.get_or_load("m", load), first)
        self.assertEqual(len(runs), 1)
        self.assertEqual(cache.stats(), {"entries": 1, "hits": 1, "loads": 1})
        self.assertEqual(cache.names(), ["m"])

    def test_a_changed_loader_replaces_the_model_and_an_unchanged_one_keeps_it(self):
        cache = ModelCache()
        v1 = cache.get_or_load("m", _loader_from(FingerprintTest.BASE))
        self.assertIs(cache.get_or_load("m", _loader_from(FingerprintTest.BASE)), v1)
        v2 = cache.get_or_load("m", _loader_from(FingerprintTest.BASE.replace("0.25", "0.75")))
        self.assertIsNot(v2, v1)
        self.assertEqual(v2["weights"], [0.5, 0.75])
        self.assertEqual(cache.stats(), {"entries": 1, "hits": 1, "loads": 2}, "replaced, not one more")

    def test_a_loader_that_raises_stores_nothing_and_the_next_call_tries_again(self):
        cache = ModelCache()
        attempts = []

        def flaky():
            attempts.append(1)
            if len(attempts) == 1:
                raise OSError("model server down")
            return "model"

        with self.assertRaises(OSError):
            cache.get_or_load("m", flaky)
        self.assertNotIn("m", cache)
        self.assertEqual(cache.get_or_load("m", flaky), "model")
        self.assertEqual(len(attempts), 2)

    def test_clear_drop_and_bad_arguments(self):
        cache = ModelCache()
        cache.get_or_load("a", lambda: 1)
        cache.get_or_load("b", lambda: 2)
        cache.get_or_load("b", lambda: 2)
        self.assertTrue(cache.drop("a"))
        self.assertFalse(cache.drop("a"))
        self.assertEqual(cache.clear(), 1)
        self.assertEqual(cache.stats(), {"entries": 0, "hits": 1, "loads": 2}, "counters stay without force")
        cache.get_or_load("c", lambda: 3)
        self.assertEqual(cache.clear(reset_stats=True), 1)
        self.assertEqual(cache.stats(), {"entries": 0, "hits": 0, "loads": 0})
        with self.assertRaisesRegex(TypeError, "name must be a non-empty string"):
            cache.get_or_load("", lambda: 1)
        with self.assertRaisesRegex(TypeError, "loader must be callable"):
            cache.get_or_load("x", "not callable")
        with self.assertRaisesRegex(RuntimeError, "wait for itself"):
            cache.get_or_load("self", lambda: cache.get_or_load("self", lambda: 0))

    def test_concurrent_first_calls_run_the_loader_once(self):
        cache = ModelCache()
        callers = 8
        runs = []
        waiting = set()
        everyone_waits = threading.Event()

        class Watch(object):
            """The cancellation a waiting caller polls: it says who is waiting for the load in progress."""

            def is_set(self):
                waiting.add(threading.get_ident())
                if len(waiting) == callers - 1:
                    everyone_waits.set()
                return False

        def load():
            runs.append(threading.get_ident())
            # The proof: the load ends only once every other caller is waiting for it (60 s is a failsafe).
            everyone_waits.wait(60)
            return object()

        results = []
        start = threading.Barrier(callers)

        def call():
            start.wait()
            results.append(cache.get_or_load("m", load, Watch()))

        threads = [threading.Thread(target=call) for _ in range(callers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertTrue(everyone_waits.is_set(), "the other callers waited for the load in progress")
        self.assertEqual(len(runs), 1, "the loader ran once")
        self.assertEqual(len(results), callers)
        self.assertEqual(len({id(r) for r in results}), 1, "every caller got the same model")
        self.assertEqual(cache.stats(), {"entries": 1, "hits": callers - 1, "loads": 1})

    def test_a_waiting_caller_that_is_cancelled_stops_waiting(self):
        cache = ModelCache()
        release = threading.Event()
        loading = threading.Event()

        def slow():
            loading.set()
            release.wait(60)
            return "model"

        loader = threading.Thread(target=lambda: cache.get_or_load("m", slow))
        loader.start()
        loading.wait(60)
        cancelled = threading.Event()
        cancelled.set()
        with self.assertRaises(Cancelled):
            cache.get_or_load("m", slow, cancelled)
        release.set()
        loader.join(60)
        self.assertEqual(cache.get_or_load("m", slow), "model")

    def test_a_flush_during_a_load_keeps_nothing_loaded_before_it(self):
        cache = ModelCache()
        release = threading.Event()
        loading = threading.Event()
        got = []

        def slow():
            loading.set()
            release.wait(60)
            return "old"

        loader = threading.Thread(target=lambda: got.append(cache.get_or_load("m", slow)))
        loader.start()
        loading.wait(60)
        self.assertEqual(cache.clear(), 0)
        release.set()
        loader.join(60)
        self.assertEqual(got, ["old"], "the caller still gets its model")
        self.assertNotIn("m", cache, "but the flush came after the load began: it is not kept")


# The handler answers how many times its loader ran: counted in a file, which outlives the module's reloads.
MODEL_HANDLERS = textwrap.dedent('''
    import os
    from aios_service import command

    COUNTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loads.txt")


    def load_model():
        with open(COUNTER, "a") as f:
            f.write("x\\n")
        return {"weights": [1, 2, 3]}


    @command("PREDICT")
    def predict(params, ctx):
        model = ctx.models.get_or_load("clf", load_model)
        with open(COUNTER) as f:
            loads = len(f.read().split())
        return {"loads": loads, "weights": model["weights"], "id": id(model), "names": ctx.models.names()}
''')


class ModelsThroughTheServiceTest(ServiceTestCase):
    def predict(self):
        reply = self.execute("PREDICT")
        self.assertIn("result", reply, reply)
        return reply["result"]["result"]

    def test_a_model_survives_a_reload_while_its_loader_is_unchanged(self):
        self.init(handlers=MODEL_HANDLERS)
        first = self.predict()
        self.assertEqual((first["loads"], first["names"]), (1, ["clf"]))
        self.assertEqual(self.predict()["id"], first["id"])
        # The module changes around the loader (a new command, lines above it): the model stays.
        self.tmp.write("handlers.py", "# edited\n\n" + MODEL_HANDLERS + "\n@command('MORE')\ndef more(p):\n"
                                                                        "    return 1\n")
        state = self.ok_control("RELOAD_CONFIG")["state"]
        self.assertIn("MORE", state["handlers"]["commandTypes"])
        self.assertEqual(state["cache"]["models"], {"entries": 1, "hits": 1, "loads": 1})
        kept = self.predict()
        self.assertEqual((kept["loads"], kept["id"]), (1, first["id"]), "not loaded again")
        # The loader itself changes: the model is loaded again, and replaces the old one.
        self.tmp.write("handlers.py", MODEL_HANDLERS.replace("[1, 2, 3]", "[4, 5, 6, 7]"))
        self.ok_control("RELOAD_CONFIG")
        changed = self.predict()
        self.assertEqual((changed["loads"], changed["weights"]), (2, [4, 5, 6, 7]))
        self.assertEqual(self.health()["cache"]["models"]["entries"], 1)

    def test_flush_cache_empties_the_models_and_counts_them(self):
        self.init(handlers=MODEL_HANDLERS)
        self.predict()
        self.execute("AI_INFERENCE", {"prompt": "a", "maxTokens": 2})  # the built-in n-gram model: model_cache too
        result = self.ok_control("FLUSH_CACHE", parameters={"cache_type": "result_cache"})
        self.assertNotIn("models", result["detail"], "the result cache holds no models")
        self.assertEqual(result["state"]["cache"]["models"]["entries"], 1)
        result = self.ok_control("FLUSH_CACHE", parameters={"cache_type": "model_cache"})
        self.assertEqual(result["detail"]["flushed"], {"model_cache": 2})
        self.assertEqual(result["detail"]["models"], {"service": 1, "workers": 0, "workerProcesses": 0,
                                                      "unanswered": 0})
        self.assertEqual(result["state"]["cache"]["models"], {"entries": 0, "hits": 0, "loads": 1})
        self.assertEqual(self.predict()["loads"], 2, "flushed: the next call loads it again")
        result = self.ok_control("FLUSH_CACHE", parameters={"cache_type": "all", "force": True})
        self.assertEqual(result["detail"]["models"]["service"], 1)
        self.assertEqual(result["state"]["cache"]["models"], {"entries": 0, "hits": 0, "loads": 0})

    def test_an_edited_sibling_module_is_imported_again_on_reload(self):
        self.tmp.write("sibling_weights.py", "WEIGHTS = [1]\n")
        handlers = ("from aios_service import command\nimport sibling_weights\n\n@command('W')\ndef w(p):\n"
                    "    return sibling_weights.WEIGHTS\n")
        self.init(handlers=handlers)
        self.assertEqual(self.execute("W")["result"]["result"], [1])
        self.tmp.write("sibling_weights.py", "WEIGHTS = [2, 2]\n")
        self.ok_control("RELOAD_CONFIG")
        self.assertEqual(self.execute("W")["result"]["result"], [2, 2])
        # A reload that fails leaves the modules the previous handlers use in place.
        self.tmp.write("sibling_weights.py", "WEIGHTS = (\n")
        self.assertEqual(self.control("RELOAD_CONFIG")["error"]["data"]["file"],
                         os.path.join(self.tmp.path, "sibling_weights.py"))
        import sys
        self.assertEqual(sys.modules["sibling_weights"].WEIGHTS, [2, 2])
        self.assertEqual(self.execute("W")["result"]["result"], [2, 2])

    def test_an_edit_of_the_same_size_within_the_same_second_is_not_served_from_a_stale_pyc(self):
        import sys
        import aios_service
        # Bytecode is written, as a user's Python does by default (the service restores the user's setting at start).
        self.addCleanup(setattr, sys, "dont_write_bytecode", sys.dont_write_bytecode)
        self.addCleanup(setattr, aios_service, "_USER_DONT_WRITE_BYTECODE", aios_service._USER_DONT_WRITE_BYTECODE)
        aios_service._USER_DONT_WRITE_BYTECODE = sys.dont_write_bytecode = False
        second = int(time.time()) * 10 ** 9

        def write(name, text, ns):
            path = self.tmp.write(name, text)
            os.utime(path, ns=(second + ns, second + ns))

        template = "from aios_service import command\nimport same_size_sibling\n\n@command('V')\ndef v(p):\n" \
                   "    return [%d, same_size_sibling.V]\n"
        write("same_size_sibling.py", "V = 1\n", 1000)
        write("handlers.py", template % 1, 1000)
        self.init(handlersModule=os.path.join(self.tmp.path, "handlers.py"))
        self.assertEqual(self.execute("V")["result"]["result"], [1, 1])
        self.assertTrue(os.listdir(os.path.join(self.tmp.path, "__pycache__")), "bytecode was cached")
        write("same_size_sibling.py", "V = 2\n", 2000)  # the same size, the same second
        write("handlers.py", template % 2, 2000)
        self.ok_control("RELOAD_CONFIG")
        self.assertEqual(self.execute("V")["result"]["result"], [2, 2])

    def test_a_control_command_can_warm_a_model_up(self):
        handlers = MODEL_HANDLERS + textwrap.dedent('''
            from aios_service import control_command

            @control_command("warm_up")
            def warm_up(arguments, ctx):
                ctx.models.get_or_load("clf", load_model)
                return {"models": ctx.models.names(), "held": "clf" in ctx.models}
        ''')
        self.init(handlers=handlers)
        result = self.ok_control("CUSTOM_COMMAND", parameters={"command": "warm_up"})
        self.assertEqual(result["detail"]["result"], {"models": ["clf"], "held": True})
        self.assertEqual(self.predict()["loads"], 1, "the command type finds the model the control command loaded")
