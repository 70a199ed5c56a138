"""The service config file (JSON): schema, validation, defaults and the one in-place update it supports.

Validation is strict (unknown keys are errors) so a typo is reported instead of silently ignored; every
message names the key path, what is allowed and what was found, and a file's errors name its line and column
(`error.data`: {configFile, line, column}, 1-based) so the extension can put a diagnostic there. Keys starting
with "$" (e.g. "$schema") and "comment" are allowed anywhere at the top level and ignored.
"""

import json
import os
import re

from .errors import ConfigError, CONFIG_WRITE_FAILED, RpcError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

DEFAULTS = {
    "logLevel": "INFO",
    "loggers": {},
    "workers": 4,
    "cache": {"maxEntries": 256, "modelMaxEntries": 2},
    "inference": {"maxTokens": 40, "maxTokensLimit": 400, "order": 2, "corpus": None},
    "limits": {"maxMessageBytes": 8 * 1024 * 1024, "maxQueued": 1000, "importTimeoutMs": 20000},
    "transport": {"pollMicroseconds": 0},  # polling is opt-in: see python/README.md, "Polling the pipe"
    "processWorkers": {"mode": "opt-in", "max": None, "startMethod": "spawn", "cancelGraceMs": 2000},
}

PROCESS_MODES = ("off", "opt-in", "all")
START_METHODS = ("spawn", "forkserver", "fork")

# key path -> (kind, minimum, maximum); kinds: int, int-or-null, level, loggers, path, enum (choices in minimum)
_SCHEMA = {
    "logLevel": ("level", None, None),
    "loggers": ("loggers", None, None),
    "workers": ("int", 1, 64),
    "cache.maxEntries": ("int", 0, 1000000),
    "cache.modelMaxEntries": ("int", 0, 64),
    "inference.maxTokens": ("int", 1, 100000),
    "inference.maxTokensLimit": ("int", 1, 100000),
    "inference.order": ("int", 1, 6),
    "inference.corpus": ("path", None, None),
    "limits.maxMessageBytes": ("int", 1024, 1 << 30),
    "limits.maxQueued": ("int", 1, 1000000),
    "limits.importTimeoutMs": ("int", 100, 600000),
    "transport.pollMicroseconds": ("int", 0, 1000),
    "processWorkers.mode": ("enum", PROCESS_MODES, None),
    "processWorkers.max": ("int-or-null", 1, 64),
    "processWorkers.startMethod": ("enum", START_METHODS, None),
    "processWorkers.cancelGraceMs": ("int", 0, 600000),
}


def _invalid(message, key_path):
    """A ConfigError that remembers which member (a tuple of keys) is wrong, so `load` can find its line."""
    error = ConfigError(message)
    error.key_path = key_path
    return error


def normalize_level(value, what="log level"):
    if isinstance(value, str):
        upper = value.strip().upper()
        if upper == "WARN":
            upper = "WARNING"
        if upper in LOG_LEVELS:
            return upper
    raise ConfigError("%s must be one of %s (got %r)" % (what, ", ".join(LOG_LEVELS), value))


def _check(path, kind, lo, hi, value):
    key_path = tuple(path.split("."))
    if kind == "int-or-null":
        if value is None:
            return None
        kind = "int"
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _invalid("%s must be null or an integer from %d to %d (got %s)" % (path, lo, hi, json.dumps(value)),
                           key_path)
    if kind == "enum":
        if value not in lo:
            choices = ", ".join(json.dumps(c) for c in lo)
            raise _invalid("%s must be one of %s (got %s)" % (path, choices, json.dumps(value)), key_path)
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _invalid("%s must be an integer from %d to %d (got %s)" % (path, lo, hi, json.dumps(value)),
                           key_path)
        return value
    if kind == "level":
        try:
            return normalize_level(value, path)
        except ConfigError as e:
            raise _invalid(e.message, key_path)
    if kind == "path":
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise _invalid("%s must be a file path string or null (got %s)" % (path, json.dumps(value)), key_path)
        return value
    if kind == "loggers":
        if not isinstance(value, dict):
            raise _invalid("%s must be an object mapping logger names to levels (got %s)"
                           % (path, json.dumps(value)), key_path)
        levels = {}
        for k, v in value.items():
            try:
                levels[str(k)] = normalize_level(v, "%s[%r]" % (path, k))
            except ConfigError as e:
                raise _invalid(e.message, key_path + (k,))
        return levels
    raise AssertionError(kind)


