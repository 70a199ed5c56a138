"""JSON-RPC 2.0 over LSP framing: lifecycle, dispatch, cancellation and the threads behind them.

Paths: the reader (main) thread parses every message and answers initialize, shutdown, aios/health and
aios/commands itself; aios/execute goes to a priority worker pool; aios/control to a single control thread
(ordered, and a slow custom control command cannot delay health or cancellation). All writes share one lock.

Start-up: only json, os, sys and threading are imported before the initialize reply; logging, the pools, the
built-in handlers, the n-gram model and the workspace module are loaded after it.
"""

import json
import os
import sys
import threading

from . import __version__, errors
from .errors import Cancelled, ParamsError, RpcError
from .framing import FramingError, MessageReader, MessageWriter
from .jsonenc import dumps_own
from .registry import BUILTIN, CancelToken

SERVER_NAME = "aios-service"
METHODS = ("initialize", "shutdown", "aios/execute", "aios/control", "aios/health", "aios/commands",
           "aios/setConcurrency")
MAX_CONCURRENCY = 256  # initializationOptions.maxConcurrency / aios/setConcurrency: 1..256
PRIORITIES = ("HIGH", "NORMAL", "LOW")
PROCESS_MODES = ("off", "opt-in", "all")  # the aios.python.processWorkers setting; config.PROCESS_MODES
SHUTDOWN_GRACE_S = 5.0
INLINE_CONTROL_OPERATIONS = frozenset(("UPDATE_LOG_LEVEL", "FLUSH_CACHE", "HEALTH_OVERRIDE", "BCM_RESET"))


def _reject_constant(name):
    raise ValueError("%s is not valid JSON" % name)


# Made once: json.loads with any keyword argument builds a new decoder (and scanner) on every call.
_decoder = json.JSONDecoder(parse_constant=_reject_constant)
_scan = _decoder.scan_once


