"""Thread-safe caches: an LRU that counts hits and misses (shown in aios/health), and the user's named models
(`ctx.models`, ModelCache)."""

import threading


class LruCache(object):
    def __init__(self, max_entries):
        self._lock = threading.Lock()
        self._data = {}  # dicts keep insertion order: the first key is the least recently used
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def get(self, key, default=None):
        with self._lock:
            try:
                value = self._data.pop(key)
            except KeyError:
                self.misses += 1
                return default
            self._data[key] = value
            self.hits += 1
            return value

    def put(self, key, value):
        with self._lock:
            self._data.pop(key, None)
            if self.max_entries <= 0:
                return
            self._data[key] = value
            self._trim()

    def _trim(self):
        while len(self._data) > self.max_entries:
            del self._data[next(iter(self._data))]

    def resize(self, max_entries):
        with self._lock:
            self.max_entries = max_entries
            self._trim()

    def clear(self, reset_stats=False):
        """Remove every entry; returns how many there were."""
        with self._lock:
            count = len(self._data)
            self._data.clear()
            if reset_stats:
                self.hits = self.misses = 0
            return count

    def __contains__(self, key):
        with self._lock:
            return key in self._data

    def __len__(self):
        return len(self._data)

    def stats(self):
        entries, hits, misses, max_entries = self.counts()
        return {"entries": entries, "hits": hits, "misses": misses, "maxEntries": max_entries}

    def counts(self):
        """(entries, hits, misses, maxEntries), read together."""
        with self._lock:
            return len(self._data), self.hits, self.misses, self.max_entries


# ---- ctx.models: the user's named models --------------------------------------------------------------------

_LITERALS = (str, bytes, int, float, complex, bool, type(None), type(Ellipsis))


def _literal(value, depth=0):
    """A stable text for a literal default argument (or constant), or just its type for anything else: an object's
    repr often holds its address, which would make every reload look like a change."""
    if isinstance(value, _LITERALS):
        return "%s:%r" % (type(value).__name__, value)
    if isinstance(value, (tuple, list, frozenset, set)) and depth < 8:
        parts = [_literal(v, depth + 1) for v in value]
        if isinstance(value, (frozenset, set)):
            parts.sort()  # iteration order is not part of a set's value
        return "%s(%s)" % (type(value).__name__, ",".join(parts))
    if isinstance(value, dict) and depth < 8:
        return "dict(%s)" % ",".join(sorted("%s=%s" % (_literal(k, depth + 1), _literal(v, depth + 1))
                                            for k, v in value.items()))
    return "<%s>" % type(value).__qualname__


def _code_text(code, out):
    """What a code object computes, without where it sits: bytecode, constants (nested code objects the same way),
    the names it uses. Not co_filename, co_firstlineno nor the line table: moving a loader down the file, or
    editing something above it, is not a change of the loader."""
    out.append(code.co_code)
    out.append(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars, code.co_argcount,
                     code.co_kwonlyargcount, code.co_flags)).encode("utf-8"))
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            out.append(b"<code>")
            _code_text(const, out)
            out.append(b"</code>")
        else:
            out.append(_literal(const).encode("utf-8", "surrogatepass"))
        out.append(b"\0")