def validate(raw, base_dir=None):
    """Return the full config (defaults filled in) for the parsed JSON `raw`, or raise ConfigError."""
    if not isinstance(raw, dict):
        raise _invalid("the config must be a JSON object (got %s)" % type(raw).__name__, ())
    result = json.loads(json.dumps(DEFAULTS))
    for key, value in raw.items():
        if key.startswith("$") or key == "comment":
            continue
        if key not in DEFAULTS:
            raise _invalid("unknown config key %r; known keys: %s" % (key, ", ".join(sorted(DEFAULTS))), (key,))
        if isinstance(DEFAULTS[key], dict) and key != "loggers":
            if not isinstance(value, dict):
                raise _invalid("%s must be an object (got %s)" % (key, json.dumps(value)), (key,))
            for sub, subvalue in value.items():
                spec = _SCHEMA.get(key + "." + sub)
                if spec is None:
                    raise _invalid("unknown config key %s.%s; known: %s" % (
                        key, sub, ", ".join(sorted(DEFAULTS[key]))), (key, sub))
                result[key][sub] = _check(key + "." + sub, spec[0], spec[1], spec[2], subvalue)
        else:
            kind, lo, hi = _SCHEMA[key]
            result[key] = _check(key, kind, lo, hi, value)
    inf = result["inference"]
    if inf["maxTokens"] > inf["maxTokensLimit"]:
        raise _invalid("inference.maxTokens (%d) must not exceed inference.maxTokensLimit (%d)"
                       % (inf["maxTokens"], inf["maxTokensLimit"]),
                       ("inference", "maxTokens" if "maxTokens" in raw.get("inference", {}) else "maxTokensLimit"))
    if inf["corpus"] is not None and base_dir and not os.path.isabs(inf["corpus"]):
        inf["corpus"] = os.path.normpath(os.path.join(base_dir, inf["corpus"]))
    return result


def _reject_constant(name):
    raise ValueError("%s is not valid JSON" % name)


def _file_error(path, message, line, column):
    return ConfigError(message, data={"configFile": path, "line": line, "column": column})


def load(path):
    """(config, raw dict) from the file at `path`; a missing file means defaults. Raises ConfigError whose
    message names the file and line and whose `data` is {configFile, line, column} (1-based)."""
    if path is None or not os.path.exists(path):
        return validate({}), {}
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise _file_error(path, "cannot read config file %s: %s" % (path, e.strerror or e), 1, 1)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, column = _line_column(data, e.start, b"\n")
        raise _file_error(path, "config file %s, line %d, column %d: not UTF-8 text (%s); save it as UTF-8"
                          % (path, line, column, e.reason), line, column)
    try:
        raw = json.loads(text, parse_constant=_reject_constant) if text.strip() else {}
    except json.JSONDecodeError as e:
        raise _file_error(path, "config file %s is not valid JSON at line %d, column %d: %s"
                          % (path, e.lineno, e.colno, e.msg), e.lineno, e.colno)
    except ValueError as e:  # NaN / Infinity: json does not say where, so find the word
        line, column = _find_constant(text)
        raise _file_error(path, "config file %s is not valid JSON at line %d, column %d: %s"
                          % (path, line, column, e), line, column)
    try:
        return validate(raw, os.path.dirname(os.path.abspath(path))), raw
    except ConfigError as e:
        line, column = member_position(text, getattr(e, "key_path", ()))
        raise _file_error(path, "config file %s, line %d, column %d: %s" % (path, line, column, e.message),
                          line, column)


