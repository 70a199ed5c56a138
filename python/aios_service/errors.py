"""JSON-RPC error codes and the exceptions that carry them.

The numbers are part of the protocol (mirrored in src/python/protocol.ts as `ErrorCodes`): never renumber.
Server-defined codes live in -32010..-32019, clear of the codes JSON-RPC (-32700..-32600), vscode-jsonrpc
(-32099..-32096, -32001) and LSP (-32002, -32800..-32803) already use.
"""

# JSON-RPC 2.0
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# LSP
SERVER_NOT_INITIALIZED = -32002
REQUEST_CANCELLED = -32800
# aios-service
UNKNOWN_COMMAND_TYPE = -32010
HANDLER_FAILED = -32011
CONFIG_INVALID = -32012
CONFIG_WRITE_FAILED = -32013
UNKNOWN_OPERATION = -32014
UNKNOWN_CONTROL_COMMAND = -32015
MESSAGE_TOO_LARGE = -32016
QUEUE_FULL = -32017
HANDLERS_INVALID = -32018
WORKER_CRASHED = -32019  # a worker process died running a process handler (see procpool.py)


class RpcError(Exception):
    """An error that becomes a JSON-RPC error response as-is."""

    code = INTERNAL_ERROR

    def __init__(self, message, code=None, data=None):
        Exception.__init__(self, message)
        self.message = message
        if code is not None:
            self.code = code
        self.data = data

    def to_dict(self):
        error = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


class ParamsError(RpcError):
    """Raise from a handler when its parameters are wrong: the caller gets -32602 with your message."""

    code = INVALID_PARAMS


class Cancelled(RpcError):
    """Raised (or raise it yourself) when the client cancelled the request: the reply is -32800."""

    code = REQUEST_CANCELLED

    def __init__(self, message="Request cancelled by the client", data=None):
        RpcError.__init__(self, message, data=data)


class ConfigError(RpcError):
    code = CONFIG_INVALID


class HandlersError(RpcError):
    """RELOAD_CONFIG could not import the workspace handlers module; the previous handlers stay in force."""

    code = HANDLERS_INVALID


def reply_too_large(what, nbytes, limit, data=None):
    """A handler's result over limits.maxMessageBytes: refused with -32016 instead of sent, so one call can never
    put hundreds of MB on the pipe and into the extension host (which keeps recent results in memory)."""
    return RpcError("%s returned %d bytes of JSON, more than limits.maxMessageBytes (%d); the result was dropped. "
                    "Return less (a summary, or the path of a file you wrote), or raise limits.maxMessageBytes in "
                    ".aios/config.json" % (what, nbytes, limit), MESSAGE_TOO_LARGE, data)
