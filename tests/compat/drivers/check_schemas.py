"""Convert every tool's input schema with a framework's own converter; standard library besides that framework.

Run as `python check_schemas.py <openai-agents|google-genai> <tools.json> <out.json>` in the framework's
environment, where tools.json is a `tools/list` result (`{"tools": [...]}`). Writes `{tool name: null when
converted, else the converter's error}`:
- openai-agents: `agents.strict_schema.ensure_strict_json_schema` (what `convert_schemas_to_strict` runs; a
  failure makes the SDK fall back to a non-strict tool);
- google-genai: `types.JSONSchema.model_validate` then `types.Schema.from_json_schema(...,
  raise_error_on_unsupported_field=True)` (how ADK and the Gemini SDK turn a JSON schema into a Gemini Schema).
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from typing import Any


def openai_agents() -> Callable[[dict[str, Any]], object]:
    from agents.strict_schema import ensure_strict_json_schema

    return lambda schema: ensure_strict_json_schema(copy.deepcopy(schema))


def google_genai() -> Callable[[dict[str, Any]], object]:
    from google.genai import types

    def convert(schema: dict[str, Any]) -> object:
        return types.Schema.from_json_schema(
            json_schema=types.JSONSchema.model_validate(schema), raise_error_on_unsupported_field=True
        )

    return convert


def main() -> None:
    which, listing, out = sys.argv[1:4]
    convert = {"openai-agents": openai_agents, "google-genai": google_genai}[which]()
    with open(listing, encoding="utf-8") as f:
        tools = json.load(f)["tools"]
    errors: dict[str, str | None] = {}
    for tool in tools:
        try:
            convert(tool["inputSchema"])
            errors[tool["name"]] = None
        except Exception as exc:  # the converter's own error, reported for the test to show
            errors[tool["name"]] = f"{type(exc).__name__}: {exc}"[:500]
    with open(out, "w", encoding="utf-8") as f:
        json.dump(errors, f)


if __name__ == "__main__":
    main()
