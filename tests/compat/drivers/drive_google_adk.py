"""google-adk: an `LlmAgent` with `McpToolset` over stdio, run by `InMemoryRunner` with a scripted `BaseLlm`.

What the model gets is the `function_response` part ADK adds to the next `LlmRequest` (ADK's conversion of the
MCP result, the whole result as a dict). Long calls: `StdioConnectionParams(timeout=...)` (seconds; default 5,
which is also the tool-call read timeout over stdio).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import scripted
from google.adk.agents import LlmAgent
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import InMemoryRunner
from google.adk.tools.mcp_tool import McpToolset, StdioConnectionParams
from google.genai import types
from mcp import StdioServerParameters

CFG = scripted.config()
TOOLS: list[str] = []
SEEN: list[str] = []


class ScriptedLlm(BaseLlm):
    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse]:
        TOOLS[:] = list(llm_request.tools_dict)
        last = llm_request.contents[-1] if llm_request.contents else None
        responses = [p.function_response for p in (last.parts or []) if p.function_response] if last else []
        if responses:
            SEEN.append(scripted.as_text(responses[-1].response))
        call = scripted.first_call(CFG) if not SEEN else scripted.next_call(SEEN[-1])
        if call is None or len(SEEN) >= scripted.MAX_CALLS:
            part = types.Part(text="done")
        else:
            part = types.Part(function_call=types.FunctionCall(name=call[0], args=call[1], id=f"call_{len(SEEN)}"))
        yield LlmResponse(content=types.Content(role="model", parts=[part]))


async def run() -> None:
    command = CFG["command"]
    toolset = McpToolset(
        connection_params=StdioConnectionParams(
            server_params=StdioServerParameters(command=command[0], args=command[1:], env=CFG["env"]),
            timeout=CFG["timeout"],
        )
    )
    agent = LlmAgent(name="transcriber", model=ScriptedLlm(model="scripted"), tools=[toolset])
    runner = InMemoryRunner(agent=agent, app_name="compat")
    session = await runner.session_service.create_session(app_name="compat", user_id="user")
    message = types.Content(role="user", parts=[types.Part(text="Transcribe the recording and read all of it.")])
    try:
        async for _ in runner.run_async(user_id="user", session_id=session.id, new_message=message):
            pass
    finally:
        await toolset.close()
    scripted.save(CFG, TOOLS, SEEN)


if __name__ == "__main__":
    asyncio.run(run())
