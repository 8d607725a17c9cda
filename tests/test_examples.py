"""Every example in examples/, exercised: the client configs (Claude Desktop, Cursor, VS Code) and the Claude Code
commands parse, name the `mavi-mcp` console script with flags and variables it accepts, and start a server that
lists its tools; the streamable-HTTP deployment serves MCP and receives MAVI's callbacks on one port; the systemd
unit runs the same configuration; `agent_session.py` prints the session it promises.

Where an example says `uvx mavi-mcp`, the test runs this checkout's `mavi-mcp` with the same arguments (uvx itself
is exercised by `test_packaging`).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mavi_mcp.cli import build_parser
from tests.conftest import (
    API_KEY,
    WEBHOOK_SECRET,
    free_port,
    mavi_mcp_command,
    start,
    start_sandbox,
    stdio_params,
    wait_http,
)
from tests.helpers import REPO, ok, settings_by_env

EXAMPLES = REPO / "examples"
SCRIPT = next(iter(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]))
PENDING_SETTINGS = {"MAVI_MCP_AUTH_TOKEN"}
"""Settings the examples use that another branch is adding (the bearer token of the HTTP transports)."""
CONFIGS = {
    "claude_desktop_config.json": "mcpServers",
    "cursor/.cursor/mcp.json": "mcpServers",
    "vscode/.vscode/mcp.json": "servers",
}
AMI_ES2004A = "re_700000000000000012"
MONRO = "re_700000000000000003"


@dataclass(frozen=True)
class Launch:
    """A stdio server an example starts: `uvx mavi-mcp ARGS` with ENV."""

    source: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict[str, str])

    @property
    def sandbox(self) -> bool:
        return "--sandbox" in self.args


def config(relative: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / relative).read_text())


def config_launches() -> list[Launch]:
    launches: list[Launch] = []
    for relative, key in CONFIGS.items():
        for name, entry in config(relative)[key].items():
            if "command" in entry:
                assert entry["command"] == "uvx", f"{relative} {name}: run it through uvx"
                assert entry["args"][0] == SCRIPT, f"{relative} {name}: the console script is {SCRIPT}"
                launches.append(Launch(f"{relative}:{name}", tuple(entry["args"][1:]), entry.get("env", {})))
    return launches


def claude_code_commands() -> list[list[str]]:
    text = (EXAMPLES / "claude_code.sh").read_text().replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.startswith("claude mcp add")]


def claude_code_launches() -> list[Launch]:
    launches: list[Launch] = []
    for index, words in enumerate(claude_code_commands()):
        if "--" not in words:
            continue
        options, command = words[: words.index("--")], words[words.index("--") + 1 :]
        assert command[:2] == ["uvx", SCRIPT]
        env = dict(options[i + 1].split("=", 1) for i, word in enumerate(options) if word in ("-e", "--env"))
        launches.append(Launch(f"claude_code.sh:{index}", tuple(command[2:]), env))
    return launches


def test_the_client_configs_have_the_shape_their_clients_read() -> None:
    assert sorted(str(p.relative_to(EXAMPLES)) for p in EXAMPLES.rglob("*.json")) == sorted(CONFIGS)
    desktop = config("claude_desktop_config.json")["mcpServers"]
    assert desktop["mavi"] == {"command": "uvx", "args": [SCRIPT], "env": {"MAVI_API_KEY": "sk-mavi-..."}}
    assert desktop["mavi-sandbox"] == {"command": "uvx", "args": [SCRIPT, "--sandbox"]}

    cursor = config("cursor/.cursor/mcp.json")["mcpServers"]
    assert cursor["mavi-remote"]["url"].endswith("/mcp")
    assert cursor["mavi-remote"]["headers"]["Authorization"].startswith("Bearer ")

    vscode = config("vscode/.vscode/mcp.json")
    assert {entry["type"] for entry in vscode["servers"].values()} == {"stdio"}
    inputs = {item["id"]: item for item in vscode["inputs"]}
    used = set(re.findall(r"\$\{input:([^}]+)\}", json.dumps(vscode["servers"])))
    assert used == set(inputs) == {"mavi-api-key"}
    assert inputs["mavi-api-key"]["password"] is True


def test_every_launch_uses_flags_and_variables_mavi_mcp_accepts() -> None:
    launches = config_launches() + claude_code_launches()
    assert len(launches) == 7
    known = set(settings_by_env())
    for launch in launches:
        build_parser().parse_args(list(launch.args))
        assert set(launch.env) <= known, f"{launch.source}: unknown variables {set(launch.env) - known}"
        assert launch.sandbox or "MAVI_API_KEY" in launch.env, f"{launch.source}: needs a key or --sandbox"


def distinct_launches() -> list[Launch]:
    seen: dict[tuple[tuple[str, ...], tuple[str, ...]], Launch] = {}
    for launch in config_launches() + claude_code_launches():
        seen.setdefault((launch.args, tuple(sorted(launch.env))), launch)
    return list(seen.values())


@pytest.mark.anyio
@pytest.mark.e2e
@pytest.mark.parametrize("launch", distinct_launches(), ids=lambda launch: launch.source)
async def test_each_launch_starts_a_server_that_lists_its_tools(launch: Launch, tmp_path: Path) -> None:
    env = {name: re.sub(r"\$\{input:[^}]+\}", "sk-mavi-from-a-prompt", value) for name, value in launch.env.items()}
    env["MAVI_MCP_DATA_DIR"] = str(tmp_path / "data")
    if "MAVI_MCP_ALLOWED_DIRS" in env:
        assert env["MAVI_MCP_ALLOWED_DIRS"].startswith("~/")
    with anyio.fail_after(60):
        async with Client(stdio_params(env, *launch.args)) as client:
            assert len((await client.list_tools()).tools) == 13
            info = ok(await client.call_tool("webhook_info", {}))
            assert info["running_here"] is launch.sandbox  # the sandbox feeds an in-process receiver
            if launch.sandbox:  # never call the real API with a placeholder key
                turns = ok(await client.call_tool("identify_speakers", {"asset_id": AMI_ES2004A, "mode": "sync"}))
                assert turns["counts"]["segments"] == 260


def test_the_claude_code_commands_add_a_user_server_a_sandbox_and_a_remote_one() -> None:
    syntax = subprocess.run(["sh", "-n", str(EXAMPLES / "claude_code.sh")], capture_output=True, text=True, timeout=10)
    assert syntax.returncode == 0, syntax.stderr
    commands = claude_code_commands()
    assert [words[3:5] for words in commands] == [["--scope", "user"], ["mavi-sandbox", "--"], ["--transport", "http"]]
    remote = commands[2]
    assert remote[5:7] == ["mavi-remote", "https://mavi.example.com/mcp"]
    assert remote[7] == "--header"
    assert remote[8].startswith("Authorization: Bearer ")


def exported_names(text: str) -> set[str]:
    return set(re.findall(r"\bMAVI_[A-Z0-9_]+", text)) - {"MAVI_MCP_BIN"}


def test_the_http_deployment_script_and_unit_use_only_settings_mavi_mcp_knows() -> None:
    known = set(settings_by_env()) | PENDING_SETTINGS
    script = (EXAMPLES / "http" / "serve.sh").read_text()
    unit = (EXAMPLES / "http" / "mavi-mcp.service").read_text()
    assert exported_names(script) <= known
    assert exported_names(unit) <= known

    environment = dict(
        line.removeprefix("Environment=").split("=", 1) for line in unit.splitlines() if line.startswith("Environment=")
    )
    assert environment["MAVI_MCP_TRANSPORT"] == "streamable-http"
    assert environment["MAVI_MCP_HOST"] == "127.0.0.1"
    assert "export MAVI_MCP_TRANSPORT=streamable-http" in script
    assert 'export MAVI_MCP_HOST="${MAVI_MCP_HOST:-127.0.0.1}"' in script
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    command = shlex.split(exec_start.removeprefix("ExecStart="))
    assert Path(command[0]).name == SCRIPT
    build_parser().parse_args(command[1:])
    assert "EnvironmentFile=/etc/mavi-mcp/env" in unit


def test_the_http_deployment_script_refuses_to_start_without_a_bearer_token(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MAVI_API_KEY": API_KEY, "MAVI_MCP_BIN": "false"}
    done = subprocess.run(
        ["sh", str(EXAMPLES / "http" / "serve.sh")], capture_output=True, text=True, timeout=10, env=env
    )
    assert done.returncode != 0
    assert "MAVI_MCP_AUTH_TOKEN" in done.stderr


@pytest.mark.anyio
@pytest.mark.e2e
async def test_the_http_deployment_serves_mcp_and_receives_mavi_callbacks_on_one_port(tmp_path: Path) -> None:
    port = free_port()
    sandbox = start_sandbox(
        "--webhook-url", f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}", "--callback-delay", "1"
    )
    token = "example-token-0123456789abcdef"
    env = {
        "MAVI_MCP_BIN": shlex.join(mavi_mcp_command()),
        "MAVI_API_KEY": API_KEY,
        "MAVI_MCP_AUTH_TOKEN": token,
        "MAVI_MCP_PORT": str(port),
        "MAVI_BASE_URL": sandbox.url,
        "MAVI_MCP_DATA_DIR": str(tmp_path / "data"),
        "MAVI_MCP_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    server = start(["sh", str(EXAMPLES / "http" / "serve.sh")], env)
    try:
        wait_http(f"http://127.0.0.1:{port}/mcp")
        with anyio.fail_after(90):
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
                Client(streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http)) as client,
            ):
                info = ok(await client.call_tool("webhook_info", {}))
                assert info["running_here"] is True
                assert info["url"] == f"http://127.0.0.1:{port}/webhooks/mavi/{WEBHOOK_SECRET}"
                started = ok(await client.call_tool("multi_speaker_async", {"asset_id": MONRO, "wait_seconds": 0}))
                assert started["status"] == "pending"
                result = started
                while result["status"] == "pending":
                    result = ok(await client.call_tool("get_task", {"task_id": started["task_id"], "wait_seconds": 5}))
                assert result["status"] == "completed"
                assert len(result["speakers"]) == 10
    finally:
        server.stop()
        sandbox.process.stop()


@pytest.mark.e2e
def test_the_agent_session_script_prints_each_step_of_its_session() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "agent_session.py"), "--command", shlex.join(mavi_mcp_command())],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("13 tools: upload_media, identify_speakers, transcribe_whisper")
    assert re.fullmatch(r"upload_media: standup\.wav -> re_\d{18} \(SUCCESS\)", lines[1])
    assert re.fullmatch(r"transcribe_whisper: tr_[0-9a-f]{16}, 17 speakers, 66 min, 11942 words; page 1 .*", lines[2])
    assert lines[3].startswith("    [0:02] S0: Good day and thank you for standing by")
    # page 1 prints up to two lines of its words (it fills its budget, so it may go on into S1's long turn)
    second = next(i for i, line in enumerate(lines) if line.startswith("get_transcript: page 2"))
    assert second in (4, 5)
    assert all(line.startswith("    [") for line in lines[3:second])
    assert re.fullmatch(r"get_transcript: page 2 \(\d+ tokens\) begins:", lines[second])
    assert re.match(r"    \[\d+:\d\d\] S[01]: ", lines[second + 1])
    assert lines[second + 2] == "rename_speakers: {'SPEAKER_01': 'Richard Galanti'}"
    assert lines[second + 3] == "get_transcript(speakers=['Richard Galanti']) begins:"
    assert lines[second + 4].startswith("    [0:26] Richard Galanti: Uh, thank you, Sadie")
    assert len(lines) == second + 5
    assert "Traceback" not in done.stderr
