"""A third-party client: the MCP Inspector CLI (`@modelcontextprotocol/inspector` 2.x, `--cli`, TypeScript SDK) lists
mavi-mcp's tools (with `--strict`: no tool-schema portability errors) and calls `identify_speakers` and
`transcribe_whisper` against `mavi-mcp --sandbox`, over stdio and over streamable HTTP.

The Inspector 2.x needs Node >= 22.19. `.ci/run` installs Node 22 and the Inspector from the npm registry into a
temporary folder and sets MAVI_MCP_INSPECTOR to its `mcp-inspector` (the `node` beside it runs it). Without that
variable an `mcp-inspector` on PATH is used; with no Inspector, or no recent enough Node, these tests skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, mavi_mcp_command, start, wait_http
from tests.helpers import TOOLS

pytestmark = pytest.mark.e2e

NODE_AT_LEAST = (22, 19)
AMI_ES2004A = "re_700000000000000012"
COSTCO = "re_700000000000000002"


def inspector(home: Path) -> tuple[list[str], dict[str, str]]:
    """The command that runs the Inspector CLI with a recent Node, and its environment; skips without them."""
    found = os.environ.get("MAVI_MCP_INSPECTOR") or shutil.which("mcp-inspector")
    if not found:
        pytest.skip("MCP Inspector not installed (.ci/run installs it with Node 22 from the npm registry)")
    script = Path(found)
    node = shutil.which("node", path=os.pathsep.join([str(script.parent), os.environ.get("PATH", "")]))
    if node is None:
        pytest.skip("Node.js is not installed")
    shown = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    version = tuple(int(part) for part in re.findall(r"\d+", shown)[:2])
    if version < NODE_AT_LEAST:
        pytest.skip(f"Node {shown} is older than the Inspector's minimum {'.'.join(map(str, NODE_AT_LEAST))}")
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(node).parent), os.environ.get("PATH", "")]),
        "HOME": str(home),  # the Inspector keeps a catalog under ~/.mcp-inspector; keep it out of the user's home
    }
    return [node, str(script.resolve())], env


def run(command: list[str], env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([*command, "--cli", *args], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, f"Inspector exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def transcript_text(result: dict[str, Any]) -> str:
    assert result.get("isError") is not True, result
    return result["content"][0]["text"]


def exercise(command: list[str], env: dict[str, str], target: list[str]) -> None:
    listing = run(command, env, *target, "--method", "tools/list", "--strict")
    assert [tool["name"] for tool in listing["tools"]] == TOOLS
    by_name = {tool["name"]: tool for tool in listing["tools"]}
    assert by_name["identify_speakers"]["inputSchema"]["required"] == ["asset_id"]
    assert "outputSchema" in by_name["transcribe_whisper"]

    turns = run(
        command,
        env,
        *target,
        "--method",
        "tools/call",
        "--tool-name",
        "identify_speakers",
        "--tool-arg",
        f"asset_id={AMI_ES2004A}",
        "mode=sync",
    )
    assert "· 260 turns" in transcript_text(turns)
    assert turns["structuredContent"]["counts"]["segments"] == 260
    assert len(turns["structuredContent"]["speakers"]) == 4

    words = run(
        command,
        env,
        *target,
        "--method",
        "tools/call",
        "--tool-name",
        "transcribe_whisper",
        "--tool-arg",
        f"asset_id={COSTCO}",
        "speaker=true",
        "mode=sync",
        "max_tokens=2000",
    )
    text = transcript_text(words)
    assert text.split("<transcript>\n", 1)[1].startswith("[0:02] S0: Good day and thank you for standing by")
    assert len(words["structuredContent"]["speakers"]) == 17
    assert words["structuredContent"]["next_cursor"]


def test_the_inspector_lists_and_calls_the_tools_over_stdio(tmp_path: Path) -> None:
    command, env = inspector(tmp_path)
    target = ["-e", f"MAVI_MCP_DATA_DIR={tmp_path / 'data'}", *mavi_mcp_command(), "--sandbox"]
    exercise(command, env, target)


def test_the_inspector_lists_and_calls_the_tools_over_streamable_http(tmp_path: Path) -> None:
    command, env = inspector(tmp_path)
    port = free_port()
    server = start(
        [*mavi_mcp_command(), "--sandbox", "--transport", "streamable-http", "--port", str(port)],
        {"MAVI_MCP_DATA_DIR": str(tmp_path / "data")},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/mcp")
        exercise(command, env, [f"http://127.0.0.1:{port}/mcp", "--transport", "http"])
    finally:
        server.stop()
