"""The MCP Python SDK's own client (1.x `ClientSession`, or 2.x `Client`): the model gets the text content.

Long calls: 1.x `ClientSession(read_timeout_seconds=timedelta(seconds=...))`; 2.x
`client.call_tool(..., read_timeout_seconds=...)`.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from datetime import timedelta
from typing import Any

import scripted
from mcp import StdioServerParameters


def text_of(result: Any) -> str:
    failed = getattr(result, "isError", None) or getattr(result, "is_error", None)
    if failed:
        raise RuntimeError(f"tool error: {result}")
    return "\n".join(block.text for block in result.content if block.type == "text")


async def run_v1(cfg: dict[str, Any], params: StdioServerParameters) -> None:
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, read_timeout_seconds=timedelta(seconds=cfg["timeout"])) as session,
    ):
        await session.initialize()
        tools = [tool.name for tool in (await session.list_tools()).tools]
        seen: list[str] = []
        call = scripted.first_call(cfg)
        while call is not None and len(seen) < scripted.MAX_CALLS:
            # 1.x validates structuredContent against the tool's outputSchema here (raises on a mismatch).
            seen.append(text_of(await session.call_tool(*call)))
            call = scripted.next_call(seen[-1])
        scripted.save(cfg, tools, seen)


async def run_v2(cfg: dict[str, Any], params: StdioServerParameters) -> None:
    from mcp import Client

    async with Client(params) as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        seen: list[str] = []
        call = scripted.first_call(cfg)
        while call is not None and len(seen) < scripted.MAX_CALLS:
            seen.append(text_of(await client.call_tool(*call, read_timeout_seconds=cfg["timeout"])))
            call = scripted.next_call(seen[-1])
        scripted.save(cfg, tools, seen)


def main() -> None:
    cfg = scripted.config()
    command = cfg["command"]
    params = StdioServerParameters(command=command[0], args=command[1:], env=cfg["env"])
    major = int(importlib.metadata.version("mcp").split(".")[0])
    asyncio.run(run_v1(cfg, params) if major < 2 else run_v2(cfg, params))


if __name__ == "__main__":
    main()
