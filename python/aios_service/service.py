"""The service's state and operations: config, caches, cost counters, health, control operations, executes.

Transport-free (the Server in server.py owns framing and threads) so tests can drive it directly.
Threading: executes run on pool threads, control operations on one control thread, health on the reader
thread; shared state is guarded by `_lock` (config, override, settings) and by the caches' and meter's own locks.
"""

import json
import os
import sys
import threading
import time

from . import __version__, config as config_mod, errors, logs
from .bcm import CostMeter
from .cache import LruCache, ModelCache
from .errors import Cancelled, ConfigError, HandlersError, ParamsError, RpcError
from .jsonenc import dumps, dumps_own
from .registry import BUILTIN, REGISTRY, WORKSPACE, Context, exec_module_file

CONTROL_OPERATIONS = ("UPDATE_LOG_LEVEL", "FLUSH_CACHE", "RELOAD_CONFIG", "HEALTH_OVERRIDE", "BCM_RESET",
                      "CUSTOM_COMMAND")
_OP_METHODS = {name: "_op_" + name.lower() for name in CONTROL_OPERATIONS}
CACHE_TYPES = ("model_cache", "result_cache", "all")
HANDLERS_MODULE_NAME = "aios_handlers"
# The exit code of a service whose handlers module did not finish importing within limits.importTimeoutMs
# (sysexits' EX_CONFIG; src/python/protocol.ts EXIT_HANDLERS_IMPORT_TIMEOUT).
EXIT_HANDLERS_IMPORT_TIMEOUT = 78
_JSON_BOOL = ("false", "true")
# aios/health: the members that change on every call, then (_HEALTH_REST, kept while it stays the same) the state,
# and at its end (%s) the rarely changing members.
_HEALTH_HEAD = '{"status":"%s","overridden":%s,"overrideExpiresAt":%s,"timestamp":"%s","uptimeS":%.3f,%s'
_HEALTH_PLAIN = '{"status":"healthy","overridden":false,"overrideExpiresAt":null,"timestamp":"%s","uptimeS":%.3f,%s'
_HEALTH_REST = ('"logLevel":"%s","loggers":%s,'
                '"cache":{"model_cache":{"entries":%d,"hits":%d,"misses":%d,"maxEntries":%d},'
                '"result_cache":{"entries":%d,"hits":%d,"misses":%d,"maxEntries":%d},'
                '"models":{"entries":%d,"hits":%d,"loads":%d}},'
                '"bcm":%s,"inference":{"complexityFactor":%s,"maxTokens":%d,"effectiveMaxTokens":%d,"order":%d,'
                '"modelLoaded":%s},"workers":{"max":%d,"busy":%d,"queued":%d},"processWorkers":%s,"throttling":%s,%s}')


_last_second = (None, "")


def iso_utc(t):
    """`t` (epoch seconds) as ISO 8601 UTC with milliseconds. The formatted second is reused while it lasts:
    strftime costs more than the rest of a health snapshot's dynamic part."""
    global _last_second
    ms = int(t * 1000.0 + 0.5)  # round(), for the positive times there are, without its call
    second = ms // 1000
    cached = _last_second  # one tuple, replaced whole: other threads (overrides, throttling) format times too
    if cached[0] != second:
        cached = _last_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
    return "%s%03dZ" % (cached[1], ms - second * 1000)


