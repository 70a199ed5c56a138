"""Worker processes for process handlers (`@command(..., process=True)`): the service's side.

Imported on the first process handler's first call, never at start-up (multiprocessing costs start-up time).
Not concurrent.futures.ProcessPoolExecutor: it cannot cancel a running call, does not say which call a dead
worker took down, and replaces its whole pool when one worker dies. Here each worker has three one-way pipes
(calls in, cancellations in, answers out):

- the executes' pool thread that runs a process handler takes an idle worker (HIGH before NORMAL before LOW
  among those waiting; a new worker starts on demand while fewer than `max` exist), sends it the call and reads
  the answer itself (one wake-up on each side), so admission, priorities and queue limits stay the thread
  pool's;
- `$/cancelRequest` sends the call's key on the cancellation pipe: the worker's ctx.cancelled becomes true. A
  handler that has not answered `cancelGraceMs` later has its worker terminated; the call is answered -32800
  and the next call starts a fresh worker;
- a worker that dies (os._exit, a crash in native code, kill -9) is seen as the end of its answers pipe: its
  call fails with -32019 WorkerCrashed. One found dead while idle is dropped when next taken. Either way a new
  worker starts for the next call;
- a worker's log records and ctx.notify() come back on its answers pipe, read while it runs a call (so what a
  handler's own background thread logs between calls arrives with the next call);
- a reload of the handlers module (`recycle`) is sent to each worker before its next call, which re-imports the
  module in place: the worker, and the models its ctx.models holds, stay;
- FLUSH_CACHE (`flush_models`) sends ("flush", token) on every worker's cancellation pipe, which the worker
  reads at once even mid-call; the answer comes back on its answers pipe, read by the thread running its call
  or, for an idle worker, by the flush itself.
"""

import heapq
import itertools
import threading
import time

from . import errors, logs, procworker
from .errors import Cancelled, RpcError

_PRIORITY_INDEX = {"HIGH": 0, "NORMAL": 1, "LOW": 2}
STOP_GRACE_S = 1.0  # at shutdown: how long workers may take to leave before they are terminated
FLUSH_WAIT_S = 5.0  # FLUSH_CACHE: how long to wait for workers' answers (one busy in native code may not answer)


def _exit_description(code):
    if code is None:
        return "it did not exit"
    if code < 0:
        import signal
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "signal %d" % -code
        return "killed by %s" % name
    return "exit code %d" % code


class _Call(object):
    """One call in a worker."""

    __slots__ = ("job", "done", "terminated")

    def __init__(self, job):
        self.job = job
        self.done = False
        self.terminated = False  # the worker was terminated because the handler ignored cancellation