def _names_used(code, out):
    out.update(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_code"):
            _names_used(const, out)
    return out


def _function_text(func, out, seen):
    """A function's code and literal defaults, then those of the functions of its own module that it calls by
    name (transitively, up to 32): `lambda: train(path)` changes when `train` does."""
    code = func.__code__
    _code_text(code, out)
    out.append(_literal(getattr(func, "__defaults__", None)).encode("utf-8"))
    out.append(_literal(getattr(func, "__kwdefaults__", None)).encode("utf-8"))
    module = getattr(func, "__module__", None)
    globals_ = getattr(func, "__globals__", None) or {}
    for name in sorted(_names_used(code, set())):
        helper = globals_.get(name)
        if (type(helper) is type(func) and helper not in seen and len(seen) < 32
                and getattr(helper, "__module__", None) == module):
            seen.append(helper)
            out.append(("<calls %s>" % name).encode("utf-8"))
            _function_text(helper, out, seen)


def loader_fingerprint(loader):
    """A digest of the loader's own code: its bytecode, constants and the names it uses, its literal default
    arguments (partial's arguments likewise), and the same of the functions of its module that it calls by name.
    Not functions of other modules, the values its closure holds, or the globals it reads: what selects a model
    belongs in its name (see python/README.md, "Models")."""
    import functools
    import hashlib
    import types
    out = []
    func = loader
    for _ in range(8):  # unwrap partials and bound methods down to a function
        if isinstance(func, functools.partial):
            out.append(("partial(%s;%s)" % (_literal(func.args), _literal(func.keywords or {}))).encode("utf-8"))
            func = func.func
        elif hasattr(func, "__func__"):
            func = func.__func__
        else:
            break
    if not isinstance(func, types.FunctionType):
        call = getattr(type(func), "__call__", None)  # a callable object: its class's __call__
        out.append(("%s.%s" % (type(func).__module__, type(func).__qualname__)).encode("utf-8"))
        if isinstance(call, types.FunctionType):
            func = call
    if isinstance(func, types.FunctionType):
        _function_text(func, out, [func])
    else:  # a builtin: its name is all there is
        out.append(("%s.%s" % (getattr(func, "__module__", ""), getattr(func, "__qualname__", repr(func))))
                   .encode("utf-8"))
    return hashlib.sha256(b"\x1f".join(out)).hexdigest()[:32]


class _Loading(object):
    """A load in progress: callers of the same name wait for it instead of running the loader again."""

    __slots__ = ("fingerprint", "thread", "done", "ok", "model")

    def __init__(self, fingerprint):
        self.fingerprint = fingerprint
        self.thread = threading.get_ident()
        self.done = threading.Event()
        self.ok = False
        self.model = None


class ModelCache(object):
    """The user's models by name (`ctx.models`), kept for the life of the process: across calls and across
    reloads of the handlers module. An entry remembers the fingerprint of the loader that made it: the same name
    asked for with a loader whose code changed loads again and replaces it. Thread-safe; concurrent first calls
    of a name run its loader once. No size limit: every entry is one the user named (FLUSH_CACHE or `drop` frees
    them)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._entries = {}  # name -> (fingerprint, model)
        self._loading = {}  # name -> _Loading
        self._epoch = 0  # bumped by clear(): a load that started before a flush does not store its model
        self.hits = 0
        self.loads = 0

    def get_or_load(self, name, loader, cancel=None):
        """The model called `name`, made by `loader()` the first time (or when `loader`'s code changed). A loader
        that raises stores nothing: the exception reaches this caller, and the next call tries again. While
        another thread loads the same name, this one waits (and raises Cancelled if `cancel` is set meanwhile)."""
        if not isinstance(name, str) or not name:
            raise TypeError("ctx.models.get_or_load: name must be a non-empty string (got %r)" % (name,))
        if not callable(loader):
            raise TypeError("ctx.models.get_or_load(%r, loader): loader must be callable with no arguments, e.g. "
                            "lambda: load_model(path) (got %s)" % (name, type(loader).__name__))
        fingerprint = loader_fingerprint(loader)
        while True:
            with self._lock:
                entry = self._entries.get(name)
                if entry is not None and entry[0] == fingerprint:
                    self.hits += 1
                    return entry[1]
                loading = self._loading.get(name)
                if loading is None:
                    loading = self._loading[name] = _Loading(fingerprint)
                    epoch = self._epoch
                    break
                if loading.thread == threading.get_ident():
                    raise RuntimeError("ctx.models.get_or_load(%r): its loader asked for %r itself, which would "
                                       "wait for itself forever" % (name, name))
            # Someone else is loading it: wait, then take theirs if it is the same loader (else look again).
            while not loading.done.wait(0.05 if cancel is not None else None):
                if cancel is not None and cancel.is_set():
                    from .errors import Cancelled
                    raise Cancelled()
            if loading.ok and loading.fingerprint == fingerprint:
                with self._lock:
                    self.hits += 1
                return loading.model
        try:
            model = loader()
            with self._lock:
                self.loads += 1
                if epoch == self._epoch:  # no flush since the load began
                    self._entries[name] = (fingerprint, model)
            loading.model, loading.ok = model, True
            return model
        finally:
            with self._lock:
                del self._loading[name]
            loading.done.set()

    def drop(self, name):
        """Forget the model called `name`; True if there was one."""
        with self._lock:
            return self._entries.pop(name, None) is not None

    def names(self):
        with self._lock:
            return sorted(self._entries)

    def __contains__(self, name):
        with self._lock:
            return name in self._entries

    def __len__(self):
        return len(self._entries)

    def clear(self, reset_stats=False):
        """Drop every model; returns how many there were. A load in progress still answers its callers, but
        what it loaded is not kept."""
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._epoch += 1
            if reset_stats:
                self.hits = self.loads = 0
            return count

    def counts(self):
        """(entries, hits, loads), read together."""
        with self._lock:
            return len(self._entries), self.hits, self.loads

    def stats(self):
        entries, hits, loads = self.counts()
        return {"entries": entries, "hits": hits, "loads": loads}


class ModelsView(object):
    """`ctx.models`: the process's ModelCache, with the caller's cancellation for waiting on another's load."""

    __slots__ = ("_cache", "_cancel")

    def __init__(self, cache, cancel):
        self._cache = cache
        self._cancel = cancel

    def get_or_load(self, name, loader):
        return self._cache.get_or_load(name, loader, self._cancel)

    def drop(self, name):
        return self._cache.drop(name)

    def names(self):
        return self._cache.names()

    def __contains__(self, name):
        return name in self._cache

    def __len__(self):
        return len(self._cache)