def _utf8_len(text):
    """Bytes of `text` in UTF-8, without encoding it when it is ASCII (isascii is O(1))."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


_cores = []


def usable_cores():
    """CPU cores this process may run on (its affinity where the platform says, else all of them), read once."""
    if not _cores:
        if hasattr(os, "process_cpu_count"):  # 3.13
            n = os.process_cpu_count()
        elif hasattr(os, "sched_getaffinity"):
            n = len(os.sched_getaffinity(0))
        else:
            n = os.cpu_count()
        _cores.append(max(1, n or 1))
    return _cores[0]


def _type_name(value):
    return "null" if value is None else {bool: "boolean", int: "number", float: "number", str: "string",
                                         list: "array", dict: "object"}.get(type(value), type(value).__name__)


class Service(object):
    def __init__(self, notify=None, registry=REGISTRY):
        self._notify = notify or (lambda method, params: None)
        self.registry = registry
        self._lock = threading.RLock()
        self._model_lock = threading.Lock()
        self.started = time.time()
        self.config, _ = config_mod.load(None)
        self.config_file = None
        self.workspace_folder = None
        self.handlers_path = None
        self.handlers_loaded = False
        self.handlers_error = None
        self.handlers_error_location = None  # {file, line, column} of handlers_error, for a diagnostic
        self.config_error = None  # {message, configFile, line, column}: the config file's last load failed
        self.max_concurrency = None  # initializationOptions.maxConcurrency / aios/setConcurrency
        self.log_level = self.config["logLevel"]
        self.logger_levels = {}
        self.model_cache = LruCache(self.config["cache"]["modelMaxEntries"])
        self.result_cache = LruCache(self.config["cache"]["maxEntries"])
        self.models = ModelCache()  # ctx.models: the user's named models, kept across handler reloads
        self.bcm = CostMeter()
        self.complexity_factor = 1.0
        self.throttling = None
        self._override = None  # {"status", "expires" (epoch or None), "token"}
        self.on_config = None  # server hook: resize the pool and the message limit
        self.on_handlers = None  # server hook: the workspace module was (re)loaded; worker processes reload it
        self.on_import_timeout = None  # server hook: write out what is held before the process exits
        self.pool_stats = None
        self.process_stats = None  # server hook: the worker processes' counters, once they exist
        self.flush_worker_models = None  # server hook: FLUSH_CACHE empties ctx.models in every worker process
        self.process_mode_option = None  # initializationOptions.processWorkers: wins over the config file
        self._process_json = None  # (key, JSON) of health.processWorkers before any worker exists
        self._health_rest = None  # (key, JSON) of aios/health after uptimeS: see health_json
        self._static_version = 0
        self._static_cache = None  # (key, JSON) of the rarely changing part of aios/health

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def initialize(self, options):
        """Apply initializationOptions; returns problems to log once logging is up (never raises on a bad
        config file: the service starts with defaults and reports it)."""
        problems = []
        folder = options.get("workspaceFolder")
        self.workspace_folder = folder
        if folder and os.path.isdir(folder):
            # The extension starts the service in its own folder, so `-m` put that folder (not the workspace) on
            # sys.path: nothing in a workspace can shadow the service's modules. Handler code still expects the
            # workspace as its working directory.
            try:
                os.chdir(folder)
            except OSError as e:
                problems.append("Could not change to the workspace folder %s: %s" % (folder, e))
        self.config_file = self._resolve(options.get("configFile"))
        self.handlers_path = self._resolve(options.get("handlersModule"))
        self.max_concurrency = options.get("maxConcurrency")
        self.process_mode_option = options.get("processWorkers")
        try:
            cfg, raw = config_mod.load(self.config_file)
        except ConfigError as e:
            problems.append("%s; using the defaults until it is fixed (then run RELOAD_CONFIG)" % e.message)
            self._set_config_error(e)
            cfg, raw = config_mod.load(None)
        if options.get("logLevel"):
            try:
                cfg["logLevel"] = config_mod.normalize_level(options["logLevel"], "initializationOptions.logLevel")
            except ConfigError as e:
                problems.append(e.message)
        self._apply_config(cfg, raw, initial=True)
        return problems

    def _resolve(self, path):
        if not path:
            return None
        if not os.path.isabs(path) and self.workspace_folder:
            path = os.path.join(self.workspace_folder, path)
        return os.path.abspath(path)

    def start(self):
        """Runs after the initialize reply: everything start-up latency does not need."""
        logs.set_level(self.log_level)
        for name, level in self.logger_levels.items():
            logs.set_level(level, name)
        # The built-ins register their command types; ngram and pool load later on first use: import them now,
        # while the service's own bytecode may still be written (see aios_service/__init__.py).
        from . import builtin_handlers, children, ngram, pool  # noqa: F401
        from . import restore_bytecode_setting
        restore_bytecode_setting()
        children.install()
        self.load_handlers()

    def notify(self, method, params):
        self._notify(method, params)

    # ---- config ----------------------------------------------------------------------------------------------

    def pool_size(self):
        """Execute threads: enough for every command the extension lets run at once (its aios.maxConcurrency),
        and never fewer than the config's `workers` (see python/README.md, "Workers")."""
        workers = self.config["workers"]
        return max(workers, self.max_concurrency) if self.max_concurrency else workers

    def process_mode(self):
        """processWorkers.mode in force: initializationOptions.processWorkers when given, else the config's."""
        return self.process_mode_option or self.config["processWorkers"]["mode"]

    def runs_in_process(self, entry):
        """Whether this command type's handler runs in a worker process (see python/README.md, "Threads or
        processes"): process=True under "opt-in" and "all", every workspace handler not marked process=False
        under "all", never under "off" nor for a built-in."""
        if entry.process is False or entry.source != WORKSPACE:
            return False
        mode = self.process_mode()
        return mode != "off" and (entry.process is True or mode == "all")

    def process_pool_size(self):
        """Worker processes at most: processWorkers.max, else the usable cores but no more than the execute
        pool (a process handler holds a pool thread while it runs, so more could never be busy)."""
        configured = self.config["processWorkers"]["max"]
        return configured if configured else min(usable_cores(), self.pool_size())

    def run_in_process(self, procs, job):
        """Run a process handler's call in a worker (procpool.ProcessPool); returns (result JSON, durationMs) or
        raises RpcError. Cost counters are recorded either way, with the worker's CPU time."""
        wall0 = time.perf_counter()
        cpu_s, nbytes, failed = 0.0, 0, True
        try:
            text, duration_ms, cpu_s, nbytes = procs.run(job)
            failed = False
            return text, duration_ms
        except RpcError as e:
            cpu_s, nbytes = getattr(e, "cost", (0.0, 0))
            raise
        finally:
            self.bcm.record(job.command_type, cpu_s, time.perf_counter() - wall0, nbytes, failed)

    def _set_config_error(self, error):
        data = error.data if error is not None and isinstance(error.data, dict) else {}
        with self._lock:
            self.config_error = None if error is None else {
                "message": error.message, "configFile": data.get("configFile", self.config_file),
                "line": data.get("line"), "column": data.get("column")}
            self._changed()

    def _apply_config(self, cfg, raw, initial=False):
        with self._lock:
            old = self.config
            self.config = cfg  # never mutated once applied: health encodes it as is
            self._changed()
            # A reload only changes levels the file actually sets, so a level chosen at run time survives.
            if initial or "logLevel" in raw:
                self.log_level = cfg["logLevel"]
            if initial or "loggers" in raw:
                self.logger_levels = dict(cfg["loggers"])
        self.result_cache.resize(cfg["cache"]["maxEntries"])
        self.model_cache.resize(cfg["cache"]["modelMaxEntries"])
        if not initial:
            logs.set_level(self.log_level)
            for name, level in self.logger_levels.items():
                logs.set_level(level, name)
            if old["inference"] != cfg["inference"]:
                self.result_cache.clear()
        if self.on_config is not None:
            self.on_config(cfg)

    def load_handlers(self):
        """(Re)import the workspace module. On failure the previous registrations stay and the error is kept
        for aios/health (with its file and line): a broken handlers.py must never take the service down.
        Returns None, or (exception, previous registrations) when the import failed."""
        try:
            failure = self._load_handlers()
            if failure is None and self.on_handlers is not None:
                self.on_handlers()
            return failure
        finally:
            self._changed()

    def _load_handlers(self):
        path = self.handlers_path
        snapshot = self.registry.snapshot(WORKSPACE)
        if not path or not os.path.isfile(path):
            self.registry.replace_source(WORKSPACE, ({}, {}))
            self.handlers_loaded = False
            self.handlers_error = self.handlers_error_location = None
            if path:
                logs.get_logger().info("No workspace handlers module at %s", path)
            return None
        log = logs.get_logger()
        # The previous handlers answer until the new module replaced them (no moment without the types).
        self.registry.begin_load()
        self.registry.source = WORKSPACE
        watchdog = self._import_watchdog(path)
        try:
            exec_module_file(HANDLERS_MODULE_NAME, path)
        except (Exception, SystemExit) as e:
            self.registry.abort_load()
            self.registry.replace_source(WORKSPACE, snapshot)  # exec_module_file put sys.modules back
            location = _location(e, path)
            self.handlers_error = "%s: %s (%s, line %d%s)%s" % (
                type(e).__name__, e.msg if isinstance(e, SyntaxError) else e, os.path.basename(location["file"]),
                location["line"], ", column %d" % location["column"] if location["column"] else "",
                "; the service runs %s" % sys.executable if isinstance(e, ImportError) else "")
            self.handlers_error_location = location
            self.handlers_loaded = False
            log.error("Could not load the workspace handlers module %s: %s", path, self.handlers_error,
                      exc_info=True)
            return e, snapshot
        finally:
            watchdog.cancel()
            self.registry.source = BUILTIN
        self.registry.end_load(WORKSPACE)
        self.handlers_loaded = True
        self.handlers_error = self.handlers_error_location = None
        commands, controls = self.registry.snapshot(WORKSPACE)
        log.info("Loaded workspace handlers from %s: command types [%s], control commands [%s]", path,
                 ", ".join(sorted(commands)), ", ".join(sorted(controls)))
        return None

    def _import_watchdog(self, path):
        """A timer that ends the process when importing `path` takes longer than limits.importTimeoutMs. An
        import that loops or waits holds the thread that runs it for good (the reader at start-up: nothing would
        be answered again; the control thread on a reload), and Python cannot stop a thread: only a new process
        helps, once the file is fixed. The log record says why; the exit code tells the extension."""
        limit_ms = self.config["limits"]["importTimeoutMs"]

        def expired():
            logs.get_logger().critical(
                "Importing the workspace handlers module %s did not finish within %d ms (limits.importTimeoutMs): "
                "an endless loop, or a call that waits, at import time? The service stops now; fix the file (do "
                "slow work in a handler or a control command, not at import).", path, limit_ms)
            if self.on_import_timeout is not None:
                self.on_import_timeout()
            sys.stderr.flush()
            os._exit(EXIT_HANDLERS_IMPORT_TIMEOUT)

        timer = threading.Timer(limit_ms / 1000.0, expired)
        timer.daemon = True
        timer.start()
        return timer

    # ---- executes --------------------------------------------------------------------------------------------

    def run_command(self, entry, command_id, command_type, priority, parameters, cancel_event, children=None):
        """Run one handler on the calling (pool) thread; returns (result JSON text, durationMs) or raises
        RpcError. Cost counters are recorded either way. `children`: a list that collects the processes the
        handler starts (children.py); those still running when a cancelled call ends are ended."""
        # Most simple handlers take only their parameters: no Context for them.
        ctx = Context(self, command_id, command_type, priority, cancel_event,
                      getattr(entry.func, "__module__", None)) if entry.takes_ctx else None
        wall0 = time.perf_counter()
        cpu0 = time.thread_time()
        nbytes = 0
        failed = True
        try:
            nbytes = _utf8_len(dumps_own(parameters))  # decoded JSON: never cyclic
            if children is not None:
                from . import children as children_mod  # loaded by start(): a dict look-up here
                children_mod.track(children)
            try:
                result = entry.call(parameters, ctx)
            except RpcError:
                raise
            except (Exception, SystemExit) as e:
                logs.get_logger().warning("Handler for %s (commandId %s) raised", command_type, command_id,
                                          exc_info=True)
                data = {"commandId": command_id, "commandType": command_type, "exception": type(e).__name__}
                # Where in the user's own file it raised (built-ins are the service's, not the user's, code).
                where = (_raised_at(e, getattr(entry.func, "__code__", None)) if entry.source != BUILTIN
                         else None)
                if where is not None:
                    data.update(where)
                message = "Handler for %s failed: %s: %s" % (command_type, type(e).__name__, e)
                if where is not None:
                    message += " (%s, line %d)" % (os.path.basename(where["file"]), where["line"])
                if isinstance(e, ImportError):
                    # The usual cause: the package is installed for another Python than the one that runs.
                    data["interpreter"] = sys.executable
                    message += "; the service runs %s" % (sys.executable or "an unknown Python")
                raise RpcError(message, errors.HANDLER_FAILED, data)
            finally:
                if children is not None:
                    children_mod.untrack()
                    if cancel_event.is_set():
                        children_mod.end(children)
            if cancel_event.is_set():
                raise Cancelled()
            try:
                # An inline built-in's result is the service's own (ECHO's is decoded JSON): never cyclic.
                text = dumps_own(result) if entry.inline else dumps(result)
            except (TypeError, ValueError) as e:
                raise RpcError("Handler for %s returned a value that is not JSON-serialisable: %s"
                               % (command_type, e), errors.HANDLER_FAILED,
                               {"commandId": command_id, "commandType": command_type})
            size = _utf8_len(text)
            nbytes += size
            limit = self.config["limits"]["maxMessageBytes"]
            if size > limit:
                raise errors.reply_too_large("Handler for %s" % command_type, size, limit, {
                    "commandId": command_id, "commandType": command_type, "bytes": size, "limit": limit})
            failed = False
            return text, round((time.perf_counter() - wall0) * 1000.0, 3)
        finally:
            self.bcm.record(command_type, time.thread_time() - cpu0, time.perf_counter() - wall0, nbytes, failed)

    # ---- models and settings used by the built-ins -----------------------------------------------------------

    def get_model(self):
        """The n-gram model for the configured order and corpus, trained on first use (model_cache)."""
        from . import ngram
        inf = self.config["inference"]
        corpus = inf["corpus"] or ngram.DEFAULT_CORPUS
        key = ("word-ngram", inf["order"], corpus)
        with self._model_lock:  # one training at a time; concurrent callers wait and then hit
            model = self.model_cache.get(key)
            if model is None:
                try:
                    model = ngram.NgramModel.from_file(corpus, inf["order"])
                except (OSError, ValueError) as e:
                    raise RpcError("Cannot train the inference model from %s: %s (check inference.corpus in the "
                                   "config)" % (corpus, e), errors.HANDLER_FAILED)
                logs.get_logger().info("Trained %s", model.describe())
                self.model_cache.put(key, model)
            return model

    def effective_max_tokens(self, requested=None):
        inf = self.config["inference"]
        base = inf["maxTokens"] if requested is None else requested
        return max(1, int(round(base * self.complexity_factor)))

    def set_complexity(self, factor):
        """Scale AI_INFERENCE's max tokens; handlers may call it, so it checks what built-ins already do."""
        factor = float(factor)
        if not 0 < factor <= 1:  # also refuses NaN, which health could not report as JSON
            raise ParamsError("complexity factor must be > 0 and <= 1 (got %r)" % factor)
        with self._lock:
            self.complexity_factor = factor

    def request_throttling(self, params):
        """Ask the extension to change its admission settings (aios/adjustThrottling)."""
        with self._lock:
            self.throttling = dict(params, requestedAt=iso_utc(time.time()))
        self.notify("aios/adjustThrottling", params)

    # ---- health ----------------------------------------------------------------------------------------------

    def health(self):
        """aios/health as a dict (for in-process callers; the protocol path sends `health_json` as is)."""
        return json.loads(self.health_json())

    def health_json(self):
        """aios/health, encoded. It rides on every control reply and every health ping, so it is formatted
        straight into JSON (the fields are numbers, booleans and strings from fixed sets; anything else goes
        through the encoder), and the part that only changes with the config or the registered handlers is
        encoded once per change (see `_static_json`)."""
        now = time.time()
        with self._lock:
            o = self._override
            if o is not None and o["expires"] is not None and now >= o["expires"]:
                self._override = o = None  # ran out before its timer said so
            workers = self.pool_stats() if self.pool_stats else {"max": self.pool_size(), "busy": 0, "queued": 0}
            model_counts = self.model_cache.counts()
            models = self.models.counts()
            # Everything the rest of the reply is made of (the config, throttling and the JSON texts by
            # identity, the counters by value): while it stays the same, so does the text.
            key = (self.log_level, dumps_own(self.logger_levels) if self.logger_levels else "{}", model_counts,
                   self.result_cache.counts(), self.bcm.snapshot_json(), self.complexity_factor, self.config,
                   workers["max"], workers["busy"], workers["queued"], self._process_workers_json(),
                   self.throttling, self._static_json(), models)
            cached = self._health_rest
            if cached is None or cached[0] != key:
                inf = self.config["inference"]
                rest = _HEALTH_REST % (key[:2] + model_counts + key[3] + models + (
                    key[4], repr(float(self.complexity_factor)), inf["maxTokens"], self.effective_max_tokens(),
                    inf["order"], _JSON_BOOL[model_counts[0] > 0], key[7], key[8], key[9], key[10],
                    dumps_own(self.throttling) if self.throttling is not None else "null", key[12]))
                cached = self._health_rest = (key, rest)
            if o is None:
                return _HEALTH_PLAIN % (iso_utc(now), now - self.started, cached[1])
            return _HEALTH_HEAD % (o["status"], "true", '"%s"' % iso_utc(o["expires"]) if o["expires"] else "null",
                                   iso_utc(now), now - self.started, cached[1])

    def _process_workers_json(self):
        """health.processWorkers: mode and start method in force, the largest number of worker processes, and
        how many are alive and busy, have started, crashed or were terminated after ignoring a cancellation."""
        stats = self.process_stats() if self.process_stats else None
        if stats is None:  # no worker yet (most services): the same few values every time
            # What mode, start method and size are made of (process_mode, process_pool_size), by identity.
            key = (self.config, self.process_mode_option, self.max_concurrency)
            cached = self._process_json
            if cached is None or cached[0] != key:
                text = ('{"mode":"%s","startMethod":"%s","max":%d,"alive":0,"busy":0,"started":0,"crashed":0,'
                        '"terminated":0,"models":0}' % (self.process_mode(),
                                                        self.config["processWorkers"]["startMethod"],
                                                        self.process_pool_size()))
                cached = self._process_json = (key, text)
            return cached[1]
        return '{"mode":"%s","startMethod":"%s","max":%d,"alive":%d,"busy":%d,"started":%d,"crashed":%d,' \
            '"terminated":%d,"models":%d}' % (self.process_mode(), stats.get("startMethod") or
                                              self.config["processWorkers"]["startMethod"], stats["max"],
                                              stats["alive"], stats["busy"], stats["started"], stats["crashed"],
                                              stats["terminated"], stats.get("models", 0))

    def _static_json(self):
        """The members of aios/health that change only through `_changed()` or a registry change, as JSON
        without braces. Call with `_lock` held."""
        key = (self._static_version, self.registry.version)
        if self._static_cache is not None and self._static_cache[0] == key:
            return self._static_cache[1]
        commands, controls, own_commands, own_controls = self.registry.names(WORKSPACE)
        text = dumps_own({
            "pid": os.getpid(),
            "version": __version__,
            "python": "%d.%d.%d" % sys.version_info[:3],
            "config": self.config,
            "configFile": self.config_file,
            "configError": self.config_error,
            "commands": commands,
            "controlCommands": controls,
            "handlers": {"module": self.handlers_path, "loaded": self.handlers_loaded,
                         "error": self.handlers_error, "errorLocation": self.handlers_error_location,
                         "commandTypes": own_commands, "controlCommands": own_controls},
        })[1:-1]
        # Keyed by the versions read before encoding: a change meanwhile leaves a stale key, so it is redone.
        self._static_cache = (key, text)
        return text

    def _changed(self):
        """The config, its file or the handlers module changed: aios/health must encode them again."""
        with self._lock:
            self._static_version += 1

    def commands(self):
        out = self.registry.describe()
        out["controlOperations"] = list(CONTROL_OPERATIONS)
        return out

    # ---- control operations ----------------------------------------------------------------------------------

    def control_op(self, params):
        """Run one aios/control operation; returns the reply, already JSON. The reply carries the new state, so
        the change needs no separate announcement (aios/stateChanged is for changes nobody asked for)."""
        operation = params.get("operation")
        method = _OP_METHODS.get(operation) if isinstance(operation, str) else None
        if method is None:
            raise RpcError("Unknown control operation %s; expected one of %s" % (
                json.dumps(operation), ", ".join(CONTROL_OPERATIONS)), errors.UNKNOWN_OPERATION)
        options = params.get("parameters")
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise ParamsError("'parameters' must be an object (got %s)" % _type_name(options))
        command_id = params.get("commandId")
        # A custom command's result was checked with `dumps` already: the rest is the service's own.
        detail = getattr(self, method)(params.get("value"), options, command_id)
        state = self.health_json()
        return '{"ok":true,"state":%s%s}' % (state, "" if detail is None else ',"detail":' + dumps_own(detail))

    def _op_update_log_level(self, value, options, command_id):
        try:
            level = config_mod.normalize_level(value, "value")
        except ConfigError as e:
            raise ParamsError(e.message)
        target = options.get("target_module")
        if target is not None and (not isinstance(target, str) or not target.strip()):
            raise ParamsError("parameters.target_module must be a logger/module name string (got %s)"
                              % _type_name(target))
        persistent = options.get("persistent", False)
        if not isinstance(persistent, bool):
            raise ParamsError("parameters.persistent must be true or false (got %s)" % _type_name(persistent))
        if persistent:  # write first: if the file cannot be updated nothing changes
            config_mod.update_log_level(self.config_file, level, target)
        with self._lock:
            if target:
                previous = self.logger_levels.get(target)
                self.logger_levels[target] = level
            else:
                previous = self.log_level
                self.log_level = level
        logs.set_level(level, target)
        # A repeated sync to the same level is not news: say it only at DEBUG.
        logger = logs.get_logger()
        log = logger.info if previous != level or persistent else logger.debug
        log("Log level of %s set to %s%s", target or "the service", level,
            " (saved to %s)" % self.config_file if persistent else "")
        return {"logLevel": level, "target": target, "persisted": persistent}

    def _op_flush_cache(self, value, options, command_id):
        cache_type = options.get("cache_type", value if isinstance(value, str) else "all")
        if cache_type not in CACHE_TYPES:
            raise ParamsError("parameters.cache_type must be one of %s (got %s)" % (
                ", ".join(CACHE_TYPES), json.dumps(cache_type)))
        force = options.get("force", False)
        if not isinstance(force, bool):
            raise ParamsError("parameters.force must be true or false (got %s)" % _type_name(force))
        flushed = {}
        for name in ("model_cache", "result_cache"):
            if cache_type in (name, "all"):
                # force also zeroes the hit/miss counters: a clean slate for a measurement.
                flushed[name] = getattr(self, name).clear(reset_stats=force)
        out = {"flushed": flushed, "force": force}
        if "model_cache" in flushed:
            # The user's models (ctx.models) are models too: this service's, and each worker process's own.
            in_service = self.models.clear(reset_stats=force)
            in_workers, answered, unanswered = (self.flush_worker_models(force) if self.flush_worker_models
                                                else (0, 0, 0))
            flushed["model_cache"] += in_service + in_workers
            out["models"] = {"service": in_service, "workers": in_workers, "workerProcesses": answered,
                             "unanswered": unanswered}
            if unanswered:
                logs.get_logger().warning("%d worker process(es) did not answer FLUSH_CACHE in time: their models "
                                          "go when they do, uncounted", unanswered)
        logs.get_logger().info("Flushed %s%s", flushed, " (models: %s)" % out["models"] if "models" in out else "")
        return out

    def _op_reload_config(self, value, options, command_id):
        path = options.get("config_file", value if isinstance(value, str) and value else None)
        if path is not None and (not isinstance(path, str) or not path.strip()):
            raise ParamsError("parameters.config_file must be a path string (got %s)" % _type_name(path))
        reload_handlers = options.get("reload_handlers", True)
        if not isinstance(reload_handlers, bool):
            raise ParamsError("parameters.reload_handlers must be true or false (got %s)"
                              % _type_name(reload_handlers))
        if path is not None:
            path = self._resolve(path)
            if not os.path.isfile(path):
                raise ConfigError("Config file %s does not exist; the current config stays" % path,
                                  data={"configFile": path, "line": None, "column": None})
        else:
            path = self.config_file
        try:
            cfg, raw = config_mod.load(path)
        except ConfigError as e:
            # Nothing changes (handlers are not re-imported either); health says what is wrong with the file.
            if path == self.config_file:
                self._set_config_error(e)
            raise ConfigError("%s; the current config stays" % e.message, data=e.data)
        self.config_file = path
        self._apply_config(cfg, raw)
        if self.config_error is not None:
            self._set_config_error(None)
        log = logs.get_logger()
        if reload_handlers:
            failure = self.load_handlers()
            if failure is not None:
                log.info("%s; the handlers module failed", _reloaded_from(path))
                raise self._handlers_invalid(*failure)
        log.info("%s", _reloaded_from(path))
        return {"configFile": path, "handlersError": self.handlers_error}

    def _handlers_invalid(self, exc, previous):
        location = self.handlers_error_location
        names = sorted(previous[0]) + sorted(previous[1])
        kept = ("the previous handlers (%s) stay in force" % ", ".join(names) if names else
                "the previous handlers stay in force (there were none: only the built-in commands run)")
        return HandlersError(
            "Could not load the workspace handlers module %s: %s; %s. The config was applied. Fix the file and "
            "save it: saving reloads it (so does AIOS: Reload Python Service Config)."
            % (self.handlers_path, self.handlers_error, kept),
            data={"handlersModule": self.handlers_path, "file": location["file"], "line": location["line"],
                  "column": location["column"], "exception": type(exc).__name__, "previousHandlersKept": True,
                  "configApplied": True})

    def _op_health_override(self, value, options, command_id):
        status = value.strip().lower() if isinstance(value, str) else value
        if status not in ("healthy", "unhealthy", "clear"):
            raise ParamsError("value must be 'unhealthy', 'healthy' or 'clear' (got %s)" % json.dumps(value))
        duration = options.get("duration")
        if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                     or not 0 < duration <= 7 * 86400):
            raise ParamsError("parameters.duration must be a number of seconds > 0 and <= 604800 (got %s)"
                              % json.dumps(duration))
        with self._lock:
            old = self._override
            if old is not None and old.get("timer") is not None:
                old["timer"].cancel()
            if status == "clear":
                self._override = None
                return {"status": None, "expiresAt": None}
            expires = time.time() + duration if duration else None
            token = object()
            self._override = {"status": status, "expires": expires, "token": token, "timer": None}
            if duration:
                timer = threading.Timer(duration, self._override_expired, (token,))
                timer.daemon = True
                self._override["timer"] = timer
                timer.start()
        return {"status": status, "expiresAt": iso_utc(expires) if expires else None}

    def _override_expired(self, token):
        with self._lock:
            o = self._override
            if o is None or o["token"] is not token:
                return
            self._override = None
        self.notify("aios/stateChanged", {"reason": "HEALTH_OVERRIDE_EXPIRED", "state": self.health()})

    def _op_bcm_reset(self, value, options, command_id):
        command_type = options.get("command_type")
        if command_type is not None and not isinstance(command_type, str):
            raise ParamsError("parameters.command_type must be a string (got %s)" % _type_name(command_type))
        return {"previous": self.bcm.reset(command_type)}

    def _op_custom_command(self, value, options, command_id):
        name = options.get("command", value if isinstance(value, str) else None)
        if not isinstance(name, str) or not name:
            raise ParamsError("parameters.command must name a control command (one of %s)"
                              % ", ".join(sorted(self.registry.controls)))
        arguments = options.get("arguments")
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise ParamsError("parameters.arguments must be an object (got %s)" % _type_name(arguments))
        entry = self.registry.get_control(name)
        if entry is None:
            message = ("Unknown control command %s; available: %s. Register it with @control_command(%s) in "
                       ".aios/handlers.py" % (json.dumps(name), ", ".join(sorted(self.registry.controls)),
                                              json.dumps(name)))
            raise RpcError(message, errors.UNKNOWN_CONTROL_COMMAND)
        ctx = Context(self, command_id, "CUSTOM_COMMAND", "HIGH", None, getattr(entry.func, "__module__", None))
        try:
            result = entry.call(arguments, ctx)
        except RpcError:
            raise
        except (Exception, SystemExit) as e:
            logs.get_logger().warning("Control command %s raised", name, exc_info=True)
            raise RpcError("Control command %s failed: %s: %s" % (name, type(e).__name__, e),
                           errors.HANDLER_FAILED, {"command": name, "exception": type(e).__name__})
        try:
            size = _utf8_len(dumps(result))
        except (TypeError, ValueError) as e:
            raise RpcError("Control command %s returned a value that is not JSON-serialisable: %s" % (name, e),
                           errors.HANDLER_FAILED)
        limit = self.config["limits"]["maxMessageBytes"]
        if size > limit:
            raise errors.reply_too_large("Control command %s" % name, size, limit,
                                         {"command": name, "bytes": size, "limit": limit})
        return {"command": name, "result": result}


