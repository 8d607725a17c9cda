"""The transcript viewer: one self-contained HTML app (MCP Apps `ui://` resource, and `mavi-mcp view`).

- `viewer.html`: the app (inline CSS and JS, no network). It talks JSON-RPC over `postMessage` to its host as
  the MCP Apps specification says (extension `io.modelcontextprotocol/ui`, `ui/initialize`,
  `ui/notifications/tool-input` / `tool-result`, `tools/call`), and asks the server for the whole transcript
  with the app-only tool `viewer_data`.
- `data.viewer_payload`: that tool's JSON (segments, speakers, extras), built from the store's `Transcript`.
- `host.html`: the small host page `mavi-mcp view` serves around the app (`mavi_mcp.app.serve`).

Spec: https://github.com/modelcontextprotocol/ext-apps/blob/main/specification/draft/apps.mdx
"""

from __future__ import annotations

from functools import cache
from importlib import resources

APP_URI = "ui://mavi-mcp/transcript-viewer.html"
"""The `ui://` URI of the viewer resource, referenced by the tools' `_meta.ui.resourceUri`."""


@cache
def asset(name: str) -> str:
    """A file shipped in this package (`viewer.html`, `host.html`), as text (UTF-8)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def viewer_html() -> str:
    """The viewer app: one HTML5 document, everything inline (about 40 KB, 12 KB gzipped)."""
    return asset("viewer.html")
