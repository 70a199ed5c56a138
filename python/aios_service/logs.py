"""Logging: stdlib `logging`, imported only after the initialize reply (it costs start-up time otherwise).

Records go to stderr (the extension shows it) and, once the client is ready, as `window/logMessage`
notifications. Handlers' own loggers (`logging.getLogger(__name__)`) flow through the same root handler, so
UPDATE_LOG_LEVEL with `target_module` works for workspace code too.
"""

import sys

# LSP MessageType: Error=1, Warning=2, Info=3, Log=4, Debug=5 (LSP 3.18). vscode-languageclient 11 sends 1, 2, 3
# and 5 to its LogOutputChannel's error / warn / info / debug, and anything else (Log=4 included) to
# appendLine, which a LogOutputChannel records at info level. So DEBUG (and any level below it) goes as 5, to
# land at debug level; a pre-3.18 client treats 5 like 4 (appendLine), so nothing is lost there either.
LSP_ERROR, LSP_WARNING, LSP_INFO, LSP_DEBUG = 1, 2, 3, 5


def lsp_type(levelno):
    """The window/logMessage type for a logging level number (custom levels fall in with their neighbours)."""
    if levelno >= 40:  # ERROR, CRITICAL
        return LSP_ERROR
    if levelno >= 30:
        return LSP_WARNING
    if levelno >= 20:
        return LSP_INFO
    return LSP_DEBUG


_loggers = {}


def get_logger(name="aios_service"):
    """logging.getLogger(name), kept: getLogger takes logging's module lock on every call."""
    logger = _loggers.get(name)
    if logger is None:
        import logging
        logger = _loggers[name] = logging.getLogger(name)
    return logger


def install(send_log_message, stream=None):
    """Attach the service's handler to the root logger; returns it (call `uninstall` with it).
    `stream` defaults to the real stderr (tests pass their own)."""
    import logging

    class ServiceHandler(logging.Handler):
        def __init__(self):
            logging.Handler.__init__(self)
            self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            self._client_format = logging.Formatter("[%(name)s] %(message)s")
            self.to_client = True

        def emit(self, record):
            try:
                text = self.format(record)
                out = stream or sys.__stderr__ or sys.stderr
                if out is not None:
                    out.write(text + "\n")
                    out.flush()
                if self.to_client:
                    send_log_message(lsp_type(record.levelno), self._client_format.format(record))
            except Exception:  # a log line must never take a request down with it
                pass

    handler = ServiceHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    return handler


def uninstall(handler):
    import logging
    logging.getLogger().removeHandler(handler)


def set_level(level, target=None):
    found = _levelled.get((level, target))
    if found is None:
        import logging  # getLogger takes logging's module lock: looked up once per target and level
        found = _levelled[(level, target)] = (logging.getLogger(target or None), getattr(logging, level))
    logger, value = found
    if logger.level != value:  # setLevel empties every logger's level cache, even for no change
        logger.setLevel(value)


_levelled = {}  # (level name, target; None: the root) -> (logger, level number), for set_level
