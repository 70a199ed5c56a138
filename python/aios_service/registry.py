"""Command registry: the `@command` and `@control_command` decorators and the context handlers receive.

A handler is `def handler(params, ctx)` (or just `def handler(params)`); it returns a JSON-serialisable value.
Built-ins register with source "builtin"; the workspace's `.aios/handlers.py` is imported while the registry's
source is "workspace", so the same decorators serve both and `aios/commands` can say where each came from.
Each registration carries the hints a UI shows: a one-line description, a one-line hint per parameter and an
example parameters object; control commands also say whether a restarted service should get them again
(`replay`).
"""

import json
import threading

from .errors import Cancelled

BUILTIN = "builtin"
WORKSPACE = "workspace"


class Entry(object):
    __slots__ = ("name", "func", "description", "source", "takes_ctx", "parameters", "example", "replay",
                 "process", "inline")

    def __init__(self, name, func, description, source, parameters=None, example=None, replay=None,
                 process=None, inline=False):
        self.name = name
        self.process = process  # True / False as the handler asked; None: processWorkers.mode decides
        self.inline = inline  # a built-in that is O(1) and never blocks: the reader thread may run it
        self.func = func
        self.description = description
        self.source = source
        self.parameters = parameters if parameters is not None else {}
        self.example = example if example is not None else {}
        self.replay = replay  # None for command types: only control commands are replayed
        # co_argcount is cheap; `inspect` would cost start-up time for the same answer.
        code = getattr(func, "__code__", None)
        argcount = code.co_argcount if code is not None else 2
        if hasattr(func, "__self__"):
            argcount -= 1
        self.takes_ctx = argcount >= 2

    def call(self, params, ctx):
        if self.takes_ctx:
            return self.func(params, ctx)
        return self.func(params)

    def describe(self):
        out = {"name": self.name, "description": self.description, "source": self.source,
               "parameters": self.parameters, "example": self.example}
        if self.replay is not None:
            out["replay"] = self.replay
        return out


def _first_line(text):
    text = (text or "").strip()
    return text.splitlines()[0].strip() if text else ""


