"""Helpers for the viewer's browser tests: Debian's Chromium driven by Playwright, and a test MCP Apps host.

`chromium()` launches /usr/bin/chromium (never a downloaded browser) and skips the test, saying why, when it is
absent. `McpAppsHost` serves the package's own host page (`mavi_mcp/app/host.html`) at http://viewer.test/ through
Playwright request routing, with its three endpoints answered by a REAL mavi-mcp server through the MCP client:
the app HTML from `resources/read` of the `ui://` resource, the tool call the app is shown from a real
`tools/call`, and every `tools/call` the app makes forwarded to the server. No network is involved.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID
from mcp_types import CallToolResult, TextResourceContents

from mavi_mcp.app import APP_URI, asset
from mavi_mcp.app.serve import APP_CSP

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOST_URL = "http://viewer.test/t/"


def chromium_path() -> str | None:
    """Debian's Chromium (`apt-get install chromium`), or another on PATH via $MAVI_MCP_CHROMIUM."""
    path = os.environ.get("MAVI_MCP_CHROMIUM") or "/usr/bin/chromium"
    return path if os.path.exists(path) else shutil.which("chromium")


@asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium `Browser` (Playwright); skips the calling test when Chromium or Playwright is missing."""
    path = chromium_path()
    if path is None:
        pytest.skip("Chromium not installed (apt-get install -y chromium); the viewer's browser tests need it")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright not installed (pip install -e '.[dev]')")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


class AppsSupport(ClientExtension):
    """Makes an SDK `Client` declare MCP Apps support, as Claude Desktop or VS Code do in `initialize`."""

    identifier = EXTENSION_ID

    def settings(self) -> dict[str, Any]:
        return {"mimeTypes": [APP_MIME_TYPE]}


def wire(result: CallToolResult) -> dict[str, Any]:
    """A tool result as it travels in JSON-RPC (camelCase keys), as a host hands it to the app."""
    return result.model_dump(by_alias=True, mode="json", exclude_none=True)


@dataclass
class McpAppsHost:
    """The host page in a Playwright `page`, bridged to the MCP `client` (see the module docstring)."""

    client: Client
    page: Any
    arguments: dict[str, Any] = field(default_factory=dict[str, Any])
    result: dict[str, Any] = field(default_factory=dict[str, Any])
    forwarded: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])

    async def install(self) -> None:
        app = await self.client.read_resource(APP_URI)
        content = app.contents[0]
        assert isinstance(content, TextResourceContents)
        assert content.mime_type == APP_MIME_TYPE
        html = content.text

        async def handle(route: Any) -> None:
            request = route.request
            path = request.url.removeprefix(HOST_URL)
            if path == "":
                await route.fulfill(status=200, content_type="text/html", body=asset("host.html"))
            elif path == "app":
                headers = {"Content-Security-Policy": APP_CSP}
                await route.fulfill(status=200, content_type="text/html", body=html, headers=headers)
            elif path == "tool-call":
                await route.fulfill(json={"arguments": self.arguments, "result": self.result})
            elif path == "bridge":
                message = json.loads(request.post_data or "{}")
                self.forwarded.append(message)
                params = message.get("params") or {}
                answer = await self.client.call_tool(params.get("name", ""), params.get("arguments") or {})
                await route.fulfill(json={"result": wire(answer)})
            else:
                await route.fulfill(status=404, body="not found")

        await self.page.route("http://viewer.test/**", handle)

    async def show(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        """Call `tool` on the server as the model would, then open the host page showing its result in the app."""
        result = await self.client.call_tool(tool, arguments)
        self.arguments, self.result = arguments, wire(result)
        await self.page.goto(HOST_URL)
        return result

    @property
    def app(self) -> Any:
        """The app's frame (a Playwright `FrameLocator`)."""
        return self.page.frame_locator("#app")
