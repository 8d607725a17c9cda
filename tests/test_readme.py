"""The README against the code, so the docs cannot drift: the tool table ("## Tools") against `list_tools()`
(names, parameters, defaults, in order) and the configuration table ("## Configuration") against `Settings` and
the command line. The table readers here are also used by the registry-file tests (`test_packaging`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from mavi_mcp.cli import build_parser
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from tests.helpers import (
    ConfigVariable,
    config_variables,
    default_text,
    section,
    settings_by_env,
    table_rows,
)

REQUIRED = "(required)"
"""Stands for "no default" in a parameter list: the parameter must be given."""


def documented_tools(text: str | None = None) -> list[tuple[str, list[tuple[str, Any]]]]:
    """`(tool, [(parameter, default or REQUIRED), ...])` from the README's tool table, in its order."""
    tools: list[tuple[str, list[tuple[str, Any]]]] = []
    for row in table_rows(section("Tools", text)):
        name = row[0].strip("`")
        params: list[tuple[str, Any]] = []
        if row[1] != "(none)":
            for item in re.findall(r"`([^`]+)`", row[1]):
                param, sep, default = item.partition("=")
                params.append((param, ast.literal_eval(default) if sep else REQUIRED))
        tools.append((name, params))
    return tools


def test_the_readers_see_the_tables_as_written() -> None:
    sample = """## Tools

| tool | parameters | what it does |
| --- | --- | --- |
| `a` | `x`, `y='auto'`, `z=None`, `n=20`, `flag=False` | A. |
| `b` | (none) | B. |

## Configuration

| variable | flag | default | meaning |
| --- | --- | --- | --- |
| `V_ONE` / `V_TWO` | `--one` / `--two` | `127.0.0.1` / `8000` | both. |
| `V_KEY` | (env only) | none | a key. |

## Next
"""
    assert documented_tools(sample) == [
        ("a", [("x", REQUIRED), ("y", "auto"), ("z", None), ("n", 20), ("flag", False)]),
        ("b", []),
    ]
    assert config_variables(sample) == [
        ConfigVariable("V_ONE", "--one", "127.0.0.1", "both."),
        ConfigVariable("V_TWO", "--two", "8000", "both."),
        ConfigVariable("V_KEY", None, None, "a key."),
    ]


@pytest.mark.anyio
async def test_the_tool_table_lists_every_tool_with_its_parameters_and_defaults_in_order(tmp_path: Path) -> None:
    server = create_server(Settings(data_dir=tmp_path / "data", allowed_dirs=[tmp_path]))
    with anyio.fail_after(30):
        async with Client(server) as client:
            listed = (await client.list_tools()).tools
    actual: list[tuple[str, list[tuple[str, Any]]]] = []
    for tool in listed:
        schema = tool.input_schema
        required = set(schema.get("required", []))
        params: list[tuple[str, Any]] = []
        for param, spec in schema.get("properties", {}).items():
            # lean schemas (mavi_mcp.schemas) state every default but null: an optional parameter without one is None
            params.append((param, REQUIRED if param in required else spec.get("default")))
        actual.append((tool.name, params))
    assert len(actual) == 13
    assert documented_tools() == actual


def test_the_configuration_table_documents_every_setting_with_its_flag_and_default() -> None:
    documented = config_variables()
    settings = settings_by_env()
    assert [v.name for v in documented if v.name not in settings] == [], "README documents unknown variables"
    assert sorted(set(settings) - {v.name for v in documented}) == [], "settings missing from the README table"
    assert len({v.name for v in documented}) == len(documented), "a variable is documented twice"

    flags = build_parser()._option_string_actions  # pyright: ignore[reportPrivateUsage]
    for variable in documented:
        field = settings[variable.name]
        if variable.flag is not None:
            assert variable.flag in flags, f"{variable.name}: {variable.flag} is not a mavi-mcp flag"
            assert flags[variable.flag].dest == next(k for k, f in Settings.model_fields.items() if f is field)
        if variable.default is not None:
            assert variable.default == default_text(field), f"{variable.name}: README default differs"
    literal = {v.name: v.default for v in documented if v.default is not None}
    assert literal["MAVI_MCP_RATE_LIMIT"] == "1"
    assert literal["MAVI_BASE_URL"] == "https://mavi-backend.memories.ai/serve/api/v2"
