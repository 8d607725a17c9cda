"""The MCP Inspector CLI (`@modelcontextprotocol/inspector` 2.x `--cli`, TypeScript SDK): one Inspector run per
request, each starting `mavi-mcp` over stdio on the same data folder (so a transcript stored by one call is read by
the next). The model-visible part is the result's text content, as the Inspector prints it.

`options.inspector` is the command that runs the Inspector CLI (`[node, mcp-inspector]`). Long calls: the
Inspector has no tool-call timeout flag (the TypeScript SDK's 60 s applies), so `wait_seconds` stays below it.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import scripted


def inspect(cfg: dict[str, Any], *args: str) -> dict[str, Any]:
    target = [part for key, value in cfg["env"].items() for part in ("-e", f"{key}={value}")] + cfg["command"]
    done = subprocess.run(
        [*cfg["options"]["inspector"], "--cli", *target, *args],
        capture_output=True,
        text=True,
        timeout=cfg["timeout"] + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"Inspector exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def main() -> None:
    cfg = scripted.config()
    tools = [tool["name"] for tool in inspect(cfg, "--method", "tools/list")["tools"]]
    seen: list[str] = []
    call = scripted.first_call(cfg)
    while call is not None and len(seen) < scripted.MAX_CALLS:
        name, arguments = call
        pairs = [f"{key}={value}" for key, value in arguments.items()]
        result = inspect(cfg, "--method", "tools/call", "--tool-name", name, "--tool-arg", *pairs)
        if result.get("isError"):
            raise RuntimeError(f"tool error: {result}")
        seen.append("\n".join(block["text"] for block in result["content"] if block["type"] == "text"))
        call = scripted.next_call(seen[-1])
    scripted.save(cfg, tools, seen)


if __name__ == "__main__":
    main()
