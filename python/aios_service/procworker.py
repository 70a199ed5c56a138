"""The inside of a worker process (see procpool.py for the service's side).

`main` is the process's entry point: a module-level function, so every start method can pickle it by reference
(under spawn, the default, the worker is a fresh interpreter that imports this module). It loads the workspace
handlers module by path exactly as the service does (registry.exec_module_file), once per process, so
module-level state (a model loaded at import or on first use) lives as long as the worker and serves every call
it runs. A reload of the handlers module in the service reaches the worker as ("reload", setup) before its next
call: the worker re-imports the module in place, so `ctx.models` (this worker's own ModelCache) is kept across it
as it is in the service. Only plain data crosses the pipes: the handler is looked up here by its command type.

Pipes, one way each: calls (read by the main thread, which runs them one at a time), cancellations (read by a
thread of their own while a handler runs) and answers. Messages:
- calls: ("run", job, commandType, commandId, priority, parameters, levels or None), ("reload", setup), ("stop",).
  `levels` is (root level, {logger: level}) when it changed since the last run.
- cancellations: the job key, or ("flush", token, reset counters): empty ctx.models now, even while a call runs.
- worker -> service: ("log", levelno, logger name, text, created), ("notify", method, params),
  ("done", job, result JSON, cpu seconds, bytes, models held), ("error", job, {code, message, data?}, cpu seconds,
  bytes, models held), ("flushed", token, models dropped).
"""

import os
import sys
import threading
import time

from . import children, errors
from .errors import Cancelled, RpcError
from .cache import ModelCache
from .jsonenc import dumps, dumps_own
from .registry import BUILTIN, REGISTRY, WORKSPACE, CancelToken, Context, exec_module_file


class _ServiceView(object):
    """`ctx.service` in a worker: the config (as of the worker's start or the last reload), notify, and this
    worker's own `models` (ctx.models); the service's caches, model and settings live in the service process, so
    asking for them says so."""

    def __init__(self, config, notify):
        self.config = config
        self.notify = notify
        self.models = ModelCache()

    def __getattr__(self, name):
        raise AttributeError(
            "ctx.service.%s is not available in a process handler: it runs in a worker process, and the service's "
            "caches, model and settings live in the service process. Keep state at module level (it persists in "
            "each worker), or register the handler with process=False." % name)


