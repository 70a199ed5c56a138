"""aios-service: the Python side of the AIOS Middleware VS Code extension.

JSON-RPC 2.0 over stdio with LSP framing. Run with `python -m aios_service`. Workspace handler modules use:

    from aios_service import command, control_command, ParamsError, Cancelled
"""

import sys

__version__ = "0.1.0"

# Started as the service (`python -m aios_service`: runpy imports this package while argv[0] is still "-m"),
# its own modules are compiled once and their bytecode kept next to them, even under PYTHONDONTWRITEBYTECODE:
# compiling them at every start costs a fifth of the start. The user's setting is back in force
# (`restore_bytecode_setting`) before the workspace's handlers load, so nothing is written there. Imported
# any other way (a user's tests importing the decorators), the setting is left alone.
_USER_DONT_WRITE_BYTECODE = sys.dont_write_bytecode
if sys.argv[:1] == ["-m"]:
    sys.dont_write_bytecode = False


def restore_bytecode_setting():
    sys.dont_write_bytecode = _USER_DONT_WRITE_BYTECODE


from .errors import Cancelled, ParamsError, RpcError  # noqa: E402
from .registry import Context, command, control_command  # noqa: E402

__all__ = ["__version__", "command", "control_command", "Context", "Cancelled", "ParamsError", "RpcError"]
