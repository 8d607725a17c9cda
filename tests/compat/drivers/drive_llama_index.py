"""llama-index-tools-mcp: `BasicMCPClient` over stdio and `McpToolSpec(...).to_tool_list_async()`, each call made
as llama-index agents make it (`await tool.acall(**arguments)` -> `ToolOutput`).

What the model gets is `ToolOutput.content`, which agents put in the tool message: `str()` of the MCP result
object (text content and structured content as a Python repr). Long calls: `BasicMCPClient(timeout=...)`
(seconds; default 30).
"""

from __future__ import annotations

import asyncio
from typing import Any

import scripted
from llama_index.tools.mcp import BasicMCPClient, McpToolSpec


async def run(cfg: dict[str, Any]) -> None:
    command = cfg["command"]
    client = BasicMCPClient(command[0], args=command[1:], env=cfg["env"], timeout=int(cfg["timeout"]))
    tools = {tool.metadata.name: tool for tool in await McpToolSpec(client=client).to_tool_list_async()}
    seen: list[str] = []
    call = scripted.first_call(cfg)
    while call is not None and len(seen) < scripted.MAX_CALLS:
        name, args = call
        output = await tools[name].acall(**args)
        seen.append(scripted.as_text(output.content))
        call = scripted.next_call(seen[-1])
    scripted.save(cfg, [name for name in tools if name], seen)


if __name__ == "__main__":
    asyncio.run(run(scripted.config()))