def _check_hints(kind, name, parameters, example, replay):
    """The registration's hints, copied (so later changes by the caller do not leak into aios/commands), or a
    ValueError that names the command and what to write instead."""
    where = "%s %r" % (kind, name)
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) and v.strip() for k, v in parameters.items()):
        raise ValueError("%s: parameters must map each parameter name to a one-line hint string, e.g. "
                         "{\"text\": \"string: the text to count\"} (got %s)" % (where, _show(parameters)))
    for key, hint in parameters.items():
        if "\n" in hint.strip():
            raise ValueError("%s: the hint for parameter %r must be one line (got %s)" % (where, key, _show(hint)))
    if example is None:
        example = {}
    if not isinstance(example, dict):
        raise ValueError("%s: example must be a JSON object of sample parameters (got %s)"
                         % (where, _show(example)))
    try:
        example = json.loads(json.dumps(example, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError("%s: example must be JSON-serialisable: %s" % (where, e))
    unknown = sorted(set(example) - set(parameters))
    if parameters and unknown:
        raise ValueError("%s: example uses %s, which parameters does not describe (described: %s)"
                         % (where, ", ".join(unknown), ", ".join(sorted(parameters))))
    if replay is not None and not isinstance(replay, bool):
        raise ValueError("%s: replay must be True or False (got %s)" % (where, _show(replay)))
    return {k: v.strip() for k, v in parameters.items()}, example


def _show(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Registry(object):
    def __init__(self):
        self._lock = threading.Lock()
        self.commands = {}
        self.controls = {}
        self.source = BUILTIN
        self.version = 0  # bumped on every change, so aios/health knows when to list the commands again
        self._loading = None  # the (table, name) pairs an import in progress registered (begin_load)

    def _add(self, table, kind, name, func, description, parameters, example, replay=None, process=None,
             inline=False):
        if not isinstance(name, str) or not name.strip():
            raise ValueError("%s name must be a non-empty string, got %r" % (kind, name))
        if inline and (inline is not True or self.source != BUILTIN):
            raise ValueError("%s %r: inline=True is only for the service's built-in handlers (they run on the "
                             "thread that reads requests, so they must never block); leave it out" % (kind, name))
        if process is not None and not isinstance(process, bool):
            raise ValueError("%s %r: process must be True, False or None (got %s)" % (kind, name, _show(process)))
        if description is not None and not isinstance(description, str):
            raise ValueError("%s %r: description must be a string (got %s)" % (kind, name, _show(description)))
        parameters, example = _check_hints(kind, name, parameters, example, replay)
        description = _first_line(description) or _first_line(getattr(func, "__doc__", "")) or name
        with self._lock:
            old = table.get(name)
            if old is not None and old.source == BUILTIN and self.source != BUILTIN:
                raise ValueError("%s %r is built in and cannot be replaced by the workspace module; pick another "
                                 "name" % (kind, name))
            table[name] = Entry(name, func, description, self.source, parameters, example, replay, process, inline)
            if self._loading is not None:
                self._loading.add((id(table), name))
            self.version += 1

    def begin_load(self):
        """A module's import starts: what it registers replaces entries of the same name in place, so calls
        during the import never find a command type missing (a reload used to empty the source first)."""
        with self._lock:
            self._loading = set()

    def end_load(self, source):
        """The import succeeded: entries of `source` it did not register again are dropped."""
        with self._lock:
            seen, self._loading = self._loading or set(), None
            for table in (self.commands, self.controls):
                for name in [k for k, v in table.items() if v.source == source and (id(table), k) not in seen]:
                    del table[name]
            self.version += 1

    def abort_load(self):
        with self._lock:
            self._loading = None

    def command(self, command_type, description=None, parameters=None, example=None, process=None, inline=False):
        """Decorator: register a handler for `aios/execute` requests with this commandType.

        `description`: one line (default: the docstring's first line); `parameters`: {name: one-line hint,
        e.g. "string: the text to count"}; `example`: a parameters object that fits the command. Bad hints
        raise ValueError here, at registration. `process=True` runs the handler in a worker process (its own
        interpreter and GIL) when the config's processWorkers.mode is "opt-in" or "all"; `process=False` keeps
        it on a thread even under "all" (see python/README.md, "Threads or processes"). `inline=True` (built-ins
        only: O(1), never blocking) lets the reader thread run it at once when no execute is queued."""
        def decorate(func):
            self._add(self.commands, "command type", command_type, func, description, parameters, example,
                      process=process, inline=inline)
            return func
        return decorate

    def control_command(self, name, description=None, parameters=None, example=None, replay=False):
        """Decorator: register a custom control command, run by `aios/control` CUSTOM_COMMAND.

        Hints as for `command` (`parameters` describe its arguments). `replay=True` says the command sets state
        a restarted service should get again with its last arguments (the extension re-sends it after a crash)."""
        def decorate(func):
            self._add(self.controls, "control command", name, func, description, parameters, example, replay)
            return func
        return decorate

    def names(self, source):
        """(command types, control commands, those of them from `source`), sorted, read together."""
        with self._lock:
            return (sorted(self.commands), sorted(self.controls),
                    sorted(k for k, v in self.commands.items() if v.source == source),
                    sorted(k for k, v in self.controls.items() if v.source == source))

    def snapshot(self, source):
        with self._lock:
            return ({k: v for k, v in self.commands.items() if v.source == source},
                    {k: v for k, v in self.controls.items() if v.source == source})

    def replace_source(self, source, snapshot):
        """Drop every entry from `source`, then restore `snapshot` (used to roll back a failed reload)."""
        commands, controls = snapshot
        with self._lock:
            for table, keep in ((self.commands, commands), (self.controls, controls)):
                for name in [k for k, v in table.items() if v.source == source]:
                    del table[name]
                table.update(keep)
            self.version += 1

    def get_command(self, name):
        return self.commands.get(name)

    def get_control(self, name):
        return self.controls.get(name)

    def describe(self):
        with self._lock:
            return {
                "commandTypes": [e.describe() for e in sorted(self.commands.values(), key=lambda e: e.name)],
                "controlCommands": [e.describe() for e in sorted(self.controls.values(), key=lambda e: e.name)],
            }


def exec_module_file(module_name, path):
    """Import the Python file at `path` as `module_name` (in sys.modules), its folder on sys.path so it can
    import its siblings. The service and its worker processes load the workspace module this same way.

    Modules imported earlier from that folder (the siblings handlers.py imports) are re-imported too, so an
    edited sibling takes effect on a reload. If the import raises, sys.modules is put back as it was (the
    previous handlers keep the modules they use) and the exception propagates."""
    import importlib.util
    import os
    import sys
    spec = importlib.util.spec_from_file_location(module_name, path, loader=_precise_loader()(module_name, path))
    if spec is None or spec.loader is None:
        raise ImportError("not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.append(folder)  # lets handlers.py import its sibling modules
    _precise_imports_from(folder)
    previous = _forget_modules_from(folder)
    if module_name in sys.modules:
        previous[module_name] = sys.modules.pop(module_name)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        for name in [n for n in sys.modules if n == module_name or n in previous or _is_from(sys.modules[n], folder)]:
            del sys.modules[name]
        sys.modules.update(previous)
        raise
    return module


_PRECISE = []  # [loader class, path hook, folders it serves]


def _precise_loader():
    """A source loader that checks a cached .pyc against the source's mtime in nanoseconds. Python's own compares
    whole seconds (and the size): an edit of the same size saved within the second of the previous one, which a
    reload on every change meets, would run the previous bytecode."""
    if not _PRECISE:
        import os
        import sys
        from importlib.machinery import (BYTECODE_SUFFIXES, EXTENSION_SUFFIXES, SOURCE_SUFFIXES,
                                         ExtensionFileLoader, FileFinder, SourceFileLoader, SourcelessFileLoader)

        class PreciseSourceLoader(SourceFileLoader):
            def path_stats(self, path):
                st = os.stat(path)
                return {"mtime": st.st_mtime_ns, "size": st.st_size}  # the .pyc keeps it modulo 2**32

        finder = FileFinder.path_hook((ExtensionFileLoader, EXTENSION_SUFFIXES),
                                      (PreciseSourceLoader, SOURCE_SUFFIXES),
                                      (SourcelessFileLoader, BYTECODE_SUFFIXES))
        folders = set()

        def hook(entry):
            if isinstance(entry, str) and os.path.normcase(os.path.abspath(entry or ".")) in folders:
                return finder(entry)
            raise ImportError("not a workspace handlers folder")

        sys.path_hooks.insert(0, hook)
        _PRECISE.extend((PreciseSourceLoader, hook, folders))
    return _PRECISE[0]


def _precise_imports_from(folder):
    """The modules handlers.py imports from its folder load with the precise loader too."""
    import os
    import sys
    _precise_loader()
    key = os.path.normcase(os.path.abspath(folder))
    if key not in _PRECISE[2]:
        _PRECISE[2].add(key)
        sys.path_importer_cache.pop(folder, None)  # found again, through the hook


def _is_from(module, folder):
    import os
    name = getattr(module, "__name__", "")
    if name == "__main__" or name == "aios_service" or name.startswith("aios_service."):
        return False
    file = getattr(module, "__file__", None)
    if not isinstance(file, str) or not folder:
        return False
    try:
        file = os.path.normcase(os.path.abspath(file))
        return os.path.commonpath([file, os.path.normcase(os.path.abspath(folder))]) == \
            os.path.normcase(os.path.abspath(folder))
    except ValueError:  # another drive (Windows)
        return False


def _forget_modules_from(folder):
    """Remove from sys.modules every module whose file is inside `folder`; returns them by name."""
    import sys
    gone = {name: m for name, m in list(sys.modules.items()) if m is not None and _is_from(m, folder)}
    for name in gone:
        del sys.modules[name]
    return gone


# The process-wide registry the decorators write to: a service process serves one workspace.
REGISTRY = Registry()
command = REGISTRY.command
control_command = REGISTRY.control_command


class CancelToken(object):
    """`threading.Event`'s is_set / set / wait for one request's cancellation. An Event costs a Condition and
    a lock per request; most requests never wait, so the Event is made only when someone does."""

    __slots__ = ("_flag", "_event")
    _lock = threading.Lock()  # shared: it only guards making an Event, which is rare

    def __init__(self):
        self._flag = False
        self._event = None

    def is_set(self):
        return self._flag

    def set(self):
        with CancelToken._lock:
            self._flag = True
            if self._event is not None:
                self._event.set()

    def wait(self, timeout=None):
        """True once set (at once if it already is); False when `timeout` seconds pass first."""
        if self._flag:
            return True
        with CancelToken._lock:
            if self._event is None:
                self._event = threading.Event()
                if self._flag:
                    self._event.set()
        return self._event.wait(timeout)


class Context(object):
    """What a handler gets besides its parameters.

    - `cancelled` / `cancel_event`: set when the client sends `$/cancelRequest`; long handlers should poll it or
      use `ctx.wait(seconds)` (returns early on cancellation) and then `ctx.check_cancelled()`.
    - `log`: a `logging.Logger` for this handler; its records reach the extension's output channel.
    - `service`: the running service (caches, settings); `notify(method, params)` sends a notification.
    - `models`: named models kept across calls and reloads, `ctx.models.get_or_load(name, loader)` (cache.py's
      ModelCache: the service's, or in a worker process that worker's own).
    """

    def __init__(self, service, command_id, command_type, priority, cancel_event=None, logger_name=None):
        self.service = service
        self.command_id = command_id
        self.command_type = command_type
        self.priority = priority
        self.cancel_event = cancel_event if cancel_event is not None else CancelToken()
        self._logger_name = logger_name or "aios_service.handlers"

    @property
    def cancelled(self):
        return self.cancel_event.is_set()

    def check_cancelled(self):
        if self.cancel_event.is_set():
            raise Cancelled()

    def wait(self, seconds):
        """Sleep up to `seconds`; True if woken early by cancellation."""
        return self.cancel_event.wait(seconds)

    @property
    def models(self):
        from .cache import ModelsView
        return ModelsView(self.service.models, self.cancel_event)

    @property
    def log(self):
        import logging
        return logging.getLogger(self._logger_name)

    def notify(self, method, params):
        self.service.notify(method, params)
