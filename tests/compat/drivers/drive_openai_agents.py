"""openai-agents: an `Agent` with `MCPServerStdio`, run by `Runner` with a scripted `Model`.

What the model gets is the `function_call_output` item the Runner puts in the model's input (the SDK's own
conversion of the MCP result: the text content, or with `use_structured_content=True` the structured content
as JSON). Long calls: `MCPServerStdio(client_session_timeout_seconds=...)` (default 5 s).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import scripted
from agents import Agent, Runner, set_tracing_disabled
from agents.items import ModelResponse
from agents.mcp import MCPServerStdio
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText


class ScriptedModel(Model):
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.tools: list[str] = []
        self.seen: list[str] = []
        self.calls = 0

    async def get_response(
        self, system_instructions: Any, input: Any, model_settings: Any, tools: Any, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        self.tools = [tool.name for tool in tools]
        outputs = [item for item in input if isinstance(item, dict) and item.get("type") == "function_call_output"]
        if len(outputs) > len(self.seen):
            self.seen.append(scripted.as_text(outputs[-1]["output"]))
        call = scripted.first_call(self.cfg) if not self.seen else scripted.next_call(self.seen[-1])
        if call is None or len(self.seen) >= scripted.MAX_CALLS:
            text = ResponseOutputText(type="output_text", text="done", annotations=[])
            message = ResponseOutputMessage(
                id="msg", type="message", role="assistant", status="completed", content=[text]
            )
            return ModelResponse(output=[message], usage=Usage(), response_id=None)
        self.calls += 1
        name, arguments = call
        item = ResponseFunctionToolCall(
            id=f"fc_{self.calls}",
            call_id=f"call_{self.calls}",
            name=name,
            arguments=json.dumps(arguments),
            type="function_call",
            status="completed",
        )
        return ModelResponse(output=[item], usage=Usage(), response_id=None)

    def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError


async def run(cfg: dict[str, Any]) -> None:
    set_tracing_disabled(True)
    command = cfg["command"]
    model = ScriptedModel(cfg)
    options = cfg["options"]
    # options.default_timeout: leave the SDK's 5 s tool-call timeout, to show that a long call needs the setting.
    # The model is then shown the error itself (the SDK's default text says only "An error occurred").
    timeout: dict[str, Any] = {"client_session_timeout_seconds": cfg["timeout"]}
    if options.get("default_timeout"):
        timeout = {"failure_error_function": lambda _ctx, error: f"{type(error).__name__}: {error}"}
    async with MCPServerStdio(
        params={"command": command[0], "args": command[1:], "env": cfg["env"]},
        use_structured_content=bool(options.get("use_structured_content")),
        cache_tools_list=True,
        **timeout,
    ) as server:
        agent = Agent(name="transcriber", model=model, mcp_servers=[server])
        await Runner.run(agent, "Transcribe the recording and read all of it.", max_turns=scripted.MAX_CALLS + 2)
    scripted.save(cfg, model.tools, model.seen)


if __name__ == "__main__":
    asyncio.run(run(scripted.config()))
