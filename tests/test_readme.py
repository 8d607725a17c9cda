"""The README against the code, so the docs cannot drift: the tool table ("## Tools") against `list_tools()`
(names, parameters, defaults, in order) and the configuration table ("## Configuration") against `Settings` and
the command line. The table readers here are also used by the registry-file tests (`test_packaging`)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from pydantic.fields import FieldInfo

from mavi_mcp.cli import build_parser
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
REQUIRED = "(required)"
"""Stands for "no default" in a parameter list: the parameter must be given."""


def section(title: str, text: str | None = None) -> str:
    """The README text under `## {title}`, up to the next `## ` heading."""
    text = README.read_text() if text is None else text
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"README has no section '## {title}'"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Cells of the first markdown table in `text`, header and separator rows left out."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    rows = [[cell.strip() for cell in line.strip().strip("|").split(" | ")] for line in lines]
    assert len(rows) > 2, "no table found"
    return rows[2:]


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


@dataclass(frozen=True)
class ConfigVariable:
    name: str
    flag: str | None
    default: str | None
    """The default as written in backticks, or None when the README says it in words ("none", "your home")."""
    meaning: str


def config_variables(text: str | None = None) -> list[ConfigVariable]:
    """Every variable of the configuration table, in order; `A` / `B` rows give two variables."""
    found: list[ConfigVariable] = []
    for row in table_rows(section("Configuration", text)):
        names = re.findall(r"`([A-Z0-9_]+)`", row[0])
        flags = re.findall(r"`(--[a-z-]+)`", row[1])
        literal = re.fullmatch(r"`[^`]*`( / `[^`]*`)*", row[2])
        defaults = re.findall(r"`([^`]*)`", row[2]) if literal else []
        for index, name in enumerate(names):
            found.append(
                ConfigVariable(
                    name=name,
                    flag=flags[index] if index < len(flags) else None,
                    default=defaults[index] if index < len(defaults) else None,
                    meaning=row[3],
                )
            )
    return found


def env_name(field: FieldInfo) -> str:
    alias = field.validation_alias
    assert isinstance(alias, str), f"setting without an environment variable: {field}"
    return alias


def default_text(field: FieldInfo) -> str | None:
    """A setting's default as an environment value (`1.0` -> "1", `False` -> "false"), None if it has none."""
    value = field.get_default(call_default_factory=False)
    if value is None or field.default_factory is not None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def settings_by_env() -> dict[str, FieldInfo]:
    return {env_name(field): field for field in Settings.model_fields.values()}


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
            assert param in required or "default" in spec, f"{tool.name}.{param}: optional without a default"
            params.append((param, REQUIRED if param in required else spec["default"]))
        actual.append((tool.name, params))
    assert len(actual) == 12
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
