"""pydantic-ai: an `Agent` with an `MCPToolset` over stdio, driven by a `FunctionModel` (the scripted agent).

What the model gets is each `ToolReturnPart` as pydantic-ai renders it for a model (`model_response_str()`):
the MCP result mapped by `MCPToolset`, which prefers structured content. Long calls:
`MCPToolset(..., read_timeout=...)` (seconds; default 5 minutes) and `wait_seconds` below it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import scripted
from fastmcp.client.transports import StdioTransport
from pydantic_ai import Agent
from pydantic_ai.mcp import MCPToolset
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel


def main(cfg: dict[str, Any]) -> None:
    tools: list[str] = []
    seen: list[str] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        tools[:] = [tool.name for tool in info.function_tools]
        last = messages[-1]
        returns = [p for p in last.parts if isinstance(p, ToolReturnPart)] if isinstance(last, ModelRequest) else []
        if returns:
            seen.append(returns[-1].model_response_str())
        call = scripted.first_call(cfg) if not seen else scripted.next_call(seen[-1])
        if call is None or len(seen) >= scripted.MAX_CALLS:
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(parts=[ToolCallPart(call[0], call[1], tool_call_id=f"call_{len(seen)}")])

    command = cfg["command"]
    toolset = MCPToolset(
        StdioTransport(command=command[0], args=command[1:], env=cfg["env"]),
        init_timeout=cfg["timeout"],  # default 5 s: a cold `mavi-mcp` start on a busy machine can take longer
        read_timeout=cfg["timeout"],
    )
    agent = Agent(FunctionModel(model), toolsets=[toolset])

    async def go() -> None:
        async with agent:
            await agent.run("Transcribe the recording and read all of it.")

    asyncio.run(go())
    scripted.save(cfg, tools, seen)


if __name__ == "__main__":
    main(scripted.config())