def _reloaded_from(path):
    """What a reload read: the file only when there is one (a missing config file means the defaults)."""
    if path and os.path.isfile(path):
        return "Config reloaded from %s" % path
    return "Config reloaded: no config file%s, the defaults apply" % (" at %s" % path if path else "")


def _raised_at(exc, handler_code):
    """{file, line} of the innermost frame of the handler's own file (where the user's code raised), or None
    when the handler is not Python source the user can open."""
    home = getattr(handler_code, "co_filename", None)
    if not home or not os.path.isfile(home):
        return None
    found = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == home:
            found = {"file": os.path.abspath(home), "line": tb.tb_lineno or 1}
        tb = tb.tb_next
    return found


def _location(exc, path):
    """{file, line, column} (1-based; column null unless the parser gave one) of why importing the handlers
    module at `path` failed: a syntax error's own position, else the innermost frame in the module's folder (the
    module itself or a sibling it imports), else line 1 of the module."""
    path = os.path.abspath(path)
    if isinstance(exc, SyntaxError) and exc.lineno:
        name = exc.filename
        where = os.path.abspath(name) if isinstance(name, str) and os.path.isfile(name) else path
        return {"file": where, "line": exc.lineno, "column": exc.offset if exc.offset and exc.offset > 0 else None}
    folder = os.path.dirname(path)
    found = None
    tb = exc.__traceback__
    while tb is not None:
        name = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if os.path.dirname(name) == folder:
            found = {"file": name, "line": tb.tb_lineno or 1, "column": None}
        tb = tb.tb_next
    return found or {"file": path, "line": 1, "column": None}
