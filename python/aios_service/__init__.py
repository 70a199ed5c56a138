"""aios-service: the Python side of the AIOS Middleware VS Code extension.

JSON-RPC 2.0 over stdio with LSP framing. Run with `python -m aios_service`. Workspace handler modules use:

    from aios_service import command, control_command, ParamsError, Cancelled
"""

__version__ = "0.1.0"

from .errors import Cancelled, ParamsError, RpcError  # noqa: E402
from .registry import Context, command, control_command  # noqa: E402

__all__ = ["__version__", "command", "control_command", "Context", "Cancelled", "ParamsError", "RpcError"]
