"""langchain-mcp-adapters: `MultiServerMCPClient` over stdio and `load_mcp_tools`, each call made as LangGraph's
`ToolNode` makes it (`tool.ainvoke(tool_call)` -> `ToolMessage`).

What the model gets is the `ToolMessage`'s content (the adapter's conversion of the MCP content; structured
content goes to `artifact`, which chat models do not read). Long calls: the connection's
`session_kwargs={"read_timeout_seconds": timedelta(seconds=...)}` (default: none).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import scripted
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import load_mcp_tools


async def run(cfg: dict[str, Any]) -> None:
    command = cfg["command"]
    client = MultiServerMCPClient(
        {
            "mavi": {
                "transport": "stdio",
                "command": command[0],
                "args": command[1:],
                "env": cfg["env"],
                "session_kwargs": {"read_timeout_seconds": timedelta(seconds=cfg["timeout"])},
            }
        }
    )
    async with client.session("mavi") as session:
        tools = {tool.name: tool for tool in await load_mcp_tools(session)}
        seen: list[str] = []
        call = scripted.first_call(cfg)
        while call is not None and len(seen) < scripted.MAX_CALLS:
            name, args = call
            message = await tools[name].ainvoke(
                {"type": "tool_call", "name": name, "args": args, "id": f"c{len(seen)}"}
            )
            seen.append(scripted.as_text(message.content))
            call = scripted.next_call(seen[-1])
    scripted.save(cfg, list(tools), seen)


if __name__ == "__main__":
    asyncio.run(run(scripted.config()))