class _Worker(object):
    """A worker process and its three one-way pipes: calls in, cancellations in, answers (and logs) out. The
    thread that runs a call sends it and reads the answer itself, so a call costs one wake-up on each side."""

    def __init__(self, pool, generation):
        self.pool = pool
        self.generation = generation  # the pool's handlers generation this worker has imported
        self.call = None
        self.alive = True
        self.models = 0  # ctx.models entries, as the worker last said
        self.flushed = None  # (token, models dropped): the answer to the last flush, once read
        ctx = pool.mp
        from_worker, worker_out = ctx.Pipe(duplex=False)
        worker_in, to_worker = ctx.Pipe(duplex=False)
        worker_cancels, cancels = ctx.Pipe(duplex=False)
        self._to_worker = to_worker
        self._cancels = cancels
        self._from_worker = from_worker
        self._cancel_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self.process = ctx.Process(target=procworker.main, args=(worker_in, worker_cancels, worker_out,
                                                                 pool.setup()), name="aios-process-worker")
        self.process.start()
        # Only the worker may hold its ends: then its death ends our reading end at once (EOF).
        worker_in.close()
        worker_cancels.close()
        worker_out.close()
        self.pid = self.process.pid
        self.levels = pool.levels()

    def is_alive(self):
        if self.alive and not self.process.is_alive():
            self.alive = False
        return self.alive

    def run(self, job, job_key, levels):
        """Send the call and read until its answer: ("done", ...), ("error", ...) or ("exit", exit code)."""
        call = self.call = _Call(job)
        pool = self.pool
        try:
            generation = pool.generation
            with self._send_lock:
                if generation != self.generation:  # the handlers module was reloaded: the worker follows first
                    self._to_worker.send(("reload", pool.setup()))
                    self.generation = generation
                self._to_worker.send(("run", job_key, job.command_type, job.command_id, job.priority,
                                      job.parameters, levels if levels != self.levels else None))
            self.levels = levels
            while True:
                message = self._from_worker.recv()
                if self._handle(message):
                    call.done = True
                    self.models = message[5]
                    return call, message
        except (EOFError, OSError, ValueError):
            pass
        except Exception:  # an unpicklable message is a bug here, not the handler's: say so and retire it
            logs.get_logger().error("Bad message from worker process %d", self.pid, exc_info=True)
            self.terminate()
        call.done = True
        return call, ("exit", self._ended())

    def _handle(self, message):
        """A message from the worker that is not its call's answer; True when it is the answer."""
        kind = message[0]
        if kind == "log":
            self.pool.forward_log(*message[1:])
        elif kind == "notify":
            self.pool.notify(message[1], message[2])
        elif kind == "flushed":
            self.pool.flush_answered(self, message[1], message[2])
        else:
            return kind in ("done", "error")
        return False

    def read_flush(self, token, deadline):
        """For a worker no call is using: read its answers pipe until the flush `token` is answered (True), the
        deadline passes or the worker is gone (False)."""
        try:
            while self.flushed is None or self.flushed[0] < token:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._from_worker.poll(remaining):
                    return False
                self._handle(self._from_worker.recv())
            return True
        except (EOFError, OSError, ValueError):
            self._ended()
            return False

    def send_flush(self, token, reset):
        try:
            with self._cancel_lock:
                self._cancels.send(("flush", token, reset))
            return True
        except (OSError, ValueError):
            return False

    def _ended(self):
        """The worker's pipe ended: its exit code (None if it did not exit within 2 s)."""
        self.alive = False
        try:
            self.process.join(2.0)
        except (OSError, ValueError, AttributeError):
            pass
        for conn in (self._from_worker, self._to_worker, self._cancels):
            try:
                conn.close()
            except OSError:
                pass
        code = self.process.exitcode
        self.pool.gone(self, code)
        return code

    def cancel(self, job_key, grace_s):
        call = self.call
        try:
            with self._cancel_lock:
                self._cancels.send(job_key)
        except (OSError, ValueError):
            return
        if call is None:
            return
        timer = threading.Timer(grace_s, self._terminate_if_running, (call,))
        timer.daemon = True
        timer.start()

    def _terminate_if_running(self, call):
        if self.call is call and not call.done:
            call.terminated = True
            self.terminate()

    def terminate(self):
        """Stop the process now, with every process it started (see proctree.py)."""
        from . import proctree
        try:
            if self.process.exitcode is None:
                proctree.kill_tree(self.process.pid)
            self.process.join(0.5)
        except (OSError, ValueError, AttributeError):
            pass

    def stop(self, idle=True):
        """Ask the worker to leave once it is idle. For an idle one our pipe ends close too (the end of its
        input says the same); a busy one's are the running call's, which closes them when it ends."""
        try:
            with self._send_lock:
                self._to_worker.send(("stop",))
        except (OSError, ValueError):
            pass
        if idle:
            for conn in (self._to_worker, self._cancels, self._from_worker):
                try:
                    conn.close()
                except OSError:
                    pass


