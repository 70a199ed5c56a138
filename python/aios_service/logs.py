"""Logging: stdlib `logging`, imported only after the initialize reply (it costs start-up time otherwise).

Records go to stderr (the extension shows it) and, once the client is ready, as `window/logMessage`
notifications. Handlers' own loggers (`logging.getLogger(__name__)`) flow through the same root handler, so
UPDATE_LOG_LEVEL with `target_module` works for workspace code too.
"""

import sys

# LSP MessageType: Error=1, Warning=2, Info=3, Log=4 (Debug=5 is LSP 3.18 only; older clients reject it).
_LSP_TYPE = {"CRITICAL": 1, "ERROR": 1, "WARNING": 2, "INFO": 3, "DEBUG": 4}


def get_logger(name="aios_service"):
    import logging
    return logging.getLogger(name)


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
                    send_log_message(_LSP_TYPE.get(record.levelname, 4), self._client_format.format(record))
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
    import logging
    logger = logging.getLogger(target or None)
    value = getattr(logging, level)
    if logger.level != value:  # setLevel empties every logger's level cache, even for no change
        logger.setLevel(value)
