"""The tool boundary: every failure becomes a message an agent can act on; the runtime and caller's key of a call.

With mcp 2.x only `ToolError` text reaches the model; anything else shows as a bare "Error executing tool", so
every tool is wrapped by `agent_errors`.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import pydantic
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError

from mavi_mcp.errors import MaviError, redact
from mavi_mcp.runtime import Runtime

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


# --- the error boundary ---------------------------------------------------------------------------


def agent_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn every failure of a tool into a `ToolError` an agent can act on; never a stack trace or a key.

    `MaviError`s carry their own actionable text; pydantic validation errors of our own models become a list
    of what to fix; anything else is logged (stderr) and reported as an internal error.
    """

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ToolError:
            raise
        except MaviError as exc:
            raise ToolError(redact(str(exc))) from None
        except sqlite3.OperationalError as exc:  # locked past the busy timeout (another process), disk full, ...
            logger.warning("Tool %s: the store could not be used: %s", fn.__name__, exc)
            raise ToolError(
                f"The local store could not be used ({exc}): another mavi-mcp process may hold its write lock, or "
                "the disk may be full. Try again in a minute; a paid answer that arrived is kept in the spool and "
                "stored then."
            ) from None
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()[:5]
            )
            raise ToolError(f"Invalid arguments: {problems}. Nothing was sent or billed.") from None
        except Exception:
            logger.exception("Tool %s failed unexpectedly", fn.__name__)
            raise ToolError(
                f"mavi-mcp hit an internal error in {fn.__name__} (details are in the server's log on stderr). "
                "Try again; if it repeats, report it with that log."
            ) from None

    return wrapper


def runtime_of(ctx: Context[Runtime, Any]) -> Runtime:
    return ctx.request_context.lifespan_context


KEY_HEADER = "x-mavi-api-key"
"""HTTP header by which a client of a shared deployment sends its own MAVI key, for that request only."""


def request_key(ctx: Context[Runtime, Any]) -> str | None:
    """The caller's own MAVI key from the `X-MAVI-API-Key` header (HTTP transports), else None.

    Used for this request's MAVI calls only: never stored, logged or echoed (task params never hold it).
    """
    headers = ctx.headers
    if headers is None:
        return None
    value = headers.get(KEY_HEADER) or headers.get("X-MAVI-API-Key")
    return value.strip() if value and value.strip() else None
