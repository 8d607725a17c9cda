"""The transcript viewer as an MCP App (extension `io.modelcontextprotocol/ui`): `register_viewer(server)`.

What a client that negotiated MCP Apps sees (its `initialize` listed the extension with the MIME type
`text/html;profile=mcp-app`, `mcp.server.apps.client_supports_apps`):

- the `ui://` resource `APP_URI` (the viewer, `mavi_mcp/app/viewer.html`);
- `_meta.ui.resourceUri = APP_URI` on the tools whose results are transcripts (`LINKED_TOOLS`), so the host
  renders their results in the viewer;
- the app-only tool `viewer_data` (`_meta.ui.visibility = ["app"]`): hosts keep it out of the model's tool
  list, and the app calls it through the host for the whole transcript as JSON.

A client without Apps sees exactly the tools, resources and results of a server without the viewer: the
listing middleware leaves its `tools/list` and `resources/list` untouched but for removing the two additions.
Every client is told in the handshake that the server supports the extension (`capabilities.extensions`,
SEP-2133), as `mcp.server.apps.Apps` would advertise it.
Tool results are never changed. Spec: https://github.com/modelcontextprotocol/ext-apps (specification/draft/apps.mdx).
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, cast

from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resources import TextResource
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from mavi_mcp.app import APP_URI, viewer_html
from mavi_mcp.app.data import viewer_payload
from mavi_mcp.runtime import Runtime

logger = logging.getLogger(__name__)

APP_TOOL = "viewer_data"
LINKED_TOOLS = frozenset(
    {
        "identify_speakers",
        "transcribe_whisper",
        "transcribe_assemblyai",
        "transcribe_elevenlabs",
        "multi_speaker_async",
        "get_transcript",
    }
)
"""Tools whose results the host shows in the viewer (their structured content carries `transcript_id`)."""


async def viewer_data(
    transcript_id: Annotated[str, Field(min_length=1, max_length=100, description="Transcript id (tr_...).")],
    ctx: Context[Runtime, Any],
) -> CallToolResult:
    """The whole stored transcript as JSON for the transcript viewer app (app-only; free, reads the store)."""
    rt: Runtime = ctx.request_context.lifespan_context
    try:
        transcript = await rt.store.get_transcript(transcript_id.strip())
        names = await rt.store.speaker_names(transcript.id) if transcript is not None else {}
    except Exception:  # the store failed: the app gets a message, the log the details
        logger.exception("viewer_data could not read %s", transcript_id)
        raise ToolError("mavi-mcp could not read its store (details in the server's log on stderr).") from None
    if transcript is None:
        raise ToolError(f"No transcript {transcript_id!r} in this server's store; list_transcripts shows the ids.")
    payload = viewer_payload(transcript, names)
    # The JSON also as text: the MCP spec asks tools with structured content to serialize it in a text block.
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=payload)


class AppsListing:
    """Server middleware: shows the viewer's tool, resource and tool links to Apps clients only.

    For a client that negotiated Apps, `tools/list` gets `_meta.ui.resourceUri` on `LINKED_TOOLS`; for any
    other client, `viewer_data` and the `ui://` resource are removed from `tools/list` / `resources/list`.
    """

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method not in _REWRITTEN or ctx.request_id is None or result is None:
            return result
        # The runner hands middleware the wire form (a dict, camelCase, `_meta`); a model is brought to it.
        wire: dict[str, Any] = result if isinstance(result, dict) else result.model_dump(by_alias=True, mode="json")
        if ctx.method in ("initialize", "server/discover"):
            return _advertised(wire)
        apps = client_supports_apps(ctx)
        if ctx.method == "tools/list":
            return {
                **wire,
                "tools": [
                    _listed_tool(tool, apps) for tool in _items(wire, "tools") if apps or tool.get("name") != APP_TOOL
                ],
            }
        if apps:
            return wire
        return {**wire, "resources": [r for r in _items(wire, "resources") if r.get("uri") != APP_URI]}


_REWRITTEN = frozenset({"tools/list", "resources/list", "initialize", "server/discover"})


def _advertised(wire: dict[str, Any]) -> dict[str, Any]:
    """The handshake answer with the extension under `capabilities.extensions` (SEP-2133), as `mcp.server.apps`
    advertises it when given to the constructor."""
    caps: object = wire.get("capabilities")
    if not isinstance(caps, dict):
        return wire
    capabilities = cast("dict[str, Any]", caps)
    extensions: object = capabilities.get("extensions")
    merged: dict[str, Any] = {**(cast("dict[str, Any]", extensions) if isinstance(extensions, dict) else {})}
    merged[EXTENSION_ID] = {}
    return {**wire, "capabilities": {**capabilities, "extensions": merged}}


def _items(wire: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items: object = wire.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []  # pyright: ignore[reportUnknownVariableType]


def _listed_tool(tool: dict[str, Any], apps: bool) -> dict[str, Any]:
    """`tool` with `_meta.ui.resourceUri` added when it is a linked tool and the client has Apps."""
    if not apps or tool.get("name") not in LINKED_TOOLS:
        return tool
    meta: object = tool.get("_meta")
    return {**tool, "_meta": {**(meta if isinstance(meta, dict) else {}), "ui": {"resourceUri": APP_URI}}}


def register_viewer(server: MCPServer[Runtime]) -> None:
    """Add the viewer to `server`: the `ui://` resource, the app-only `viewer_data` tool, the listing middleware.

    Call once, after the tools are added (`server.create_server`). The linked tools are stamped at listing
    time, so their modules need no change.
    """
    server.add_resource(
        TextResource(
            uri=APP_URI,
            name="transcript_viewer",
            title="Transcript viewer",
            description="Speaker timeline, talk time and searchable transcript of a stored transcript.",
            mime_type=APP_MIME_TYPE,
            meta={"ui": {"prefersBorder": True}},
            text=viewer_html(),
        )
    )
    server.add_tool(
        viewer_data,
        name=APP_TOOL,
        title="Transcript for the viewer",
        annotations=ToolAnnotations(
            read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
        meta={"ui": {"resourceUri": APP_URI, "visibility": ["app"]}},
    )
    server.middleware.append(AppsListing())
