"""The real MCP server in this process, reached through the SDK's in-memory `Client`: what every command uses.

`open_session(settings, ...)` builds the server with `create_server(settings)` (the same factory the stdio and
HTTP servers use, so the same store, jobs, retries and pacing) and connects an SDK client to it in memory.
`ToolSession.call()` calls one tool with a progress display driven by the tool's MCP progress notifications,
and turns an error result into a `CommandError` carrying the exit code scripts rely on (`ExitCode`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp import Client
from mcp_types import CallToolResult

from mavi_mcp.commands.confirm import Confirmation
from mavi_mcp.commands.progress import Display
from mavi_mcp.settings import Settings

_TOOL_PREFIX = re.compile(r"^Error executing tool \w+: ")
"""The SDK's prefix of a tool error's text (the command already says which command failed)."""


class ExitCode(enum.IntEnum):
    """Exit codes of the commands for people (documented in `mavi_mcp.commands` and the README)."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    API = 4
    DECLINED = 5
    INTERRUPTED = 130


class CommandError(Exception):
    """A command cannot go on: `str(err)` is shown on stderr, `code` is the process's exit code."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def text_of(result: CallToolResult) -> str:
    """The text of a tool result (its first content block), or "" when it has none."""
    for block in result.content:
        if block.type == "text":
            return block.text
    return ""


def structured(result: CallToolResult) -> dict[str, Any]:
    """A successful result's structured content (every mavi-mcp tool returns one)."""
    return dict(result.structured_content or {})


@dataclass
class ToolSession:
    """An MCP client session with the in-process server. Build it with `open_session`."""

    client: Client
    display: Display
    confirmation: Confirmation

    async def tool_names(self) -> set[str]:
        """Names of the tools the server lists (to tell whether an optional tool exists in this version)."""
        return {tool.name for tool in (await self.client.list_tools()).tools}

    async def call(self, name: str, arguments: dict[str, Any], *, label: str) -> CallToolResult:
        """Call tool `name`, showing `label` and the tool's progress notifications while it runs.

        Raises:
            CommandError: `DECLINED` when the call failed after a cost confirmation was refused here, else `API`
                with the tool's own message (what went wrong and what to do).
        """
        with self.display.task(label) as on_progress:
            result = await self.client.call_tool(name, arguments, progress_callback=on_progress)
        if result.is_error:
            message = _TOOL_PREFIX.sub("", text_of(result)) or f"{name} failed without a message."
            if self.confirmation.refused is not None:
                raise CommandError(ExitCode.DECLINED, message)  # the tool says what was (not) sent
            raise CommandError(ExitCode.API, message)
        return result


@asynccontextmanager
async def open_session(
    settings: Settings, *, display: Display, confirmation: Confirmation
) -> AsyncGenerator[ToolSession]:
    """The server for `settings`, in this process, with an SDK client connected to it in memory.

    The client answers elicitation (cost confirmations) with `confirmation`; progress goes to `display`.
    """
    from mavi_mcp.server import create_server
    from mavi_mcp.toolsets import DEFAULT

    # every tool: --tools / MAVI_MCP_TOOLS trims what an MCP client's model sees, not what these commands call
    server = create_server(settings.model_copy(update={"tools": DEFAULT}))
    async with Client(server, elicitation_callback=confirmation) as client:
        yield ToolSession(client, display, confirmation)
