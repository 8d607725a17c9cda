"""`mavi_mcp.schemas`: lean tool schemas (issue 14), as pure functions and on the real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
from mcp import Client
from mcp_types import CallToolResult

from mavi_mcp.schemas import SchemaError, apply_lean_schemas, lean_output_schema, lean_tool_schema
from mavi_mcp.server import create_server
from mavi_mcp.settings import Settings
from tests.conftest import in_process_server

KEY = "sk-mavi-schemas-test-key"
SECRET = "schemas-webhook-secret-0123456789"


def walk(node: Any) -> list[dict[str, Any]]:
    """Every dict inside a JSON value."""
    if isinstance(node, dict):
        return [node, *(d for v in node.values() for d in walk(v))]
    if isinstance(node, list):
        return [d for v in node for d in walk(v)]
    return []


def test_titles_go_but_a_property_called_title_stays() -> None:
    schema = {
        "title": "fArguments",
        "type": "object",
        "properties": {"title": {"title": "Title", "type": "string"}, "n": {"title": "N", "type": "integer"}},
        "required": ["title"],
    }
    assert lean_tool_schema(schema) == {
        "type": "object",
        "properties": {"title": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["title"],
        "additionalProperties": False,
    }


def test_an_optional_parameter_becomes_a_plain_typed_property_with_its_default_stated() -> None:
    schema = {
        "type": "object",
        "properties": {
            "max_tokens": {
                "anyOf": [{"type": "integer", "minimum": 500}, {"type": "null"}],
                "default": None,
                "description": "Page budget.",
            },
            "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 20},
            "start": {"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}], "default": None},
        },
    }
    properties = lean_tool_schema(schema)["properties"]
    assert properties["max_tokens"] == {"type": "integer", "minimum": 500, "description": "Page budget."}
    assert properties["limit"] == {"type": "integer", "default": 20}
    assert properties["start"] == {"anyOf": [{"type": "number"}, {"type": "string"}]}


def test_nullable_keeps_null_as_a_type_list_for_openai_strict_mode() -> None:
    schema = {
        "type": "object",
        "properties": {
            "cursor": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "start": {"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}], "default": None},
        },
    }
    properties = lean_tool_schema(schema, nullable=True)["properties"]
    assert properties["cursor"] == {"type": ["string", "null"]}
    assert properties["start"] == {"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "null"}]}


def test_refs_are_inlined_and_nested_objects_closed() -> None:
    schema = {
        "$defs": {
            "Spelling": {
                "title": "Spelling",
                "type": "object",
                "properties": {"to": {"type": "string"}},
                "description": "\n    A fix.\n      Indented line.\n    ",
            }
        },
        "type": "object",
        "properties": {
            "fixes": {"anyOf": [{"type": "array", "items": {"$ref": "#/$defs/Spelling"}}, {"type": "null"}]}
        },
    }
    lean = lean_tool_schema(schema)
    assert lean["properties"]["fixes"] == {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"to": {"type": "string"}},
            "description": "A fix.\n  Indented line.",
            "additionalProperties": False,
        },
    }
    assert "$defs" not in lean
    assert schema["$defs"]["Spelling"]["title"] == "Spelling"  # the input is left as it was


def test_an_object_that_says_what_extra_keys_hold_is_left_open() -> None:
    mapping = {"type": "object", "additionalProperties": {"type": "string"}}
    assert lean_tool_schema({"type": "object", "properties": {"m": mapping}})["properties"]["m"] == mapping


def test_recursive_and_foreign_refs_are_refused() -> None:
    recursive = {
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }
    with pytest.raises(SchemaError, match="recursive"):
        lean_tool_schema(recursive)
    with pytest.raises(SchemaError, match="only #/\\$defs"):
        lean_tool_schema({"$ref": "https://example.com/schema.json"})


def test_an_output_schema_keeps_null_allowed_and_objects_open() -> None:
    schema = {
        "title": "Result",
        "type": "object",
        "properties": {
            "next_cursor": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None, "title": "Next"},
            "window": {"anyOf": [{"$ref": "#/$defs/Window"}, {"type": "null"}], "default": None},
        },
        "$defs": {"Window": {"title": "Window", "type": "object", "properties": {"start": {"type": "number"}}}},
    }
    lean = lean_output_schema(schema)
    assert lean == {
        "type": "object",
        "properties": {
            "next_cursor": {"type": ["string", "null"]},
            "window": {"type": ["object", "null"], "properties": {"start": {"type": "number"}}},
        },
    }
    jsonschema.validate({"next_cursor": None, "window": None, "extra": 1}, lean)


async def list_and_call(server: Any, calls: list[tuple[str, dict[str, Any]]]) -> tuple[list[Any], list[str]]:
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        answers: list[str] = []
        for name, arguments in calls:
            result: CallToolResult = await client.call_tool(name, arguments)
            answers.append(f"{result.is_error} {result.content[0].text if result.content else ''}")
    return tools, answers


ARGUMENT_CASES: list[tuple[str, dict[str, Any]]] = [
    ("get_transcript", {"transcript_id": "tr_missing"}),
    ("get_transcript", {"transcript_id": "tr_missing", "cursor": None, "max_tokens": None}),
    ("get_transcript", {"transcript_id": "tr_missing", "max_tokens": 10}),
    ("get_transcript", {"transcript_id": "tr_missing", "format": "xml"}),
    ("get_transcript", {"transcript_id": "tr_missing", "start": "soon"}),
    ("get_transcript", {"transcript_id": "", "bogus": 1}),
    ("list_transcripts", {"limit": "5"}),
    ("list_tasks", {"limit": -1}),
    ("rename_speakers", {"transcript_id": "tr_missing", "names": [{"speaker": "S0", "name": "Ana"}]}),
    ("identify_speakers", {"asset_id": "re_700000000000000012", "mode": "sync", "max_tokens": 500, "start": None}),
]


@pytest.mark.anyio
async def test_the_server_publishes_lean_schemas_and_still_refuses_bad_arguments_with_its_messages(
    tmp_path: Path,
) -> None:
    async with in_process_server(tmp_path / "data", [tmp_path], api_key=KEY, webhook_secret=SECRET) as (server, _):
        apply_lean_schemas(server)  # applying it again (create_server already did) changes nothing
        with anyio.fail_after(60):
            tools, answers = await list_and_call(server, ARGUMENT_CASES)
    published = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]
    nodes = [d for t in published for d in walk(t["inputSchema"])]
    assert not any("title" in d and not isinstance(d["title"], dict) for d in nodes)
    assert not any("$ref" in d or "$defs" in d for d in nodes)
    assert {"type": "null"} not in [b for d in nodes for b in d.get("anyOf", [])]
    assert not any(key in d for d in nodes for key in ("maxLength", "minLength", "maxItems", "minItems"))
    assert all(d.get("additionalProperties") is False for d in nodes if d.get("type") == "object")
    assert all(t["description"] == t["description"].strip() for t in published)
    assert all("\n    " not in t["description"] for t in published)
    # The argument models still validate: refused are the unknown transcript (x2), max_tokens < 500, format "xml",
    # start "soon", an empty id, limit -1, the unknown transcript of rename_speakers; accepted:
    # limit "5" (pydantic's lax mode: a numeric string), and the real call.
    verdicts = [a.split(" ", 1)[0] for a in answers]
    assert verdicts == ["True"] * 6 + ["False", "True", "True", "False"]
    assert "No transcript 'tr_missing'" in answers[0]
    assert "max_tokens" in answers[2]
    assert "500" in answers[2]
    assert "transcript_id" in answers[5]
    assert "at least 1 character" in answers[5]


@pytest.mark.anyio
async def test_real_structured_content_validates_against_the_lean_output_schemas(tmp_path: Path) -> None:
    async with in_process_server(tmp_path / "data", [tmp_path], api_key=KEY, webhook_secret=SECRET) as (server, _):
        apply_lean_schemas(server)
        with anyio.fail_after(60):
            async with Client(server) as client:
                schemas = {t.name: t.output_schema for t in (await client.list_tools()).tools}
                # The SDK client validates structured content against the listed outputSchema; check it here too.
                turns = await client.call_tool(
                    "identify_speakers", {"asset_id": "re_700000000000000012", "mode": "sync"}
                )
                listed = await client.call_tool("list_transcripts", {})
                tasks = await client.call_tool("list_tasks", {"limit": 1})
                renamed = await client.call_tool(
                    "rename_speakers",
                    {
                        "transcript_id": turns.structured_content["transcript_id"],
                        "names": [{"speaker": "S0", "name": "Ana"}],
                    },
                )
    results = {"identify_speakers": turns, "list_transcripts": listed, "list_tasks": tasks, "rename_speakers": renamed}
    for name, result in results.items():
        assert not result.is_error
        schema = schemas[name]
        assert schema is not None
        assert "$defs" not in json.dumps(schema)
        jsonschema.validate(result.structured_content, schema)


@pytest.mark.anyio
async def test_the_page_arguments_are_explained_once_in_the_instructions_with_the_defaults_in_effect(
    tmp_path: Path,
) -> None:
    server = create_server(Settings(sandbox=True, data_dir=tmp_path, page_tokens=1500, wait_seconds=25))
    with anyio.fail_after(30):
        async with Client(server) as client:
            instructions = client.instructions or ""
            tools = (await client.list_tools()).tools
    assert "max_tokens: page budget in estimated tokens (UTF-8 bytes / 3.5), 500-20000, default 1500" in instructions
    assert "(default 25 s, under the 60 s limit of common clients)" in instructions
    assert "'1:02:03'" in instructions
    assert not any("'1:02:03'" in str(t.input_schema) for t in tools)  # the details are not repeated per tool


@pytest.mark.anyio
async def test_the_published_tools_are_exactly_what_the_sdks_own_registration_then_apply_lean_schemas_gives(
    tmp_path: Path,
) -> None:
    # create_server registers with `add_lean_tool` (each output model's schema built once, not per tool); the
    # reference registers every tool through the SDK's `add_tool` (a schema per tool) and then rewrites them all.
    from mcp.server.mcpserver import MCPServer

    from mavi_mcp.server import _TOOLS, _TRANSCRIPT_TOOLS, TRANSCRIPT_FIELDS  # pyright: ignore[reportPrivateUsage]
    from mavi_mcp.viewer import register_viewer

    reference: MCPServer[Any] = MCPServer("reference")
    for fn, title, hints in _TOOLS:
        reference.add_tool(fn, title=title, annotations=hints)
    register_viewer(reference)
    apply_lean_schemas(reference, output_fields=dict.fromkeys(_TRANSCRIPT_TOOLS, TRANSCRIPT_FIELDS))
    server = create_server(Settings(sandbox=True, data_dir=tmp_path))
    with anyio.fail_after(30):
        async with Client(reference) as client:
            expected = (await client.list_tools()).tools
        async with Client(server) as client:
            published = (await client.list_tools()).tools

    def wire(tools: list[Any]) -> str:
        return json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools])

    assert [t.name for t in published] == [fn.__name__ for fn, _, _ in _TOOLS]  # viewer_data: app-only, unlisted
    assert wire(published) == wire(expected)
    for fn, _, _ in _TOOLS:  # structured content is validated against the same model, unwrapped, as before
        ours = server._tool_manager.get_tool(fn.__name__)  # pyright: ignore[reportPrivateUsage]
        theirs = reference._tool_manager.get_tool(fn.__name__)  # pyright: ignore[reportPrivateUsage]
        assert ours is not None
        assert theirs is not None
        assert ours.fn_metadata.output_model is theirs.fn_metadata.output_model is not None
        assert ours.fn_metadata.wrap_output is theirs.fn_metadata.wrap_output is False
    transcript_outputs = [t.output_schema for t in published if t.name in _TRANSCRIPT_TOOLS]
    assert len(transcript_outputs) == 7
    assert all(o is not None and list(o["properties"]) == list(TRANSCRIPT_FIELDS) for o in transcript_outputs)
