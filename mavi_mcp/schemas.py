"""Lean tool schemas: pydantic's JSON schemas trimmed to what a model needs, in shapes every converter accepts.

pydantic generates, for a tool's arguments, a `title` on every property, `anyOf: [X, {"type": "null"}]` with
`default: null` for every optional parameter, `$defs` / `$ref` for nested models, and docstring indentation in
descriptions. A model reads all of it in every conversation, and converters mangle some of it (issue 14:
mcpadapt types a top-level `anyOf` as a string, openai-agents gives up strict mode on `$ref`, google-genai
rejects `propertyNames`). `lean_tool_schema` rewrites such a schema into:

- no `title` keywords (property names stay: a property may be called "title");
- `anyOf: [X, {"type": "null"}]` -> X (the parameter is simply not required), several non-null branches kept
  as `anyOf` without the null branch; `default: null` dropped, any other default kept (stated);
- `$ref` replaced by the `$defs` entry it names (recursive models are refused), `$defs` removed;
- every object closed: `additionalProperties: false` unless it already says what extra keys may hold;
- descriptions dedented and stripped (`inspect.cleandoc`);
- no length limits (`minLength`, `maxLength`, `minItems`, `maxItems`, `minProperties`, `maxProperties`): they are
  the server's sanity bounds, not information a model needs; the argument model still enforces them, with a clear
  error. Numeric bounds (`minimum`, `maximum`) stay: they say what a value means (0..1, 500..20000).

`lean_output_schema` does the same for an output schema, except that null stays allowed (as `type: [T, "null"]`
where X is a plain typed schema) and objects stay open: clients validate structured content against it.

`apply_lean_schemas(server)` rewrites every registered tool of an `MCPServer` in place. Only the published
schemas change: the SDK validates call arguments against each tool's pydantic argument model
(`Tool.fn_metadata.arg_model`) and structured content against its output model, never against these schemas.

`add_lean_tool(server, fn, ...)` registers one tool already lean, and builds each output model's schema once for
all the tools that return it (the SDK would build it again for every tool, only for us to cut it to its top level):
the start-up cost that matters when a client spawns the server just to list its tools.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Collection, Mapping
from functools import cache
from typing import Annotated, Any, cast, get_args, get_origin, get_type_hints

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel

NULL: dict[str, Any] = {"type": "null"}

_SCHEMA_MAPS = ("properties", "patternProperties", "dependentSchemas")
"""Keywords whose value maps names to schemas (the names are data, not keywords)."""
_SCHEMA_VALUES = ("items", "additionalProperties", "not", "propertyNames", "contains", "if", "then", "else")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_LENGTHS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties")
"""Length limits: dropped from published input schemas (the argument model enforces them)."""
_DATA = ("default", "enum", "const", "examples", "required")
"""Keywords whose value is data: copied as is, never walked."""


class SchemaError(ValueError):
    """A schema `lean_tool_schema` cannot rewrite: a recursive or dangling `$ref`."""


def lean_tool_schema(schema: Mapping[str, Any], *, nullable: bool = False) -> dict[str, Any]:
    """The lean form of a tool's input schema (see the module docstring); `schema` is not modified.

    `nullable=True` keeps null allowed where pydantic allowed it, as `type: [T, "null"]` (no `anyOf` wrapper):
    OpenAI strict mode (openai-agents' `convert_schemas_to_strict`) makes EVERY property required, so without
    null a strict model must invent a value for each optional parameter (a cursor, a window...).

    Raises:
        SchemaError: a `$ref` that is not `#/$defs/<name>` of this schema, or a recursive one.
    """
    return _Leaner(schema, input_side=True, keep_null=nullable).walk(schema, ())


def lean_output_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The lean form of a tool's output schema: as `lean_tool_schema`, but null stays allowed, objects open.

    Raises:
        SchemaError: as `lean_tool_schema`.
    """
    return _Leaner(schema, input_side=False, keep_null=True).walk(schema, ())


def brief_output_schema(schema: Mapping[str, Any], fields: Collection[str] | None = None) -> dict[str, Any]:
    """An output schema cut to its top level: each property (only those in `fields`, when given) reduced to its
    `type` (and `enum`), no descriptions, the object left open. `schema` is a lean output schema (no `$ref`).

    Structured content that validates against `schema` validates against this too (it only loosens), so clients
    that check structured content keep working; the full shapes are documented in the README, not repeated in
    every `tools/list` answer (issue 14: `TranscriptResult`'s 3,300 characters, seven times).
    """
    properties = cast(Mapping[str, Mapping[str, Any]], schema.get("properties") or {})
    kept = {name: _type_only(sub) for name, sub in properties.items() if fields is None or name in fields}
    out: dict[str, Any] = {"type": "object", "properties": kept}
    required = [name for name in cast(list[str], schema.get("required") or []) if name in kept]
    if required:
        out["required"] = required
    return out


def _type_only(schema: Mapping[str, Any]) -> dict[str, Any]:
    out = {key: schema[key] for key in ("type", "enum") if key in schema}
    if "anyOf" in schema and "type" not in out:  # e.g. number or string: keep the branches' types only
        out["anyOf"] = [_type_only(cast(Mapping[str, Any], b)) for b in cast(list[Any], schema["anyOf"])]
    return out


def clean_description(text: str) -> str:
    """A description or docstring without its common indentation and surrounding blank lines."""
    return inspect.cleandoc(text).strip()


def apply_lean_schemas(
    server: MCPServer[Any],
    *,
    nullable: bool = False,
    brief_outputs: bool = True,
    output_fields: Mapping[str, Collection[str]] | None = None,
    names: Collection[str] | None = None,
) -> None:
    """Rewrite, in place, every tool registered on `server` (those in `names`, when given): lean input and output
    schemas, cleaned descriptions.

    Call it once, after the last `add_tool`; `nullable` as in `lean_tool_schema`. With `brief_outputs`, output
    schemas are cut to their top level (`brief_output_schema`), to the `output_fields` given for a tool's name.
    Argument validation is unchanged (the SDK validates arguments with the tool's pydantic model, and structured
    content with its output model, not with the published schemas).
    """
    manager = server._tool_manager  # pyright: ignore[reportPrivateUsage]  # the SDK has no public accessor
    for tool in manager.list_tools():
        if names is None or tool.name in names:
            fields = (output_fields or {}).get(tool.name)
            _lean_tool(tool, nullable=nullable, brief_outputs=brief_outputs, output_fields=fields)


def add_lean_tool(
    server: MCPServer[Any],
    fn: Callable[..., Any],
    *,
    title: str,
    annotations: ToolAnnotations,
    nullable: bool = False,
    output_fields: Collection[str] | None = None,
) -> None:
    """Register `fn` on `server` with the schemas `apply_lean_schemas(server, nullable=..., output_fields=...)`
    would give it (brief output), without the SDK building an output schema per tool.

    A tool declared `-> Annotated[CallToolResult, Model]` with a pydantic `Model` is added unstructured and then
    given `Model` back as its output model (structured content is still validated against it, as the SDK does)
    and the brief schema of `Model`, built once per model and fields (`published_output_schema`). Any other tool
    takes the SDK's own path and is then rewritten as `apply_lean_schemas` does. Errors are the SDK's, raised
    here (at registration): an argument or output type pydantic cannot describe.
    """
    model = declared_output_model(fn)
    manager = server._tool_manager  # pyright: ignore[reportPrivateUsage]  # the SDK has no public accessor
    tool = manager.add_tool(fn, title=title, annotations=annotations, structured_output=False if model else None)
    if model is None:
        _lean_tool(tool, nullable=nullable, brief_outputs=True, output_fields=output_fields)
        return
    tool.parameters = lean_tool_schema(tool.parameters, nullable=nullable)
    tool.description = clean_description(tool.description)
    fields = None if output_fields is None else tuple(output_fields)
    tool.fn_metadata = FuncMetadata(
        arg_model=tool.fn_metadata.arg_model,
        output_model=model,
        output_schema=copy.deepcopy(published_output_schema(model, fields)),
    )
    vars(tool).pop("output_schema", None)  # Tool.output_schema is a cached_property of the metadata


def declared_output_model(fn: Callable[..., Any]) -> type[BaseModel] | None:
    """`Model` when `fn` is declared `-> Annotated[CallToolResult, Model]` (a tool that builds its own result and
    names the model of its structured content) and `Model` is a pydantic model, else None."""
    returned = get_type_hints(fn, include_extras=True).get("return")
    if get_origin(returned) is not Annotated:
        return None
    base, *metadata = get_args(returned)
    if base is not CallToolResult or len(metadata) != 1:
        return None
    model = metadata[0]
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


@cache
def published_output_schema(model: type[BaseModel], fields: tuple[str, ...] | None) -> dict[str, Any]:
    """The output schema published for tools returning `model`: the SDK's schema of it (`FuncMetadata`, the same
    derivation `add_tool` makes), lean and cut to `fields` (`brief_output_schema`). Built once per argument pair;
    callers copy it before handing it to a tool.

    Raises:
        pydantic_core.ValidationError: the SDK cannot describe `model` (wraps pydantic's error).
    """
    full = FuncMetadata(arg_model=ArgModelBase, output_model=model).output_schema
    assert full is not None  # an output model given and no schema: FuncMetadata derives it
    return brief_output_schema(lean_output_schema(full), fields)


def _lean_tool(tool: Tool, *, nullable: bool, brief_outputs: bool, output_fields: Collection[str] | None) -> None:
    tool.parameters = lean_tool_schema(tool.parameters, nullable=nullable)
    tool.description = clean_description(tool.description)
    metadata = tool.fn_metadata
    if metadata.output_schema is not None:
        lean = lean_output_schema(metadata.output_schema)
        if brief_outputs:
            lean = brief_output_schema(lean, output_fields)
        metadata.output_schema = lean
        vars(tool).pop("output_schema", None)  # Tool.output_schema is a cached_property of the metadata


class _Leaner:
    def __init__(self, root: Mapping[str, Any], *, input_side: bool, keep_null: bool) -> None:
        self.defs: Mapping[str, Any] = root.get("$defs") or root.get("definitions") or {}
        self.input_side = input_side
        self.keep_null = keep_null

    def walk(self, node: Mapping[str, Any], refs: tuple[str, ...]) -> dict[str, Any]:
        if "$ref" in node:
            name, target = self.resolve(str(node["$ref"]), refs)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            return self.walk({**target, **siblings}, (*refs, name))
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("title", "$defs", "definitions") or (self.input_side and key in _LENGTHS):
                continue
            if key in _SCHEMA_MAPS and isinstance(value, Mapping):
                named = cast(Mapping[str, Mapping[str, Any]], value)
                out[key] = {name: self.walk(sub, refs) for name, sub in named.items()}
            elif key in _SCHEMA_VALUES and isinstance(value, Mapping):
                out[key] = self.walk(cast(Mapping[str, Any], value), refs)
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                out[key] = [self.walk(sub, refs) for sub in cast(list[Mapping[str, Any]], value)]
            elif key == "description" and isinstance(value, str):
                out[key] = clean_description(value)
            else:
                out[key] = value
        out = self.collapse(out)
        if "default" in out and out["default"] is None:
            del out["default"]
        if self.input_side and out.get("type") == "object" and "additionalProperties" not in out:
            out.setdefault("properties", {})
            out["additionalProperties"] = False
        return out

    def resolve(self, ref: str, refs: tuple[str, ...]) -> tuple[str, Mapping[str, Any]]:
        prefix = next((p for p in ("#/$defs/", "#/definitions/") if ref.startswith(p)), None)
        name = ref[len(prefix) :] if prefix else ""
        if not prefix or name not in self.defs:
            raise SchemaError(f"cannot inline $ref {ref!r}: only #/$defs/<name> of the same schema")
        if name in refs:
            raise SchemaError(f"cannot inline the recursive $ref {ref!r}")
        return name, self.defs[name]

    def collapse(self, out: dict[str, Any]) -> dict[str, Any]:
        """Fold a single-branch `allOf` / `anyOf` into its node, and drop or fold a null branch of `anyOf`."""
        for key in ("allOf", "anyOf"):
            branches = out.get(key)
            if not isinstance(branches, list):
                continue
            every = cast(list[Any], branches)
            kept = [b for b in every if b != NULL] if key == "anyOf" else every
            nullable = len(kept) < len(every)
            if nullable and self.keep_null:
                if len(kept) == 1 and _plain_type(kept[0]):
                    rest = {k: v for k, v in out.items() if k != key}
                    return {**kept[0], "type": [kept[0]["type"], "null"], **rest}
                continue  # keep the null branch as it is
            if len(kept) == 1 and isinstance(kept[0], Mapping):
                rest = {k: v for k, v in out.items() if k != key}
                return {**cast(Mapping[str, Any], kept[0]), **rest}
            out[key] = kept
        return out


def _plain_type(schema: Any) -> bool:
    if not isinstance(schema, Mapping):
        return False
    kind = cast(Mapping[str, Any], schema).get("type")
    return isinstance(kind, str) and kind != "null"
