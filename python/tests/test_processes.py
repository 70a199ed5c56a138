"""Process handlers (`@command(..., process=True)`) in worker processes, through the real service process.

The handlers are tests/fixtures/process_handlers.py, loaded by path as a workspace's `.aios/handlers.py` is.
No timing asserts: parallelism is shown by distinct worker pids and a rendezvous every call must reach while
the others are still running; cancellation and crashes by what answers and which worker serves next."""

import json
import os
import signal
import threading
import unittest

from aios_service import errors
from tests.support import PYTHON_DIR, Subprocess, TempDir

FIXTURES = os.path.join(PYTHON_DIR, "tests", "fixtures")
HANDLERS = os.path.join(FIXTURES, "process_handlers.py")


class ProcessWorkersTest(unittest.TestCase):
    def setUp(self):
        self.tmp = TempDir()
        self.proc = None

    def tearDown(self):
        if self.proc is not None:
            self.proc.close()
        self.tmp.cleanup()

    def start(self, process_workers=None, handlers=HANDLERS, config=None, **options):
        config = dict(config or {})
        if process_workers:
            config["processWorkers"] = process_workers
        self.config_file = self.tmp.write("config.json", json.dumps(config))
        self.proc = Subprocess()
        self.c = self.proc.client
        self.c.initialize(handlersModule=handlers, configFile=self.config_file, **options)
        self.service_pid = self.health()["pid"]

    def health(self):
        return self.c.result("aios/health")

    def execute(self, command_type, parameters=None):
        return self.c.result("aios/execute", {"commandType": command_type, "parameters": parameters or {}})["result"]

    def execute_error(self, command_type, parameters=None):
        return self.c.error("aios/execute", {"commandType": command_type, "parameters": parameters or {}})

    def started_in(self, command_type):
        """Start `command_type` (which logs "<TYPE> started in pid N"); returns (request id, worker pid)."""
        rid = self.c.request_async("aios/execute", {"commandType": command_type, "parameters": {}})
        params = self.c.wait_notification("window/logMessage",
                                          lambda p: ("%s started in pid" % command_type) in p["message"])
        return rid, int(params["message"].rsplit(" ", 1)[1])

    def test_multiprocessing_is_not_imported_until_a_process_handler_runs(self):
        self.start()
        self.assertEqual(self.execute("MODULES"), {"multiprocessing": False, "procpool": False})
        self.assertEqual(self.health()["processWorkers"]["alive"], 0)
        self.execute("WHERE")
        self.assertEqual(self.execute("MODULES"), {"multiprocessing": True, "procpool": True})

    def test_four_cpu_bound_calls_run_at_once_in_four_worker_processes(self):
        self.start({"max": 4}, maxConcurrency=4)
        rendezvous = os.path.join(self.tmp.path, "rendezvous")
        os.mkdir(rendezvous)
        ids = [self.c.request_async("aios/execute", {"commandType": "CPU_WORK", "parameters": {
            "rendezvous": rendezvous, "count": 4, "iterations": 200000}}) for _ in range(4)]
        results = [self.c.wait_response(rid) for rid in ids]
        for r in results:
            self.assertNotIn("error", r)
        runs = [r["result"]["result"] for r in results]
        pids = {run["pid"] for run in runs}
        self.assertEqual(len(pids), 4, "four distinct worker processes")
        self.assertNotIn(self.service_pid, pids)
        # Every call reached the rendezvous only once all four had started: their [start, end] intervals overlap.
        self.assertLess(max(run["start"] for run in runs), min(run["end"] for run in runs))
        self.assertEqual(len({run["checksum"] for run in runs}), 1)
        workers = self.health()["processWorkers"]
        self.assertEqual((workers["max"], workers["alive"], workers["busy"], workers["started"]), (4, 4, 0, 4))
        self.assertEqual(self.health()["bcm"]["CPU_WORK"]["calls"], 4)

    def test_the_pool_is_no_larger_than_the_cores_and_the_execute_pool(self):
        from aios_service.service import usable_cores
        self.start(config={"workers": 1}, maxConcurrency=1)
        self.assertEqual(self.health()["processWorkers"]["max"], 1)
        self.c.result("aios/setConcurrency", {"maxConcurrency": 64})
        self.assertEqual(self.health()["processWorkers"]["max"], usable_cores())

    def test_cancel_reaches_a_handler_that_checks_ctx_cancelled(self):
        self.start({"max": 1, "cancelGraceMs": 600000})
        rid, pid = self.started_in("SPIN_CHECK")
        self.c.notify("$/cancelRequest", {"id": rid})
        self.assertEqual(self.c.wait_response(rid)["error"]["code"], errors.REQUEST_CANCELLED)
        self.assertEqual(self.execute("WHERE")["pid"], pid, "the same worker serves the next call")
        self.assertEqual(self.health()["processWorkers"]["terminated"], 0)

    def test_a_handler_that_ignores_cancel_has_its_worker_terminated_and_replaced(self):
        self.start({"max": 1, "cancelGraceMs": 100})
        rid, pid = self.started_in("SPIN_IGNORE")
        self.c.notify("$/cancelRequest", {"id": rid})
        error = self.c.wait_response(rid)["error"]
        self.assertEqual(error["code"], errors.REQUEST_CANCELLED)
        self.assertIn("ignored the cancellation for 100 ms", error["message"])
        self.assertIn("(pid %d) was terminated" % pid, error["message"])
        self.assertEqual(error["data"], {"commandId": str(rid), "commandType": "SPIN_IGNORE"})
        after = self.execute("WHERE")["pid"]
        self.assertNotEqual(after, pid, "a new worker")
        workers = self.health()["processWorkers"]
        self.assertEqual((workers["terminated"], workers["crashed"], workers["alive"]), (1, 0, 1))

    def test_a_worker_that_exits_fails_its_call_and_is_replaced(self):
        self.start({"max": 1})
        pid = self.execute("WHERE")["pid"]
        error = self.execute_error("CRASH", {"code": 3})
        self.assertEqual(error["code"], errors.WORKER_CRASHED)
        self.assertEqual(error["data"], {"commandId": error["data"]["commandId"], "commandType": "CRASH",
                                         "pid": pid, "exitCode": 3})
        self.assertIn("died before it answered (exit code 3)", error["message"])
        self.assertNotEqual(self.execute("WHERE")["pid"], pid)
        self.assertEqual(self.health()["processWorkers"]["crashed"], 1)
        self.assertEqual(self.health()["bcm"]["CRASH"]["errors"], 1)

    def test_a_worker_killed_mid_call_fails_that_call_and_the_service_keeps_serving(self):
        self.start({"max": 2})
        rid, pid = self.started_in("HANG")
        # SIGKILL where there is one; on Windows os.kill with SIGTERM is TerminateProcess, as abrupt.
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        error = self.c.wait_response(rid)["error"]
        self.assertEqual(error["code"], errors.WORKER_CRASHED)
        self.assertEqual(error["data"]["pid"], pid)
        if hasattr(signal, "SIGKILL"):
            self.assertIn("killed by SIGKILL", error["message"])
        self.assertEqual(self.execute("ECHO", {"still": "here"}), {"still": "here"})
        self.assertNotEqual(self.execute("WHERE")["pid"], pid)
        self.assertEqual(self.health()["status"], "healthy")

    def test_a_worker_killed_between_calls_is_replaced_without_failing_a_call(self):
        self.start({"max": 1})
        pid = self.execute("WHERE")["pid"]
        os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        # health checks idle workers: wait until it has seen this one die (an ordering wait, not timing).
        for _ in range(3000):
            workers = self.health()["processWorkers"]
            if workers["alive"] == 0:
                break
            threading.Event().wait(0.01)
        self.assertEqual((workers["alive"], workers["crashed"]), (0, 1))
        self.assertNotEqual(self.execute("WHERE")["pid"], pid)
        self.assertEqual(self.health()["processWorkers"]["alive"], 1)

    def test_module_state_persists_in_a_worker_across_calls(self):
        self.start({"max": 1})
        runs = [self.execute("WARM") for _ in range(3)]
        self.assertEqual(len({run["pid"] for run in runs}), 1)
        self.assertEqual([run["calls"] for run in runs], [1, 2, 3])
        self.assertEqual({run["loads"] for run in runs}, {1}, "the model is loaded once per worker")
        self.assertEqual(len({run["importedAt"] for run in runs}), 1, "the module is imported once per worker")
        # RELOAD_CONFIG re-imports the module: the workers do too (fresh module state).
        self.c.result("aios/control", {"operation": "RELOAD_CONFIG", "parameters": {}})
        self.assertEqual(self.execute("WARM")["calls"], 1)

    def test_ctx_models_in_a_worker_is_its_own_kept_across_a_reload_and_flushed_even_mid_call(self):
        self.start({"max": 1, "cancelGraceMs": 600000})
        counter = os.path.join(self.tmp.path, "loads.txt")
        first = self.execute("PMODEL", {"counter": counter})
        self.assertEqual((first["loads"], first["model"]), (1, first["pid"]))
        self.assertEqual(self.execute("PMODEL", {"counter": counter})["loads"], 1, "loaded once per worker")
        health = self.health()
        self.assertEqual(health["processWorkers"]["models"], 1)
        self.assertEqual(health["cache"]["models"]["entries"], 0, "the service's own ctx.models is another")
        # A reload re-imports the module in the same worker: its models stay (the loader is unchanged).
        self.c.result("aios/control", {"operation": "RELOAD_CONFIG", "parameters": {}})
        after = self.execute("PMODEL", {"counter": counter})
        self.assertEqual(after["pid"], first["pid"], "the worker stays")
        self.assertNotEqual(after["importedAt"], first["importedAt"], "the module was imported again")
        self.assertEqual(after["loads"], 1, "the model was kept")
        # FLUSH_CACHE reaches a worker that is running a call, and counts what it dropped.
        rid, pid = self.started_in("HANG")
        self.assertEqual(pid, first["pid"])
        flush = self.c.result("aios/control", {"operation": "FLUSH_CACHE", "parameters": {"cache_type": "model_cache"}})
        self.assertEqual(flush["detail"]["models"], {"service": 0, "workers": 1, "workerProcesses": 1,
                                                     "unanswered": 0})
        self.assertEqual(flush["detail"]["flushed"]["model_cache"], 1)
        self.c.notify("$/cancelRequest", {"id": rid})
        self.assertEqual(self.c.wait_response(rid)["error"]["code"], errors.REQUEST_CANCELLED)
        self.assertEqual(self.execute("PMODEL", {"counter": counter})["loads"], 2, "flushed: loaded again")
        # And an idle one.
        flush = self.c.result("aios/control", {"operation": "FLUSH_CACHE", "parameters": {}})
        self.assertEqual(flush["detail"]["models"]["workers"], 1)
        self.assertEqual(self.health()["processWorkers"]["models"], 0)
        self.assertEqual(self.execute("PMODEL", {"counter": counter})["loads"], 3)

    def test_flush_cache_empties_every_workers_models_and_counts_them(self):
        self.start({"max": 2})
        counter = os.path.join(self.tmp.path, "loads.txt")
        rendezvous = os.path.join(self.tmp.path, "rendezvous")
        os.mkdir(rendezvous)
        rids = [self.c.request_async("aios/execute", {"commandType": "PMODEL", "parameters": {
            "counter": counter, "rendezvous": rendezvous, "count": 2}}) for _ in range(2)]
        runs = [self.c.wait_response(rid)["result"]["result"] for rid in rids]
        self.assertEqual(len({run["pid"] for run in runs}), 2, "two workers")
        self.assertEqual([run["loads"] for run in runs], [1, 1], "each loaded its own")
        flush = self.c.result("aios/control", {"operation": "FLUSH_CACHE", "parameters": {"cache_type": "all"}})
        self.assertEqual(flush["detail"]["models"], {"service": 0, "workers": 2, "workerProcesses": 2,
                                                     "unanswered": 0})

    def test_a_workspace_module_loaded_by_path_works_under_spawn(self):
        workspace = os.path.join(self.tmp.path, "ws")
        os.mkdir(workspace)
        self.start({"startMethod": "spawn"}, workspaceFolder=workspace)
        where = self.execute("WHERE")
        self.assertEqual(where["startMethod"], "spawn")
        self.assertEqual((where["module"], where["file"]), ("aios_handlers", HANDLERS))
        self.assertEqual(where["sibling"], "process_sibling", "the module's siblings import in the worker")
        self.assertEqual(os.path.realpath(where["cwd"]), os.path.realpath(workspace))
        self.assertNotEqual(where["pid"], self.service_pid)
        self.assertEqual(self.health()["processWorkers"]["startMethod"], "spawn")

    @unittest.skipUnless(os.name == "posix", "forkserver is POSIX only")
    def test_forkserver_start_method(self):
        self.start({"startMethod": "forkserver"})
        self.assertEqual(self.execute("WHERE")["startMethod"], "forkserver")
        self.assertEqual(self.execute("WARM")["calls"], 1)

    def test_logs_and_notifications_cross_and_follow_the_log_level(self):
        self.start()
        result = self.execute("CROSSING")
        pid = result["pid"]
        self.assertEqual(result["workers"], 4, "ctx.service.config is the service's config")
        self.assertEqual(self.c.wait_notification("test/fromWorker")["pid"], pid)
        self.c.wait_notification("window/logMessage", lambda p: "CROSSING info from pid %d" % pid in p["message"])
        self.c.result("aios/control", {"operation": "UPDATE_LOG_LEVEL", "value": "DEBUG"})
        self.execute("CROSSING")
        debug = self.c.wait_notification("window/logMessage", lambda p: "CROSSING debug" in p["message"])
        self.assertEqual(debug["type"], 5)
        self.assertEqual(len([n for n in self.c.notifications if "CROSSING debug" in str(n)]), 0,
                         "the first call's debug line was not sent")
        error = self.execute_error("CROSSING", {"service": True})
        self.assertEqual(error["code"], errors.HANDLER_FAILED)
        self.assertIn("ctx.service.result_cache is not available in a process handler", error["message"])

    def test_handler_errors_keep_their_codes(self):
        self.start()
        error = self.execute_error("FAIL")
        self.assertEqual(error["code"], errors.HANDLER_FAILED)
        self.assertEqual(error["data"]["exception"], "ValueError")
        self.assertIn("bad things in a worker", error["message"])

    def test_modes(self):
        self.start(processWorkers="off")
        self.assertEqual(self.execute("WHERE")["pid"], self.service_pid, "off: on a thread of the service")
        self.assertEqual(self.health()["processWorkers"]["mode"], "off")
        self.proc.close()
        self.start(processWorkers="all")
        self.assertNotEqual(self.execute("PLAIN")["pid"], self.service_pid, "all: no flag runs in a worker")
        self.assertEqual(self.execute("MODULES")["procpool"], True, "process=False stays on a thread")
        self.proc.close()
        self.start({"mode": "all"}, processWorkers="opt-in")
        self.assertEqual(self.execute("PLAIN")["pid"], self.service_pid, "the option wins over the file")

    def test_a_bad_process_workers_option_fails_initialize(self):
        self.proc = Subprocess()
        error = self.proc.client.error("initialize", {"processId": None, "capabilities": {},
                                                      "initializationOptions": {"processWorkers": "some"}})
        self.assertEqual(error["code"], errors.INVALID_PARAMS)
        self.assertIn("initializationOptions.processWorkers must be one of off, opt-in, all", error["message"])

    def test_shutdown_ends_a_worker_that_ignores_cancellation(self):
        self.start({"cancelGraceMs": 100})
        rid, pid = self.started_in("SPIN_IGNORE")
        self.assertIsNone(self.c.result("shutdown"))
        self.assertEqual(self.c.wait_response(rid)["error"]["code"], errors.REQUEST_CANCELLED)
        self.c.notify("exit")
        self.assertEqual(self.proc.wait(), 0)