def _loads(text):
    """`_decoder.decode(text)`, straight to the scanner for a message with no space around it (what clients
    send); anything else, errors included, goes the whole way, so the messages are json's own."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        return _decoder.decode(text)
    return value if end == len(text) else _decoder.decode(text)


def _describe(value):
    text = json.dumps(value) if isinstance(value, (str, int, float, bool, type(None))) else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


class _Job(object):
    """One aios/execute in flight; callable by the pool. Identity equality, so the pool can remove it."""

    __slots__ = ("server", "rid", "key", "entry", "command_id", "command_type", "priority", "parameters",
                 "cancel_event", "in_process", "on_cancel", "children")

    def __init__(self, server, rid, entry, command_id, command_type, priority, parameters, in_process=False):
        self.server = server
        self.rid = rid
        self.key = (type(rid).__name__, rid)
        self.entry = entry
        self.command_id = command_id
        self.command_type = command_type
        self.priority = priority
        self.parameters = parameters
        self.cancel_event = CancelToken()
        self.in_process = in_process
        self.on_cancel = None  # set while a worker process runs it (or while it waits for one)
        self.children = None  # a workspace handler on a thread: the processes it started (children.py)

    def __call__(self):
        server = self.server
        try:
            if self.cancel_event.is_set():
                raise Cancelled()
            if self.in_process:
                text, duration_ms = server.service.run_in_process(server.get_procs(), self)
            else:
                if self.entry.source != BUILTIN:
                    self.children = []
                    self.on_cancel = self._end_children_later
                text, duration_ms = server.service.run_command(self.entry, self.command_id, self.command_type,
                                                               self.priority, self.parameters, self.cancel_event,
                                                               self.children)
            server.send_raw_result(self.rid, '{"success":true,"result":%s,"durationMs":%r}' % (text, duration_ms))
        except RpcError as e:
            data = e.data if e.data is not None else {"commandId": self.command_id, "commandType": self.command_type}
            server.send_error(self.rid, e.code, e.message, data)
        except BaseException as e:  # never let a worker die without answering
            server.send_error(self.rid, errors.INTERNAL_ERROR, "Internal error running %s: %s: %s"
                              % (self.command_type, type(e).__name__, e))
        finally:
            self.on_cancel = None
            server.forget(self)

    def _end_children_later(self):
        """Cancelled while running on a thread: a handler still blocked on a program it started (subprocess.run)
        cancelGraceMs later has that program ended, which lets it return (children.py)."""
        children = self.children
        grace_s = self.server.service.config["processWorkers"]["cancelGraceMs"] / 1000.0
        from . import children as children_mod
        timer = threading.Timer(grace_s, children_mod.end, (children,))
        timer.daemon = True
        timer.start()


class Server(object):
    def __init__(self, read, write, service=None, log_stream=None):
        from .service import Service  # light: json/os/threading plus the service's own small modules
        self.service = service or Service()
        self.service._notify = self.send_notification
        self.service.on_config = self._on_config
        self.service.pool_stats = self._pool_stats
        self._read = read
        self.writer = MessageWriter(write)
        # Replies made on the reader thread leave together, when it next reads (see MessageWriter).
        self.reader = MessageReader(read, self.service.config["limits"]["maxMessageBytes"], self.writer.flush)
        self.state = "starting"  # -> "running" after initialize -> "shutdown" after shutdown
        self.exit_code = None
        self._pending = {}
        self._pending_lock = threading.Lock()
        self._pool = None
        self._pool_lock = threading.Lock()  # sizing: setConcurrency (reader) and RELOAD_CONFIG (control thread)
        self._procs = None  # procpool.ProcessPool, made by the first process handler's first call
        self.service.on_handlers = self._on_handlers
        self.service.on_import_timeout = self.writer.flush
        self.service.process_stats = lambda: self._procs.stats() if self._procs is not None else None
        self.service.flush_worker_models = lambda reset: (self._procs.flush_models(reset) if self._procs is not None
                                                          else (0, 0, 0))
        self._control = None
        self._after_reply = None
        self._log_handler = None
        self._log_stream = log_stream
        self._requests = {
            "initialize": self._initialize,
            "shutdown": self._shutdown,
            "aios/execute": self._execute,
            "aios/control": self._control_request,
            "aios/health": lambda rid, params: self.send_raw_result(rid, self.service.health_json()),
            "aios/commands": lambda rid, params: self.send_result(rid, self.service.commands()),
            "aios/setConcurrency": self._set_concurrency,
        }

    # ---- main loop -------------------------------------------------------------------------------------------

    def serve(self):
        """Read and dispatch until `exit` or end of input; returns the process exit code (LSP: 0 only if
        `shutdown` came first)."""
        self.writer.hold()
        try:
            while self.exit_code is None:
                item = self.reader.read_message()
                if item is None:
                    break
                if isinstance(item, FramingError):
                    self.send_error(item.request_id, item.code, item.message)
                    continue
                self.handle_body(item)
                if not self.reader.buffered():
                    self.writer.flush()  # nothing else read yet: the replies leave now, not after more parsing
                if self._after_reply is not None:
                    work, self._after_reply = self._after_reply, None
                    self.writer.flush()
                    work()
        finally:
            self.close()
            self.writer.flush()
        if self.exit_code is not None:
            return self.exit_code
        return 0 if self.state == "shutdown" else 1

    def close(self):
        self._cancel_all()
        if self._procs is not None:
            self._procs.close()
        if self._log_handler is not None:
            from . import logs
            logs.uninstall(self._log_handler)
            self._log_handler = None

    def handle_body(self, body):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            self.send_error(None, errors.PARSE_ERROR, "Message body is not valid UTF-8: %s" % e)
            return
        try:
            message = _loads(text)
        except ValueError as e:
            self.send_error(None, errors.PARSE_ERROR, "Message body is not valid JSON: %s" % e)
            return
        self.handle_message(message)

    def handle_message(self, msg):
        if isinstance(msg, list):
            self.send_error(None, errors.INVALID_REQUEST, "Batch requests (JSON arrays) are not supported; send "
                            "one message per Content-Length frame.")
            return
        if not isinstance(msg, dict):
            self.send_error(None, errors.INVALID_REQUEST, "A message must be a JSON object (got %s)." % _describe(msg))
            return
        has_id = "id" in msg
        rid = msg.get("id")
        if has_id and (isinstance(rid, bool) or not isinstance(rid, (int, str))):
            self.send_error(None, errors.INVALID_REQUEST, "'id' must be an integer or a string (got %s)."
                            % _describe(rid))
            return
        if msg.get("jsonrpc") != "2.0":
            self.send_error(rid, errors.INVALID_REQUEST, "'jsonrpc' must be \"2.0\" (got %s)."
                            % _describe(msg.get("jsonrpc")))
            return
        method = msg.get("method")
        if method is None and ("result" in msg or "error" in msg):
            return  # a response; this server sends no requests, so there is nothing to match it to
        if not isinstance(method, str) or not method:
            self.send_error(rid, errors.INVALID_REQUEST, "'method' must be a non-empty string (got %s)."
                            % _describe(method))
            return
        params = msg.get("params")
        if not has_id:
            self._notification(method, params)
            return
        if isinstance(params, list) and len(params) <= 1 and (
                not params or params[0] is None or isinstance(params[0], dict)):
            # vscode-jsonrpc sends `[null]` for an undefined single parameter (and `[obj]` by position).
            params = params[0] if params else None
        if params is not None and not isinstance(params, dict):
            self.send_error(rid, errors.INVALID_PARAMS, "%s: 'params' must be an object of named parameters "
                            "(got %s)." % (method, _describe(params)))
            return
        self._request(rid, method, params if params is not None else {})

    def _request(self, rid, method, params):
        if self.state == "starting" and method != "initialize":
            self.send_error(rid, errors.SERVER_NOT_INITIALIZED, "The server is not initialized: send "
                            "'initialize' before %r." % method)
            return
        if self.state == "shutdown":
            self.send_error(rid, errors.INVALID_REQUEST, "The server is shutting down ('shutdown' was received); "
                            "only the 'exit' notification is accepted now.")
            return
        handler = self._requests.get(method)
        if handler is None:
            self.send_error(rid, errors.METHOD_NOT_FOUND, "Unknown method %r. This service answers: %s."
                            % (method, ", ".join(METHODS)))
            return
        try:
            handler(rid, params)
        except RpcError as e:
            self.send_error(rid, e.code, e.message, e.data)
        except Exception as e:
            self._log_exception("Internal error in %s" % method)
            self.send_error(rid, errors.INTERNAL_ERROR, "Internal error in %s: %s: %s" % (method, type(e).__name__, e))

    def _notification(self, method, params):
        if method == "exit":
            self.exit_code = 0 if self.state == "shutdown" else 1
        elif method == "$/cancelRequest":
            if isinstance(params, dict) and "id" in params:
                self._cancel(params["id"])
        # `initialized`, `$/setTrace` and unknown notifications need no answer (JSON-RPC forbids one).

    # ---- lifecycle methods -----------------------------------------------------------------------------------

    def _initialize(self, rid, params):
        if self.state != "starting":
            raise RpcError("'initialize' was already received; send it once per process.", errors.INVALID_REQUEST)
        options = params.get("initializationOptions")
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ParamsError("initializationOptions must be an object (got %s)" % _describe(options))
        for key in ("configFile", "handlersModule", "logLevel", "workspaceFolder", "processWorkers"):
            value = options.get(key)
            if value is not None and not isinstance(value, str):
                raise ParamsError("initializationOptions.%s must be a string or null (got %s)"
                                  % (key, _describe(value)))
        if options.get("processWorkers") not in (None,) + PROCESS_MODES:
            raise ParamsError("initializationOptions.processWorkers must be one of %s, or null (got %s)"
                              % (", ".join(PROCESS_MODES), _describe(options["processWorkers"])))
        if options.get("maxConcurrency") is not None:
            _concurrency(options["maxConcurrency"], "initializationOptions.maxConcurrency")
        problems = self.service.initialize(options)
        self.state = "running"
        self.send_result(rid, {"capabilities": {}, "serverInfo": {"name": SERVER_NAME, "version": __version__}})
        self._after_reply = lambda: self._start(problems)

    def _start(self, problems):
        from . import logs
        self._log_handler = logs.install(self._log_message, self._log_stream)
        log = logs.get_logger()
        self.service.start()
        self._apply_transport(self.service.config)  # polling from here on: the initialize reply is out
        log.info("%s %s ready (pid %d, Python %d.%d.%d)", SERVER_NAME, __version__, os.getpid(),
                 *sys.version_info[:3])
        for problem in problems:
            log.error(problem)

    def _apply_transport(self, cfg):
        set_poll = getattr(self._read, "set_poll", None)  # a PipeReader (tests may pass a plain function)
        if set_poll is not None:
            set_poll(cfg["transport"]["pollMicroseconds"] / 1e6, self._replies_owed)

    def _replies_owed(self):
        """True while executes or queued control operations have not answered yet (other threads will)."""
        return bool(self._pending) or (self._control is not None and not self._control.idle())

    def _log_message(self, lsp_type, text):
        self.send_notification("window/logMessage", {"type": lsp_type, "message": text})

    def _shutdown(self, rid, params):
        # Cancel executes, then let in-flight work answer before replying, so every request the client sent
        # before `shutdown` gets its reply (bounded: a handler ignoring cancellation cannot hold exit hostage).
        self.state = "shutdown"
        self._cancel_all()
        self.writer.flush()  # what was answered already leaves before the wait
        for pool in (self._control, self._pool):
            if pool is not None:
                pool.wait_idle(SHUTDOWN_GRACE_S)
        self.send_result(rid, None)

    # ---- executes and control --------------------------------------------------------------------------------

    def _execute(self, rid, params):
        command_type = params.get("commandType")
        if not isinstance(command_type, str) or not command_type:
            raise ParamsError("aios/execute: 'commandType' must be a non-empty string (got %s)"
                              % _describe(command_type))
        command_id = params.get("commandId", str(rid))
        if not isinstance(command_id, str):
            raise ParamsError("aios/execute: 'commandId' must be a string (got %s)" % _describe(command_id))
        priority = params.get("priority", "NORMAL")
        if priority not in PRIORITIES:
            raise ParamsError("aios/execute: 'priority' must be one of HIGH, NORMAL, LOW (got %s)"
                              % _describe(priority))
        parameters = params.get("parameters")
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            raise ParamsError("aios/execute: 'parameters' must be an object (got %s)" % _describe(parameters))
        entry = self.service.registry.get_command(command_type)
        if entry is None:
            raise RpcError("Unknown commandType %r. Available: %s. Add one with @command(%r) in .aios/handlers.py."
                           % (command_type, ", ".join(sorted(self.service.registry.commands)), command_type),
                           errors.UNKNOWN_COMMAND_TYPE, {"commandId": command_id, "commandType": command_type})
        if entry.inline and (self._pool is None or not self._pool.has_queued()):
            self._execute_inline(rid, entry, command_id, command_type, priority, parameters)
            return
        job = _Job(self, rid, entry, command_id, command_type, priority, parameters,
                   self.service.runs_in_process(entry))
        with self._pending_lock:
            if job.key in self._pending:
                raise RpcError("Request id %r is already in flight; ids must be unique." % (rid,),
                               errors.INVALID_REQUEST)
            self._pending[job.key] = job
        pool = self._get_pool()
        try:
            pool.submit(job, priority)
        except pool.Full:
            self.forget(job)
            raise RpcError("Too many queued executes (limits.maxQueued = %d); retry later."
                           % pool.max_queued, errors.QUEUE_FULL, {"commandId": command_id})

    def _execute_inline(self, rid, entry, command_id, command_type, priority, parameters):
        """Run a built-in O(1) handler (`inline=True`, e.g. ECHO) here on the reader thread: no hand-off to a
        pool thread and back. Only while no execute is queued, so it never overtakes work waiting for a thread
        (HIGH before NORMAL before LOW still holds); it has answered before the next message is read, so there is
        nothing a $/cancelRequest could still stop."""
        if (type(rid).__name__, rid) in self._pending:
            raise RpcError("Request id %r is already in flight; ids must be unique." % (rid,), errors.INVALID_REQUEST)
        try:
            text, duration_ms = self.service.run_command(entry, command_id, command_type, priority, parameters,
                                                         CancelToken())
        except RpcError as e:
            data = e.data if e.data is not None else {"commandId": command_id, "commandType": command_type}
            self.send_error(rid, e.code, e.message, data)
            return
        self.send_raw_result(rid, '{"success":true,"result":%s,"durationMs":%r}' % (text, duration_ms))

    def _control_request(self, rid, params):
        # The built-in operations that only touch in-memory state take microseconds: run them right here when
        # no control operation is waiting, which keeps them ordered and saves a thread hand-off per call. User
        # code (CUSTOM_COMMAND) and file work (RELOAD_CONFIG re-imports handlers) go to the control thread, so
        # they can never hold up health checks or cancellation.
        if params.get("operation") in INLINE_CONTROL_OPERATIONS and (self._control is None or self._control.idle()):
            self._run_control(rid, params)
            return
        if self._control is None:
            from .pool import WorkerPool
            self._control = WorkerPool(1, 1000, name="aios-control")
        try:
            self._control.submit(lambda: self._run_control(rid, params), "HIGH")
        except self._control.Full:
            raise RpcError("Too many control operations waiting (1000); retry when earlier ones have answered.",
                           errors.QUEUE_FULL)

    def _run_control(self, rid, params):
        try:
            self.send_raw_result(rid, self.service.control_op(params))
        except RpcError as e:
            self.send_error(rid, e.code, e.message, e.data)
        except BaseException as e:
            self._log_exception("Internal error in aios/control")
            self.send_error(rid, errors.INTERNAL_ERROR, "Internal error in aios/control: %s: %s"
                            % (type(e).__name__, e))

    def _get_pool(self):
        if self._pool is None:
            from .pool import WorkerPool
            with self._pool_lock:
                if self._pool is None:
                    self._pool = WorkerPool(self.service.pool_size(), self.service.config["limits"]["maxQueued"])
        return self._pool

    def get_procs(self):
        """The worker processes (procpool imports multiprocessing: only once a process handler runs)."""
        if self._procs is None:
            with self._pool_lock:
                if self._procs is None:
                    from .procpool import ProcessPool
                    self._procs = ProcessPool(self.service)
        return self._procs

    def _on_handlers(self):
        if self._procs is not None:
            self._procs.recycle()

    def _pool_stats(self):
        if self._pool is None:
            return {"max": self.service.pool_size(), "busy": 0, "queued": 0}
        return self._pool.stats()

    def _resize_pool(self):
        with self._pool_lock:  # size and resize together, so the last change wins whichever thread made it
            if self._pool is not None:
                self._pool.resize(self.service.pool_size(), self.service.config["limits"]["maxQueued"])
            if self._procs is not None:
                self._procs.resize()

    def _set_concurrency(self, rid, params):
        # On the reader thread: it only sizes the pool (growing starts queued work at once; shrinking lets
        # running work finish), so it answers in microseconds even while every worker is busy.
        self.service.max_concurrency = _concurrency(params.get("maxConcurrency"), "aios/setConcurrency: "
                                                                                  "'maxConcurrency'")
        self._resize_pool()
        self.send_result(rid, {"workers": self._pool_stats()})

    def _on_config(self, cfg):
        self.reader.max_body_bytes = cfg["limits"]["maxMessageBytes"]
        if self.state != "starting":  # at start-up `_start` turns polling on, after the initialize reply
            self._apply_transport(cfg)
        self._resize_pool()

    def forget(self, job):
        with self._pending_lock:
            if self._pending.get(job.key) is job:
                del self._pending[job.key]

    def _cancel(self, rid):
        with self._pending_lock:
            job = self._pending.get((type(rid).__name__, rid))
        if job is None:
            return  # already answered (or never existed): LSP says ignore
        job.cancel_event.set()
        on_cancel = job.on_cancel
        if on_cancel is not None:
            on_cancel()  # a process handler: tell its worker (or wake its wait for one)
        if self._pool is not None and self._pool.remove(job):
            # It had not started: answer now instead of when a worker frees up.
            self.forget(job)
            self.send_error(job.rid, errors.REQUEST_CANCELLED, "Request cancelled by the client before it started",
                            {"commandId": job.command_id, "commandType": job.command_type})

    def _cancel_all(self):
        with self._pending_lock:
            jobs = list(self._pending.values())
        for job in jobs:
            self._cancel(job.rid)

    # ---- output ----------------------------------------------------------------------------------------------

    def _send(self, message):
        try:
            body = dumps_own(message)
        except (TypeError, ValueError, RecursionError) as e:  # a handler's ctx.notify params, say
            body = dumps_own({"jsonrpc": "2.0", "id": message.get("id"), "error": {
                "code": errors.INTERNAL_ERROR, "message": "Reply could not be serialised: %s" % e}})
        self.writer.write_body(body.encode("utf-8"))

    def send_result(self, rid, result):
        self._send({"jsonrpc": "2.0", "id": rid, "result": result})

    def send_raw_result(self, rid, result_json):
        """Send a result already serialised (executes serialise once, on their worker, and count the bytes)."""
        rid_json = str(rid) if type(rid) is int else dumps_own(rid)
        self.writer.write_body(('{"jsonrpc":"2.0","id":%s,"result":%s}' % (rid_json, result_json)).encode("utf-8"))

    def send_error(self, rid, code, message, data=None):
        error = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        self._send({"jsonrpc": "2.0", "id": rid, "error": error})

    def send_notification(self, method, params):
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def _log_exception(self, what):
        from . import logs
        logs.get_logger().error(what, exc_info=True)


def _concurrency(value, what):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CONCURRENCY:
        raise ParamsError("%s must be an integer from 1 to %d, the extension's aios.maxConcurrency (got %s)"
                          % (what, MAX_CONCURRENCY, _describe(value)))
    return value


def _binary_fds(*fds):
    if sys.platform == "win32":  # no CRLF translation on the protocol pipes
        import msvcrt
        for fd in fds:
            msvcrt.setmode(fd, os.O_BINARY)


def main(argv=()):
    for arg in argv:
        if arg in ("--version", "-V"):
            sys.stderr.write("%s %s\n" % (SERVER_NAME, __version__))
            return 0
        if arg in ("--help", "-h"):
            sys.stderr.write("usage: python -m aios_service [--stdio]\nSpeaks JSON-RPC 2.0 with LSP framing on "
                             "stdin/stdout; see python/README.md.\n")
            return 0
        # --stdio (added by vscode-languageclient) and unknown flags are accepted: stdio is the only transport.
    # Keep private copies of the protocol pipes, then point fd 0 at devnull and fd 1 at stderr: a stray
    # print()/input() in handler code, or a child process it starts, can never corrupt or steal protocol bytes.
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)
    except OSError:
        pass
    sys.stdout = sys.stderr
    _binary_fds(in_fd, out_fd)

    def write(data):
        view = memoryview(data)
        while view:
            view = view[os.write(out_fd, view):]

    from .pipe import PipeReader
    return Server(PipeReader(in_fd), write).serve()
