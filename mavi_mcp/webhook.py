"""The webhook receiver: `POST /webhooks/mavi/{secret}`, where MAVI delivers every async result of an account.

MAVI documents no signature, no retry policy and no way to fetch a result later (../shared/mavi-api/README.md,
"Webhook callbacks"), so this receiver:

- authenticates by an unguessable secret in the path (`MAVI_MCP_WEBHOOK_SECRET`, else generated once and kept
  in `<data dir>/webhook-secret`, mode 0600), compared in constant time; anything else gets 404, nothing stored;
- accepts only POST with a JSON (or absent) content type (else 415) and at most `webhook_max_bytes` (else 413);
- persists, then acknowledges: the raw body is committed to SQLite (WAL, synchronous=FULL) before the 2xx, so
  an acknowledged delivery survives a crash; a body that is not JSON or not a known shape is still kept,
  marked "malformed", and its task (when it names one) is marked failed with the reason;
- is idempotent on `task_id`: a second delivery for a settled task is kept as "duplicate" and changes nothing;
  a callback that arrives before the local record of its task, or for a task this server never started
  (another server of the same account), creates the task from the callback, and the local record joins it.

Delivery statuses in the `deliveries` table: received -> applied | failed_result | malformed | duplicate | error.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import secrets
import socket
import sys
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import anyio.to_thread
import pydantic
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from mavi_mcp.callback_body import CallbackBody, read_body
from mavi_mcp.errors import ResultError
from mavi_mcp.normalize import (
    Context,
    normalize_multi_speaker_callback,
    normalize_speaker_callback,
    normalize_whisper_callback,
)
from mavi_mcp.settings import Settings
from mavi_mcp.store import Store
from mavi_mcp.transcript import Transcript
from mavi_mcp.wire import (
    SUCCESS_CODES,
    CallbackEnvelope,
    MultiSpeakerCallbackResult,
    SpeakerCallbackResult,
    WhisperCallbackResult,
)

logger = logging.getLogger(__name__)

ROUTE = "/webhooks/mavi/{secret}"
SECRET_FILE = "webhook-secret"  # noqa: S105 - a file name, not a secret


def webhook_path(secret: str) -> str:
    return ROUTE.replace("{secret}", secret)


def load_or_create_secret(settings: Settings, data_dir: Path) -> str:
    """The webhook secret: from settings, else the one kept in `data_dir`, else a new one saved there (0600)."""
    if settings.webhook_secret is not None and settings.webhook_secret.get_secret_value().strip():
        return settings.webhook_secret.get_secret_value().strip()
    path = data_dir / SECRET_FILE
    try:
        existing = path.read_text().strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secret + "\n")
    except FileExistsError:  # pragma: no cover - another process won the race
        return path.read_text().strip()
    return secret


def public_url(settings: Settings, secret: str, *, host: str | None = None, port: int | None = None) -> str:
    """The URL to paste into the MAVI console: `MAVI_MCP_WEBHOOK_PUBLIC_URL` + path, else the local address."""
    if settings.webhook_public_url:
        return settings.webhook_public_url.rstrip("/") + webhook_path(secret)
    return f"http://{host or settings.webhook_host}:{port or 0}{webhook_path(secret)}"


def announce(url: str, *, public: bool) -> None:
    """Print the webhook URL for the user (stderr; stdout belongs to the stdio transport)."""
    print(f"mavi-mcp webhook receiver: {url}", file=sys.stderr)
    if not public:
        print(
            "  MAVI needs a public HTTPS URL: expose this port (e.g. with a tunnel), set MAVI_MCP_WEBHOOK_PUBLIC_URL "
            "to its public base, and paste <public base>/webhooks/mavi/<secret> into the MAVI console "
            "(Webhooks Settings).",
            file=sys.stderr,
        )


# --- ingestion (synchronous, runs in a worker thread) ---------------------------------------------


@dataclass(frozen=True)
class Ingested:
    task_id: str | None
    status: str
    note: str | None = None


_ENDPOINT_OF_SHAPE = {
    "multi-speaker": "async-generate-multi-speaker",
    "whisper": "async-generate-audio",
    "speaker": "async-generate-speaker",
}


def _shape(inner: dict[str, Any], endpoint: str | None) -> str | None:
    """Which callback shape `data.data` is: multi-speaker, whisper, speaker (None if none fits)."""
    if "audio_transcription" in inner:
        return "multi-speaker"
    items = inner.get("data")
    if not isinstance(items, list):
        return None
    first = cast(list[Any], items)[0] if items else None
    if isinstance(first, dict):
        if "start_time" in first or "text" in first:
            return "whisper"
        if "start" in first:
            return "speaker"
        return None
    if endpoint == "async-generate-speaker":
        return "speaker"
    return "whisper"


def _normalize(shape: str, inner: dict[str, Any], context: Context) -> Transcript:
    if shape == "multi-speaker":
        return normalize_multi_speaker_callback(MultiSpeakerCallbackResult.model_validate(inner), context)
    if shape == "speaker":
        return normalize_speaker_callback(SpeakerCallbackResult.model_validate(inner), context)
    return normalize_whisper_callback(WhisperCallbackResult.model_validate(inner), context)


def ingest(store: Store, body: bytes, *, sandbox: bool = False) -> Ingested:
    """Store `body` durably, then apply it to its task (see the module docstring). Never raises on bad input."""
    read = read_body(body)  # any depth, encoding or shape: kept and marked, never an exception
    if read.problem is not None:
        store.record_delivery(body, task_id=None, status="malformed", note=read.problem)
        return Ingested(None, "malformed", read.problem)
    delivery = store.record_delivery(body, task_id=read.task_id, status="received")
    return reapply(store, delivery, body, sandbox=sandbox, read=read)


def reapply(
    store: Store, delivery: int, body: bytes, *, sandbox: bool = False, read: CallbackBody | None = None
) -> Ingested:
    """Apply stored delivery `delivery` (its raw `body`, or `read` already) to its task; also for one left
    `received` by a receiver that stopped between commit and apply (`mavi_mcp.recovery`). Idempotent: a settled
    task is not changed."""
    read = read or read_body(body)
    payload, task_id = read.payload, read.task_id
    try:
        return _apply(store, delivery, payload, task_id, sandbox=sandbox)
    except Exception as exc:  # keep the receiver up whatever the body held; the body is already stored
        logger.exception("Could not apply webhook delivery %d", delivery)
        note = f"could not be applied ({type(exc).__name__}); raw body kept as delivery {delivery}"
        store.mark_delivery(delivery, "error", note)
        if task_id:
            store.complete_from_callback(task_id, "unknown", None, f"The callback {note}.")
        return Ingested(task_id, "error", note)


def _apply(store: Store, delivery: int, payload: Any, task_id: str | None, *, sandbox: bool) -> Ingested:
    existing = store.get_task(task_id) if task_id else None
    endpoint = existing.endpoint if existing else None

    def malformed(reason: str) -> Ingested:
        note = f"{reason}; raw body kept as delivery {delivery}"
        store.mark_delivery(delivery, "malformed", note)
        if task_id and (existing is None or existing.status == "pending"):
            store.complete_from_callback(
                task_id, endpoint or "unknown", None, f"MAVI's callback could not be read: {note}."
            )
        return Ingested(task_id, "malformed", note)

    if task_id is None:
        return malformed("the callback has no task_id")
    if existing is not None and existing.status != "pending":
        store.mark_delivery(delivery, "duplicate", f"task already {existing.status}")
        return Ingested(task_id, "duplicate")
    try:
        envelope = CallbackEnvelope.model_validate(payload)
    except pydantic.ValidationError as exc:
        return malformed(f"not a MAVI callback ({exc.errors()[0]['msg']})")
    data = envelope.data
    message = envelope.message or envelope.msg or ""
    failed = envelope.code not in SUCCESS_CODES or (data is not None and data.success is False)
    if failed or data is None or data.data is None:
        reason = (data.msg if data is not None else None) or message or "no result in the callback"
        store.mark_delivery(delivery, "failed_result", reason)
        store.complete_from_callback(task_id, endpoint or "unknown", None, f"MAVI reported a failure: {reason}")
        return Ingested(task_id, "failed_result", reason)
    shape = _shape(data.data, endpoint)
    if shape is None or (endpoint is not None and _ENDPOINT_OF_SHAPE[shape] != endpoint and endpoint != "unknown"):
        return malformed(f"the result is not the shape {endpoint or 'of any known callback'} sends")
    context = Context(asset_id=existing.asset_id if existing else None, task_id=task_id, sandbox=sandbox)
    try:
        transcript = _normalize(shape, data.data, context)
    except (pydantic.ValidationError, ResultError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, pydantic.ValidationError) else str(exc)
        return malformed(f"the result could not be normalized ({reason})")
    applied = store.complete_from_callback(task_id, endpoint or _ENDPOINT_OF_SHAPE[shape], transcript, None)
    if not applied:  # a concurrent delivery settled it first
        store.mark_delivery(delivery, "duplicate", "task settled by a concurrent delivery")
        return Ingested(task_id, "duplicate")
    store.mark_delivery(delivery, "applied", f"transcript {transcript.id}")
    return Ingested(task_id, "applied", transcript.id)


# --- HTTP -------------------------------------------------------------------------------------------


class Receiver:
    """The route handler. `on_settled(task_id)` wakes in-process waiters (`Jobs.notify`)."""

    def __init__(
        self,
        store: Store,
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
        if content_type and "json" not in content_type.lower():
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
        result = await anyio.to_thread.run_sync(
            lambda: ingest(self.store, body, sandbox=self.sandbox), limiter=self._limiter
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


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handling: it runs beside another server in the same process."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 picks a free port); binding here makes the real port known at once.

    Made with `IPPROTO_TCP` so that asyncio sets TCP_NODELAY on every connection it accepts (it only does for that
    protocol number): with Nagle's algorithm on, each answer after the first on a kept-alive connection waits
    ~40 ms for the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def heartbeat(store: Store, receiver_id: str, url: str, every: float = 10.0) -> None:
    """Record this receiver as alive every `every` seconds until cancelled, then forget it."""
    try:
        while True:
            await anyio.to_thread.run_sync(store.heartbeat, receiver_id, url)
            await anyio.sleep(every)
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(store.forget_receiver, receiver_id)