class _Worker(object):
    def __init__(self, inbox, cancels, outbox, setup):
        self.inbox = inbox
        self.cancels = cancels
        self.outbox = outbox
        self.setup = setup
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._job = None  # (key, CancelToken) of the call running
        self._cancelled = set()  # keys cancelled before their call was read
        self.service = _ServiceView(setup.get("config"), self.notify)
        self.load_error = None
        self.started = False  # whether the handlers module was loaded once (a reload then keeps what it had)

    def send(self, message):
        with self._send_lock:
            self.outbox.send(message)

    def notify(self, method, params):
        self.send(("notify", method, params))

    def read_cancels(self):
        """The cancellation thread: sets the running call's token (or remembers a key not started yet)."""
        try:
            while True:
                key = self.cancels.recv()
                if isinstance(key, tuple):  # ("flush", token, reset): FLUSH_CACHE, answered at once
                    self.send(("flushed", key[1], self.service.models.clear(reset_stats=key[2])))
                    continue
                with self._lock:
                    job = self._job
                    if job is not None and job[0] == key:
                        job[1].set()
                    else:
                        self._cancelled.add(key)
        except (EOFError, OSError):
            # The service is gone (or closed our pipe): nobody is left to answer, so do not finish the handler.
            os._exit(0)

    def serve(self):
        """The main thread: one call at a time, read straight from the pipe."""
        while True:
            try:
                message = self.inbox.recv()
            except (EOFError, OSError):
                return  # the service is gone, or retired this worker
            if message[0] == "reload":
                self.load(message[1])
                continue
            if message[0] != "run":
                return  # ("stop",)
            _, key, command_type, command_id, priority, parameters, levels = message
            if levels is not None:
                _set_levels(levels)
            token = CancelToken()
            with self._lock:
                if key in self._cancelled:
                    token.set()
                self._cancelled = {k for k in self._cancelled if k > key}  # keys only grow
                self._job = (key, token)
            try:
                self.send(self._run(key, command_type, command_id, priority, parameters, token))
            finally:
                with self._lock:
                    self._job = None

    def _run(self, job, command_type, command_id, priority, parameters, token):
        cpu0 = time.thread_time()
        nbytes = 0
        where = {"commandId": command_id, "commandType": command_type}
        try:
            nbytes = len(dumps_own(parameters).encode("utf-8"))
            if self.load_error is not None:
                raise RpcError("The workspace handlers module could not be imported in a worker process: %s"
                               % self.load_error, errors.HANDLER_FAILED, dict(where, exception="ImportError"))
            entry = REGISTRY.get_command(command_type)
            if entry is None:
                raise RpcError("%s is not registered in the worker process (the workspace module registers "
                               "it only in the service process?); available there: %s"
                               % (command_type, ", ".join(sorted(REGISTRY.commands)) or "none"),
                               errors.UNKNOWN_COMMAND_TYPE, where)
            if token.is_set():
                raise Cancelled()
            ctx = Context(self.service, command_id, command_type, priority, token,
                          getattr(entry.func, "__module__", None)) if entry.takes_ctx else None
            started = []
            children.track(started)
            try:
                result = entry.call(parameters, ctx)
            except RpcError:
                raise
            except (Exception, SystemExit) as e:
                import logging
                logging.getLogger("aios_service").warning("Handler for %s (commandId %s) raised", command_type,
                                                          command_id, exc_info=True)
                raise RpcError("Handler for %s failed: %s: %s" % (command_type, type(e).__name__, e),
                               errors.HANDLER_FAILED, dict(where, exception=type(e).__name__))
            finally:
                children.untrack()
                if token.is_set():
                    children.end(started)  # a handler that still blocks is ended with its worker's tree
            if token.is_set():
                raise Cancelled()
            try:
                text = dumps(result)
            except (TypeError, ValueError) as e:
                raise RpcError("Handler for %s returned a value that is not JSON-serialisable: %s"
                               % (command_type, e), errors.HANDLER_FAILED, where)
            size = len(text.encode("utf-8"))
            nbytes += size
            limit = self.setup["config"]["limits"]["maxMessageBytes"]
            if size > limit:  # checked here too, so it never crosses the pipe
                raise errors.reply_too_large("Handler for %s" % command_type, size, limit,
                                             dict(where, bytes=size, limit=limit))
            return ("done", job, text, time.thread_time() - cpu0, nbytes, len(self.service.models))
        except RpcError as e:
            error = e.to_dict()
            if "data" not in error:
                error["data"] = where
            return ("error", job, error, time.thread_time() - cpu0, nbytes, len(self.service.models))

    def load(self, setup):
        """Import the handlers module (at start, and again in place when the service reloaded it). A reload that
        fails here keeps the previous handlers, as the service does (the file changed again since the service
        loaded it: the service's next reload says how)."""
        path = setup.get("handlers")
        self.service.config = setup.get("config")
        first = not self.started
        self.started = True
        snapshot = REGISTRY.snapshot(WORKSPACE)
        REGISTRY.replace_source(WORKSPACE, ({}, {}))
        if not path:
            self.load_error = None
            return
        REGISTRY.source = WORKSPACE
        try:
            exec_module_file(setup["moduleName"], path)
            self.load_error = None
        except (Exception, SystemExit) as e:
            if first:
                self.load_error = "%s: %s" % (type(e).__name__, e)
            else:
                REGISTRY.replace_source(WORKSPACE, snapshot)
                import logging
                logging.getLogger("aios_service").warning(
                    "Worker process %d could not reload %s (%s: %s); it keeps the handlers it had", os.getpid(),
                    path, type(e).__name__, e)
        finally:
            REGISTRY.source = BUILTIN


def _set_levels(levels):
    import logging
    root, named = levels
    logging.getLogger().setLevel(getattr(logging, root))
    for name, level in named.items():
        logging.getLogger(name).setLevel(getattr(logging, level))


def _install_logging(worker):
    """Records made in the worker go to the service as ("log", ...); the service hands them to its own logging
    (stderr and window/logMessage), so they look like records made there."""
    import logging

    class Forward(logging.Handler):
        def emit(self, record):
            try:
                text = record.getMessage()
                if record.exc_info:
                    text += "\n" + logging.Formatter().formatException(record.exc_info)
                worker.send(("log", record.levelno, record.name, text, record.created))
            except Exception:
                pass

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(Forward())


def main(inbox, cancels, outbox, setup):
    """Entry point of a worker process: load the handlers module, then run what the service sends."""
    import signal
    if hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the service's to handle
    sys.stdout = sys.stderr  # fd 1 is the service's stderr already; never the protocol pipe
    children.install()
    worker = _Worker(inbox, cancels, outbox, setup)
    _install_logging(worker)
    _set_levels(setup["levels"])
    worker.load(setup)
    threading.Thread(target=worker.read_cancels, name="aios-worker-cancels", daemon=True).start()
    worker.serve()
