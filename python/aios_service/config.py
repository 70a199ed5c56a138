"""The service config file (JSON): schema, validation, defaults and the one in-place update it supports.

Validation is strict (unknown keys are errors) so a typo is reported instead of silently ignored; every
message names the key path, what is allowed and what was found. Keys starting with "$" (e.g. "$schema") and
"comment" are allowed anywhere at the top level and ignored.
"""

import json
import os

from .errors import ConfigError, CONFIG_WRITE_FAILED, RpcError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

DEFAULTS = {
    "logLevel": "INFO",
    "loggers": {},
    "workers": 4,
    "cache": {"maxEntries": 256, "modelMaxEntries": 2},
    "inference": {"maxTokens": 40, "maxTokensLimit": 400, "order": 2, "corpus": None},
    "limits": {"maxMessageBytes": 8 * 1024 * 1024, "maxQueued": 1000},
    "transport": {"pollMicroseconds": 250},
}

# key path -> (kind, minimum, maximum); kinds: int, level, loggers, path
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
    "transport.pollMicroseconds": ("int", 0, 1000),
}


def normalize_level(value, what="log level"):
    if isinstance(value, str):
        upper = value.strip().upper()
        if upper == "WARN":
            upper = "WARNING"
        if upper in LOG_LEVELS:
            return upper
    raise ConfigError("%s must be one of %s (got %r)" % (what, ", ".join(LOG_LEVELS), value))


def _check(path, kind, lo, hi, value):
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ConfigError("%s must be an integer from %d to %d (got %s)" % (path, lo, hi, json.dumps(value)))
        return value
    if kind == "level":
        return normalize_level(value, path)
    if kind == "path":
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError("%s must be a file path string or null (got %s)" % (path, json.dumps(value)))
        return value
    if kind == "loggers":
        if not isinstance(value, dict):
            raise ConfigError("%s must be an object mapping logger names to levels (got %s)"
                              % (path, json.dumps(value)))
        return {str(k): normalize_level(v, "%s[%r]" % (path, k)) for k, v in value.items()}
    raise AssertionError(kind)


def validate(raw, base_dir=None):
    """Return the full config (defaults filled in) for the parsed JSON `raw`, or raise ConfigError."""
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a JSON object (got %s)" % type(raw).__name__)
    result = json.loads(json.dumps(DEFAULTS))
    for key, value in raw.items():
        if key.startswith("$") or key == "comment":
            continue
        if key not in DEFAULTS:
            raise ConfigError("unknown config key %r; known keys: %s" % (key, ", ".join(sorted(DEFAULTS))))
        if isinstance(DEFAULTS[key], dict) and key != "loggers":
            if not isinstance(value, dict):
                raise ConfigError("%s must be an object (got %s)" % (key, json.dumps(value)))
            for sub, subvalue in value.items():
                spec = _SCHEMA.get(key + "." + sub)
                if spec is None:
                    raise ConfigError("unknown config key %s.%s; known: %s" % (
                        key, sub, ", ".join(sorted(DEFAULTS[key]))))
                result[key][sub] = _check(key + "." + sub, spec[0], spec[1], spec[2], subvalue)
        else:
            kind, lo, hi = _SCHEMA[key]
            result[key] = _check(key, kind, lo, hi, value)
    inf = result["inference"]
    if inf["maxTokens"] > inf["maxTokensLimit"]:
        raise ConfigError("inference.maxTokens (%d) must not exceed inference.maxTokensLimit (%d)"
                          % (inf["maxTokens"], inf["maxTokensLimit"]))
    if inf["corpus"] is not None and base_dir and not os.path.isabs(inf["corpus"]):
        inf["corpus"] = os.path.normpath(os.path.join(base_dir, inf["corpus"]))
    return result


def _reject_constant(name):
    raise ValueError("%s is not valid JSON" % name)


def load(path):
    """(config, raw dict) from the file at `path`; a missing file means defaults. Raises ConfigError."""
    if path is None or not os.path.exists(path):
        return validate({}), {}
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError("cannot read config file %s: %s" % (path, e))
    try:
        raw = json.loads(text, parse_constant=_reject_constant) if text.strip() else {}
    except ValueError as e:
        raise ConfigError("config file %s is not valid JSON: %s" % (path, e))
    try:
        return validate(raw, os.path.dirname(os.path.abspath(path))), raw
    except ConfigError as e:
        raise ConfigError("config file %s: %s" % (path, e.message))


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