def _line_column(text, index, newline="\n"):
    """1-based (line, column) of `index` in `text`, counted as json.JSONDecodeError counts them."""
    line = text.count(newline, 0, index) + 1
    return line, index - text.rfind(newline, 0, index)


_CONSTANT = re.compile(r"-?\b(?:NaN|Infinity)\b")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_SPACE = re.compile(r"[ \t\n\r]*")


def _find_constant(text):
    match = _CONSTANT.search(text)
    return _line_column(text, match.start()) if match else (1, 1)


def member_position(text, key_path):
    """Best-effort 1-based (line, column) of the member `key_path` (a tuple of object keys) in the JSON `text`:
    of the deepest key of the path that is there, else (1, 1). `text` has already parsed, so this walker only
    needs to find where keys start; where a key repeats it takes the last one, as json does."""
    if not key_path:
        return (1, 1)
    found = {}
    try:
        _walk(text, _SPACE.match(text, 0).end(), (), found, set(_prefixes(key_path)))
    except (ValueError, IndexError, RecursionError):
        pass  # best effort: whatever was found so far
    for prefix in reversed(_prefixes(key_path)):
        if prefix in found:
            return _line_column(text, found[prefix])
    return (1, 1)


def _prefixes(key_path):
    return [tuple(key_path[:n]) for n in range(1, len(key_path) + 1)]


def _walk(text, i, path, found, wanted):
    """Skip the JSON value at `i` (no leading space), noting in `found` where each key in `wanted` starts;
    returns the index after the value."""
    char = text[i]
    if char == "{":
        i = _SPACE.match(text, i + 1).end()
        if text[i] == "}":
            return i + 1
        while True:
            key, end = json.decoder.scanstring(text, i + 1)
            member = path + (key,)
            if member in wanted:
                found[member] = i
            i = _SPACE.match(text, end).end() + 1  # past the colon
            i = _walk(text, _SPACE.match(text, i).end(), member, found, wanted)
            i = _SPACE.match(text, i).end()
            if text[i] == "}":
                return i + 1
            i = _SPACE.match(text, i + 1).end()  # past the comma
    if char == "[":
        i = _SPACE.match(text, i + 1).end()
        if text[i] == "]":
            return i + 1
        while True:
            i = _SPACE.match(text, _walk(text, i, path + (None,), found, wanted)).end()
            if text[i] == "]":
                return i + 1
            i = _SPACE.match(text, i + 1).end()
    if char == '"':
        return json.decoder.scanstring(text, i + 1)[1]
    for word in ("true", "false", "null"):
        if text.startswith(word, i):
            return i + len(word)
    match = _NUMBER.match(text, i)
    if match is None or match.end() == i:
        raise ValueError("unexpected %r at %d" % (char, i))
    return match.end()


def update_log_level(path, level, target=None):
    """Persist a log level into the config file in place, keeping every other key; atomic replace."""
    if not path:
        raise RpcError("persistent=true needs a config file, but the service was started without one "
                       "(initializationOptions.configFile)", CONFIG_WRITE_FAILED)
    raw = {}
    if os.path.exists(path):
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8-sig")
            raw = json.loads(text) if text.strip() else {}
        except (OSError, ValueError) as e:
            raise RpcError("cannot update %s: %s" % (path, e), CONFIG_WRITE_FAILED)
        if not isinstance(raw, dict):
            raise RpcError("cannot update %s: it is not a JSON object" % path, CONFIG_WRITE_FAILED)
    if target:
        loggers = raw.get("loggers")
        if not isinstance(loggers, dict):
            loggers = raw["loggers"] = {}
        loggers[target] = level
    else:
        raw["logLevel"] = level
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(json.dumps(raw, indent=2) + "\n")
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise RpcError("cannot write %s: %s" % (path, e), CONFIG_WRITE_FAILED)
