"""`mavi-mcp view TRANSCRIPT_ID`: the viewer on a loopback port, for people outside an MCP Apps host.

The same `viewer.html` runs in a sandboxed iframe of `host.html`, a minimal Apps host that forwards the app's
`tools/call viewer_data` to this server, which answers from the store with the same JSON as the MCP tool
(`data.viewer_payload`). Routes, all under a random token so other local users and web pages cannot guess them:

| route | answer |
| --- | --- |
| `GET /<token>/` | `host.html` |
| `GET /<token>/app` | `viewer.html` (CSP: no network) |
| `GET /<token>/tool-call` | `{"arguments": {"transcript_id"}, "result": CallToolResult}` for the host to send |
| `POST /<token>/bridge` | `{"method": "tools/call", "params"}` -> `{"result"}` or `{"error"}` (JSON-RPC shapes) |

Only the transcript named on the command line is served; requests whose `Host` is not a loopback name are
refused (DNS rebinding). The store is the server's (`runtime.open_store`): the SQLite file of the data dir, or
the PostgreSQL database of `MAVI_MCP_DATABASE_URL`.
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from mavi_mcp.app import asset, viewer_html
from mavi_mcp.app.data import viewer_payload
from mavi_mcp.store_api import StoreAPI

if TYPE_CHECKING:
    from mavi_mcp.settings import Settings

APP_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "connect-src 'none'; frame-src 'none'; base-uri 'none'; form-action 'none'"
)
"""The MCP Apps default CSP for a resource that declares no domains (spec: "Restrictive Default")."""
HOST_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
    "frame-src 'self'; base-uri 'none'; form-action 'none'"
)
LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]


@dataclass
class ViewServer:
    """What `view_app` serves: one transcript of `store` (named `where` in messages), under `token` (random by
    default)."""

    store: StoreAPI
    transcript_id: str
    where: str = "this store"
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))

    def tool_call(self) -> dict[str, Any]:
        """The tool input and result the host page hands the app, as if `get_transcript` had just run."""
        return {
            "arguments": {"transcript_id": self.transcript_id},
            "result": {
                "content": [{"type": "text", "text": f"Transcript {self.transcript_id}"}],
                "structuredContent": {"status": "completed", "transcript_id": self.transcript_id},
            },
        }

    async def bridge(self, message: object) -> dict[str, Any]:
        """Answer one forwarded JSON-RPC request (`{"method", "params"}`) with `{"result"}` or `{"error"}`."""
        msg: dict[str, Any] = message if isinstance(message, dict) else {}  # pyright: ignore[reportUnknownVariableType]
        params: object = msg.get("params")
        call: dict[str, Any] = params if isinstance(params, dict) else {}  # pyright: ignore[reportUnknownVariableType]
        arguments: object = call.get("arguments")
        args: dict[str, Any] = arguments if isinstance(arguments, dict) else {}  # pyright: ignore[reportUnknownVariableType]
        if msg.get("method") != "tools/call" or call.get("name") != "viewer_data":
            return {"error": {"code": -32601, "message": "Only tools/call viewer_data is served by mavi-mcp view."}}
        if args.get("transcript_id") != self.transcript_id:
            return _tool_error(f"This view serves {self.transcript_id} only.")
        transcript = await self.store.get_transcript(self.transcript_id)
        if transcript is None:
            return _tool_error(f"No transcript {self.transcript_id!r} in the store {self.where}.")
        payload = viewer_payload(transcript, await self.store.speaker_names(transcript.id))
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return {"result": {"content": [{"type": "text", "text": text}], "structuredContent": payload}}


def _tool_error(text: str) -> dict[str, Any]:
    return {"result": {"content": [{"type": "text", "text": text}], "isError": True}}


def view_app(view: ViewServer) -> Starlette:
    """The Starlette app serving `view` (routes in the module docstring)."""

    def host(_: Request) -> Response:
        return HTMLResponse(
            asset("host.html"), headers={"Content-Security-Policy": HOST_CSP, "Cache-Control": "no-store"}
        )

    def app(_: Request) -> Response:
        return HTMLResponse(viewer_html(), headers={"Content-Security-Policy": APP_CSP, "Cache-Control": "no-store"})

    def tool_call(_: Request) -> Response:
        return JSONResponse(view.tool_call())

    async def bridge(request: Request) -> Response:
        try:
            message = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": {"code": -32700, "message": "The body is not JSON."}}, status_code=400)
        return JSONResponse(await view.bridge(message))

    base = f"/{view.token}"
    return Starlette(
        routes=[
            Route(f"{base}/", host),
            Route(f"{base}/app", app),
            Route(f"{base}/tool-call", tool_call),
            Route(f"{base}/bridge", bridge, methods=["POST"]),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)],
    )


def loopback_socket(port: int = 0) -> socket.socket:
    """A listening TCP socket on 127.0.0.1 (`port` 0 picks a free one), so the URL is known before serving."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    sock.setblocking(False)
    return sock


def url_of(view: ViewServer, sock: socket.socket) -> str:
    """The address to open in a browser: `http://127.0.0.1:<port>/<token>/`."""
    return f"http://127.0.0.1:{sock.getsockname()[1]}/{view.token}/"


def run_view(
    settings: Settings, transcript_id: str, *, port: int = 0, open_browser: bool = False, log_level: str = "WARNING"
) -> int:
    """`mavi-mcp view`: serve `transcript_id` of the server's store (`runtime.open_store`: the SQLite file of
    `settings.store_dir`, or PostgreSQL) until interrupted; print the URL.

    Returns 2 (after saying why on stderr) when the transcript is not in that store, else 0 when stopped.
    The URL goes to stdout (this is not an MCP stdio mode) and to stderr with the stop hint.

    Raises:
        StartupError: the store cannot be opened (`runtime.open_store`; the CLI prints it and exits with 2).
    """
    import anyio

    return anyio.run(_serve_view, settings, transcript_id, port, open_browser, log_level)


async def _serve_view(settings: Settings, transcript_id: str, port: int, open_browser: bool, log_level: str) -> int:
    import uvicorn

    from mavi_mcp.runtime import open_store
    from mavi_mcp.store import DB_NAME

    async with AsyncExitStack() as stack:
        store, pg = await open_store(settings, stack)
        where = pg.display_url if pg is not None else str(settings.store_dir / DB_NAME)
        if await store.get_transcript(transcript_id) is None:
            print(
                f"mavi-mcp view: no transcript {transcript_id!r} in the store {where}. Use a transcript_id a "
                "transcription tool returned (list_transcripts shows them); add --sandbox for one made with --sandbox.",
                file=sys.stderr,
            )
            return 2
        view = ViewServer(store, transcript_id, where)
        sock = loopback_socket(port)
        url = url_of(view, sock)
        print(url, flush=True)
        print(f"mavi-mcp view: {transcript_id} at {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        if open_browser:
            import webbrowser

            webbrowser.open(url)
        server = uvicorn.Server(uvicorn.Config(view_app(view), log_level=log_level.lower(), lifespan="off"))
        await server.serve(sockets=[sock])
        return 0
