"""Compatibility suite (issue 14): every client and agent framework lists the tools, transcribes a real recording
through `mavi-mcp` over stdio, follows `next_cursor` with `get_transcript` to the last page, and the recording's
words must be in what the FRAMEWORK hands its model (its own conversion of each tool result).

Each framework runs in its own environment (tests/compat/frameworks.py) through a driver script
(tests/compat/drivers/, a scripted agent in place of a model); the sandbox answers slowly, so the transcription
is a long call and every driver uses its framework's long-call setting (client timeout; `wait_seconds` below it),
the same one examples/frameworks/ shows. The MCP Inspector CLI (also in tests/test_inspector.py) pages here too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests import data
from tests.compat.frameworks import DRIVERS, FRAMEWORKS, Framework, Unavailable, framework_python, node_environment
from tests.conftest import SandboxServer, mavi_mcp_command, server_env
from tests.helpers import TOOLS

pytestmark = [pytest.mark.compat, pytest.mark.e2e]

SK_TELECOM = "re_700000000000000001"
"""Earnings-22 4430051, 63 min, Whisper: 5,363 words on two pages at the default page budget."""
SK_TELECOM_BODY = "4430051"
CLIENT_TIMEOUT = 60.0
"""The client-side tool-call timeout every driver sets (seconds)."""
WAIT_SECONDS = 45.0
"""The `wait_seconds` every driver passes: below CLIENT_TIMEOUT, so a slow job answers "pending" in time."""
DRIVER_TIMEOUT = 300.0

WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def recording_words() -> list[str]:
    """The recording's words in order, from the MAVI Whisper body the sandbox serves (not from our rendering)."""
    body = data.load(data.WHISPER, SK_TELECOM_BODY)
    return words(" ".join(item["text"] for item in body["data"]["items"]))


def strings_in(value: Any) -> list[str]:
    """Every string inside a JSON value (what a framework shows as JSON, decoded)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []


def visible_text(seen: str) -> str:
    """What a model reads in `seen`: JSON decoded (escapes undone), Python-repr newlines as spaces."""
    try:
        return "\n".join(strings_in(json.loads(seen)))
    except ValueError:
        return seen.replace("\\n", " ")


def missing_words(expected: list[str], shown: list[str]) -> int:
    """How many of `expected` (in order) are not a subsequence of `shown`: 0 when all the words arrived."""
    i = 0
    for word in shown:
        if i < len(expected) and word == expected[i]:
            i += 1
    return len(expected) - i


def drive(framework: Framework, sandbox: SandboxServer, tmp_path: Path) -> dict[str, Any]:
    """Run `framework`'s driver against `mavi-mcp` (stdio, over the slow sandbox); its report, or a skip."""
    options = dict(framework.options)
    try:
        if framework.runtime == "node":
            node, modules = node_environment()
            command = [str(node), str(DRIVERS / framework.driver)]
            extra_env = {"NODE_PATH": str(modules)}
        elif framework.runtime == "inspector":
            node, modules = node_environment()
            command = [sys.executable, str(DRIVERS / framework.driver)]
            options["inspector"] = [str(node), str((modules / ".bin" / "mcp-inspector").resolve())]
            extra_env = {"HOME": str(tmp_path)}  # the Inspector keeps a catalog under ~/.mcp-inspector
        else:
            command = [str(framework_python(framework)), str(DRIVERS / framework.driver)]
            extra_env = {}
    except Unavailable as exc:
        pytest.skip(f"{framework.name} cannot be installed here: {exc}")
    config = {
        "command": mavi_mcp_command(),
        "env": {**server_env(tmp_path, sandbox.url), "PATH": os.environ.get("PATH", "")},
        "asset_id": SK_TELECOM,
        "wait_seconds": WAIT_SECONDS,
        "timeout": CLIENT_TIMEOUT,
        "out": str(tmp_path / "report.json"),
        "options": options,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    done = subprocess.run(
        [*command, str(tmp_path / "config.json")],
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT,
        env={**os.environ, **extra_env},
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, f"{framework.name} driver exited {done.returncode}:\n{done.stderr[-4000:]}"
    return json.loads((tmp_path / "report.json").read_text())


def cases() -> list[Any]:
    marks: dict[str, list[pytest.MarkDecorator]] = {}
    for framework in FRAMEWORKS:
        if framework.structured_only:
            marks[framework.name] = [pytest.mark.xfail(strict=True, reason=framework.structured_only)]
    return [pytest.param(f, id=f.name, marks=marks.get(f.name, [])) for f in FRAMEWORKS]


@pytest.mark.parametrize("framework", cases())
def test_the_framework_hands_its_model_every_word_of_a_long_transcription(
    framework: Framework, slow_sandbox: SandboxServer, tmp_path: Path
) -> None:
    report = drive(framework, slow_sandbox, tmp_path)
    assert sorted(report["tools"]) == sorted(TOOLS)
    seen: list[str] = report["seen"]
    assert len(seen) >= 2, f"paging stopped after {len(seen)} call(s): {seen[-1][-500:] if seen else ''}"
    shown = [w for page in seen for w in words(visible_text(page))]
    expected = recording_words()
    assert len(expected) > 5000
    missing = missing_words(expected, shown)
    assert missing == 0, f"{missing} of the recording's {len(expected)} words never reached the model"


def test_without_its_setting_openai_agents_gives_up_on_a_long_call(slow_sandbox: SandboxServer, tmp_path: Path) -> None:
    # The SDK's default 5 s tool-call timeout is shorter than the slow sandbox's answer: the setting is needed.
    openai_agents = next(f for f in FRAMEWORKS if f.name == "openai-agents")
    report = drive(replace(openai_agents, options={"default_timeout": True}), slow_sandbox, tmp_path)
    assert report["seen"] == ["MCPError: Request 'tools/call' timed out"]


LONG_CALL_SETTINGS = {
    "drive_openai_agents.py": "client_session_timeout_seconds",
    "drive_google_adk.py": "timeout=",
    "drive_llama_index.py": "timeout=",
    "drive_pydantic_ai.py": "read_timeout=",
    "drive_langchain.py": '"read_timeout_seconds"',
    "drive_mcp_python.py": "read_timeout_seconds=",
    "drive_typescript.mjs": "timeout:",
    "drive_inspector.py": "wait_seconds",
}


def test_the_examples_show_the_long_call_setting_each_driver_uses() -> None:
    readme = (Path(__file__).resolve().parents[2] / "examples" / "frameworks" / "README.md").read_text()
    for driver, setting in LONG_CALL_SETTINGS.items():
        assert driver in readme
        assert setting in readme, setting
        assert setting in (DRIVERS / driver).read_text(), f"{driver} does not use {setting}"
