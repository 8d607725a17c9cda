"""The webhook receiver: `POST /webhooks/mavi/{secret}`, where MAVI delivers every async result of an account.

MAVI documents no signature, no retry policy and no way to fetch a result later (../shared/mavi-api/README.md,
"Webhook callbacks"), so this receiver authenticates by an unguessable secret in the path, compared in constant
time (anything else gets 404, nothing stored); accepts only POST with a JSON (or absent) content type (else 415)
and at most `webhook_max_bytes` (else 413); and acknowledges only after `ingest` has stored the body durably.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mavi_mcp.errors import StoreUnavailableError
from mavi_mcp.httpguard import is_json
from mavi_mcp.store_api import StoreAPI
from mavi_mcp.webhook.ingest import ingest
from mavi_mcp.webhook.secret import ROUTE, webhook_path

logger = logging.getLogger(__name__)


class Receiver:
    """The route handler. `on_settled(task_id)` wakes in-process waiters (`Jobs.notify`)."""

    def __init__(
        self,
        store: StoreAPI,
        *,
        secret: str,
        max_bytes: int,
        sandbox: bool = False,
        on_settled: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.secret = secret
        self.max_bytes = max_bytes
        self.sandbox = sandbox
        self.on_settled = on_settled
        self._limiter = anyio.CapacityLimiter(1)

    @property
    def path(self) -> str:
        return webhook_path(self.secret)

    def route(self) -> Route:
        return Route(ROUTE, self.handle, methods=["POST"], name="mavi_webhook")

    async def handle(self, request: Request) -> Response:
        given = str(request.path_params.get("secret", ""))
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return PlainTextResponse("Not Found", status_code=404)
        content_type = request.headers.get("content-type", "")
        if content_type and not is_json(content_type):
            return PlainTextResponse("Only JSON bodies are accepted.", status_code=415)
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_bytes:
            return PlainTextResponse(f"Body larger than {self.max_bytes} bytes.", status_code=413)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_bytes:
                return PlainTextResponse(f"Body larger than {self.max_bytes} bytes.", status_code=413)
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            async with self._limiter:
                result = await ingest(self.store, body, sandbox=self.sandbox)
        except StoreUnavailableError as exc:  # PostgreSQL down: not acknowledged, so the sender may retry
            logger.warning("Webhook delivery not stored, answered 503: %s", exc)
            return PlainTextResponse(
                "The store is unavailable; deliver again later.", status_code=503, headers={"Retry-After": "30"}
            )
        logger.info("Webhook delivery for task %s: %s", result.task_id or "?", result.status)
        if result.task_id and self.on_settled is not None:
            self.on_settled(result.task_id)
        return JSONResponse({"ok": True, "task_id": result.task_id, "status": result.status})


def receiver_app(receiver: Receiver) -> Starlette:
    """A Starlette app with only the receiver route and a health check (stdio `--webhook-port`, `webhook` command)."""

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[receiver.route(), Route("/healthz", health, methods=["GET"])])