class ProcessPool(object):
    """Worker processes, started on demand up to `max_workers()`; see the module docstring."""

    def __init__(self, service):
        import multiprocessing
        self.service = service
        cfg = service.config["processWorkers"]
        method = cfg["startMethod"]
        if method not in multiprocessing.get_all_start_methods():
            logs.get_logger().warning("processWorkers.startMethod %s is not available on this platform; "
                                      "using spawn", method)
            method = "spawn"
        self.start_method = method
        self.mp = multiprocessing.get_context(method)
        self._cond = threading.Condition(threading.Lock())
        self._idle = []
        self._workers = set()
        self._starting = 0
        self._waiting = []  # heap of [priority index, serial, job]
        self._serial = itertools.count()
        self._job_keys = itertools.count(1)
        self.generation = 0
        self.started = 0
        self.crashed = 0
        self.terminated = 0
        self._closed = False
        self._retired = []  # workers asked to stop, until they have exited
        self._flush_token = 0

    # ---- what workers get ------------------------------------------------------------------------------------

    def setup(self):
        from .service import HANDLERS_MODULE_NAME
        svc = self.service
        return {"handlers": svc.handlers_path if svc.handlers_loaded else None, "moduleName": HANDLERS_MODULE_NAME,
                "levels": self.levels(), "config": svc.config}

    def levels(self):
        svc = self.service
        return (svc.log_level, dict(svc.logger_levels))

    def max_workers(self):
        return self.service.process_pool_size()

    # ---- calls -----------------------------------------------------------------------------------------------

    def run(self, job):
        """Run `job` (a server _Job) in a worker; returns (result JSON, durationMs, cpu seconds, bytes) or raises
        RpcError. Called on the executes' pool thread, which it blocks until the answer."""
        wall0 = time.perf_counter()
        worker = self._acquire(job)
        call = None
        try:
            key = next(self._job_keys)
            job.on_cancel = lambda: worker.cancel(key, self.service.config["processWorkers"]["cancelGraceMs"] / 1e3)
            if job.cancel_event.is_set():
                job.on_cancel()
            call, reply = worker.run(job, key, self.levels())
            job.on_cancel = None
            duration_ms = round((time.perf_counter() - wall0) * 1000.0, 3)
            if reply[0] == "done":
                return reply[2], duration_ms, reply[3], reply[4]
            where = {"commandId": job.command_id, "commandType": job.command_type}
            if reply[0] == "error":
                error = reply[2]
                failure = RpcError(error["message"], error["code"], error.get("data"))
                failure.cost = (reply[3], reply[4])
                raise failure
            if call.terminated:
                raise Cancelled("%s ignored the cancellation for %d ms, so its worker process (pid %d) was "
                                "terminated; a new worker starts for the next call"
                                % (job.command_type, self.service.config["processWorkers"]["cancelGraceMs"],
                                   worker.pid), where)
            if job.cancel_event.is_set():
                raise Cancelled()
            raise RpcError("The worker process (pid %d) running %s died before it answered (%s); a new worker "
                           "starts for the next call and the service keeps running. Look for what ended it: "
                           "os._exit or sys.exit from a thread, a crash in native code, memory, or the process "
                           "being killed." % (worker.pid, job.command_type, _exit_description(reply[1])),
                           errors.WORKER_CRASHED, dict(where, pid=worker.pid, exitCode=reply[1]))
        finally:
            job.on_cancel = None
            self._release(worker, call)

    def _acquire(self, job):
        entry = [_PRIORITY_INDEX.get(job.priority, 1), next(self._serial), job]
        with self._cond:
            heapq.heappush(self._waiting, entry)
            job.on_cancel = self._wake
            try:
                while True:
                    if job.cancel_event.is_set():
                        raise Cancelled("Request cancelled by the client before a worker process was free",
                                        {"commandId": job.command_id, "commandType": job.command_type})
                    if self._closed:
                        raise RpcError("The service is shutting down", errors.REQUEST_CANCELLED)
                    if self._waiting[0] is entry:
                        while self._idle:
                            worker = self._idle.pop()
                            if worker.is_alive():
                                return worker  # of an older generation, it reloads the module first (run)
                            self._died_idle_locked(worker)
                        if len(self._workers) + self._starting < self.max_workers():
                            self._starting += 1
                            break
                    self._cond.wait()
            finally:
                self._waiting.remove(entry)
                heapq.heapify(self._waiting)
                job.on_cancel = None
                self._cond.notify_all()  # the next in line may take a worker now
        try:
            worker = _Worker(self, self.generation)
        except BaseException:
            with self._cond:
                self._starting -= 1
                self._cond.notify_all()
            raise
        with self._cond:
            self._starting -= 1
            self._workers.add(worker)
            self.started += 1
        return worker

    def _release(self, worker, call):
        with self._cond:
            if call is not None and call.terminated:
                self.terminated += 1
            if worker.alive and worker in self._workers:
                if self._closed or len(self._workers) > self.max_workers():
                    self._retire_locked(worker)
                else:
                    self._idle.append(worker)
            worker.call = None
            self._cond.notify_all()

    def _retire_locked(self, worker):
        self._workers.discard(worker)
        worker.stop()
        self._retired.append(worker)
        self._reap_locked()

    def _reap_locked(self):
        """Collect the exit status of retired workers that have left (is_alive() reaps them)."""
        self._retired = [w for w in self._retired if w.process.is_alive()]

    def _died_idle_locked(self, worker):
        """An idle worker found dead (killed between calls): nobody's call failed, but say so."""
        if worker in self._workers:
            self._workers.discard(worker)
            self.crashed += 1
            worker.process.join(0)
            logs.get_logger().warning("Worker process %d exited between calls (%s)", worker.pid,
                                      _exit_description(worker.process.exitcode))

    def _wake(self):
        with self._cond:
            self._cond.notify_all()

    def gone(self, worker, exit_code):
        """A worker's pipe ended: it exited (asked to, or not)."""
        with self._cond:
            expected = worker not in self._workers  # retired ones were asked to stop
            self._workers.discard(worker)
            if worker in self._idle:
                self._idle.remove(worker)
            if not expected and not (worker.call is not None and worker.call.terminated):
                self.crashed += 1
            self._cond.notify_all()
        if not expected and not self._closed:
            logs.get_logger().warning("Worker process %d exited (%s)%s", worker.pid, _exit_description(exit_code),
                                      " while running %s" % worker.call.job.command_type if worker.call else "")

    # ---- what crosses back -----------------------------------------------------------------------------------

    def forward_log(self, levelno, name, text, created):
        import logging
        logger = logging.getLogger(name)
        if logger.isEnabledFor(levelno):
            record = logging.makeLogRecord({"name": name, "levelno": levelno, "levelname": logging.getLevelName(
                levelno), "msg": text, "created": created, "msecs": (created % 1) * 1000})
            logger.handle(record)

    def notify(self, method, params):
        self.service.notify(method, params)

    # ---- changes ---------------------------------------------------------------------------------------------

    def recycle(self):
        """The handlers module was reloaded: each worker re-imports it (and gets the config) in place before its
        next call, keeping its process and its ctx.models."""
        with self._cond:
            self.generation += 1

    def flush_models(self, reset):
        """FLUSH_CACHE: empty ctx.models in every worker. Returns (models dropped, workers that answered, workers
        that did not within FLUSH_WAIT_S). A worker that starts meanwhile has none to drop."""
        with self._cond:
            self._flush_token += 1
            token = self._flush_token
            targets = list(self._workers)
        pending = [w for w in targets if w.send_flush(token, reset)]
        deadline = time.monotonic() + FLUSH_WAIT_S
        dropped = answered = 0
        while pending:
            with self._cond:
                for worker in [w for w in pending if w.flushed is not None and w.flushed[0] >= token]:
                    pending.remove(worker)
                    dropped += worker.flushed[1]
                    answered += 1
                pending = [w for w in pending if w.is_alive() and w in self._workers]  # gone: its models with it
                remaining = deadline - time.monotonic()
                if not pending or remaining <= 0:
                    break
                mine = [w for w in pending if w in self._idle]  # nobody reads their answers: the flush does
                for worker in mine:
                    self._idle.remove(worker)
                if not mine:
                    self._cond.wait(remaining)  # a running call reads the answer, or ends (then it is idle)
                    continue
            for worker in mine:
                worker.read_flush(token, deadline)
                self._release(worker, None)
        return dropped, answered, len(pending)

    def flush_answered(self, worker, token, dropped):
        with self._cond:
            worker.flushed = (token, dropped)
            worker.models = 0
            self._cond.notify_all()

    def resize(self):
        """Fewer workers allowed: idle surplus ones leave; more: waiting calls may start workers."""
        with self._cond:
            while self._idle and len(self._workers) > self.max_workers():
                self._retire_locked(self._idle.pop())
            self._cond.notify_all()

    def stats(self):
        with self._cond:
            for worker in [w for w in self._idle if not w.is_alive()]:  # killed between calls: say so now
                self._idle.remove(worker)
                self._died_idle_locked(worker)
            return {"startMethod": self.start_method, "max": self.max_workers(), "alive": len(self._workers),
                    "busy": len(self._workers) - len(self._idle), "started": self.started, "crashed": self.crashed,
                    "terminated": self.terminated, "models": sum(w.models for w in self._workers)}

    def close(self):
        """Stop every worker: those that do not leave within STOP_GRACE_S are terminated."""
        with self._cond:
            self._closed = True
            idle = set(self._idle)
            workers = list(self._workers) + self._retired
            self._workers.clear()
            self._idle = []
            self._cond.notify_all()
        for worker in workers:
            if worker not in self._retired:
                worker.stop(idle=worker in idle)
        deadline = time.monotonic() + STOP_GRACE_S
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                worker.terminate()
