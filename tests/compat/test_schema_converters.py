"""Every tool of our server, as it publishes it (`create_server` applies `mavi_mcp.schemas.apply_lean_schemas`),
converts with openai-agents' strict-mode converter and google-genai's `Schema.from_json_schema` (issue 14), each run
in its framework's environment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from benchmarks.tool_tokens import list_tools_json
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from tests.compat.frameworks import DRIVERS, FRAMEWORKS, Unavailable, framework_python
from tests.helpers import TOOLS

pytestmark = [pytest.mark.compat, pytest.mark.e2e]

CONVERTERS = {"openai-agents": "openai-agents", "google-genai": "google-adk"}
"""Converter -> the framework whose environment has it (google-adk brings google-genai)."""


def lean_listing(tmp_path: Path) -> Path:
    server = create_server(Settings(data_dir=tmp_path / "data", sandbox=True, log_level="WARNING"))
    listing: dict[str, Any] = anyio.run(list_tools_json, server)
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(listing))
    return path


@pytest.fixture(scope="module")
def conversions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str | None] | str]:
    """Converter -> {tool: error or None}, or the reason the converter's environment is unavailable."""
    tmp_path = tmp_path_factory.mktemp("converters")
    listing = lean_listing(tmp_path)
    results: dict[str, dict[str, str | None] | str] = {}
    for converter, name in CONVERTERS.items():
        framework = next(f for f in FRAMEWORKS if f.name == name)
        try:
            python = framework_python(framework)
        except Unavailable as exc:
            results[converter] = str(exc)
            continue
        out = tmp_path / f"{converter}.json"
        done = subprocess.run(
            [str(python), str(DRIVERS / "check_schemas.py"), converter, str(listing), str(out)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results[converter] = json.loads(out.read_text())
    return results


def cases() -> list[Any]:
    return [pytest.param(converter, tool, id=f"{converter}-{tool}") for converter in CONVERTERS for tool in TOOLS]


@pytest.mark.parametrize(("converter", "tool"), cases())
def test_the_lean_schema_of_every_tool_converts(
    converter: str, tool: str, conversions: dict[str, dict[str, str | None] | str]
) -> None:
    result = conversions[converter]
    if isinstance(result, str):
        pytest.skip(f"{converter} cannot be installed here: {result}")
    assert tool in result
    assert result[tool] is None, result[tool]
