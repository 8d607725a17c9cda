"""The MAVI simulator: an ASGI app that answers like MAVI v2, on real recordings' results.

Follows ../shared/mavi-api/README.md and the vendor pages beside it; where they are silent, the conservative
reading is taken and noted here ("silent:"):

- Auth (README "Base, auth, envelope"): `Authorization: <key>`, no `Bearer`. Missing/empty key, another key than
  `SandboxConfig.api_key` when one is set, or a value starting with "Bearer " (MAVI keys are sent bare, so that
  cannot be a key) -> HTTP 401 `{"code": 401, "msg": "Unauthorized", "data": null}`.
- Accounts (silent: MAVI maps keys to accounts, the sandbox cannot): each key is its own account, kept only as a
  SHA-256 digest. An account has its own rate-limit window and its own uploads: another key's upload answers
  as an unknown asset does. Preloaded assets are in every account; deleting one hides it from that account only.
- Rate limit (README "Rate limit": 1 request/second per account, on every endpoint): a request less than 1 s
  after the previous ACCEPTED request of the same account -> HTTP 400 "Request has exceeded the limit." (the
  vendor's text); one window per account across all endpoints (the stricter reading); a refused request does not
  move the window. `rate_limit=False` turns it off (load tests, benchmarks).
- Envelopes: success `{"code", "msg": "success", "data", "success": true, "failed": false}` with the code each
  vendor page shows ("0000" on the speaker and async pages, 200 on the Whisper, speech-to-text and upload pages);
  errors `{"code": <status>, "msg": ..., "data": null}` with the matching HTTP status. Compact JSON.
- Texts from the pages: missing/empty asset_id -> 400 "asset_id cannot be null or empty"; unknown asset, wrong
  model, an asset not yet SUCCESS, and every other validation failure -> 400 "Request has exceeded the limit."
  (003_*.txt: that text covers "many other validation failures"); metadata or delete of an unknown asset -> 400
  "Asset not found" (README examples); async call with no webhook configured -> 400 "An async request requires
  at least one webhook." (003_*.txt), checked BEFORE the body, as the page says the endpoint "rejects requests"
  without one. JSON `null` counts as an absent option.
- Silent: a JSON endpoint called with a non-JSON `Content-Type` -> 415 "Unsupported Media Type", and an unknown
  route or method -> 404 "Not Found" / 405 "Method Not Allowed" (statuses the README lists; the texts are the
  HTTP reason phrases), all in the error envelope.
- Uploads (README "Assets"): exactly one file in the multipart field `file` (else the generic 400) gets a new
  `re_` + 18 digits id; `upload_status` WAITING -> UPLOADING -> SUCCESS over `upload_processing_seconds`
  (`modify_time`: when the status last changed). Silent: an empty file ends FAILED (the README lists FAILED but
  not when; an empty file is the one case where failing is certain). Transcribing an upload answers in the
  endpoint's shape with a text that says the sandbox ran no recognition.
- Async endpoints: `task_id` (32 hex) at once; after `callback_delay` s the documented callback body is POSTed
  to the webhook URL configured at the call, with the page's `data.msg` ("ASR transcription completed
  successfully", 002_*.txt; "Multimodal ASR completed successfully", 001_*.txt; the speaker callback's is
  undocumented: "Task completed successfully"). A non-2xx answer or a failed connection is retried,
  `callback_attempts` attempts in all, `callback_backoff` s before the first retry, doubling (the vendor
  documents no retry policy; retrying is what a receiver must survive, and it may see a task twice).

`Sandbox.running()` runs the background deliveries; uvicorn enters it through the app's lifespan, in-process
users (`httpx2.ASGITransport`, which runs no lifespan) enter it themselves. `SandboxConfig.clock` (epoch
seconds) drives the rate-limit window and upload processing, so tests can move time without sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import httpx2
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from mavi_mcp.sandbox import catalog, providers
from mavi_mcp.sandbox.answers import (
    LIMIT,
    NO_ASSET_ID,
    NO_WEBHOOK,
    NOT_FOUND,
    UNAUTHORIZED,
    Reject,
    Upload,
    error,
    ok,
    sandbox_text,
    speaker_items,
    upload_duration,
    whisper_items,
)
from mavi_mcp.sandbox.catalog import Asset
from mavi_mcp.sandbox.faults import BEFORE, Fault, after, error_response, fault_from

logger = logging.getLogger("mavi_mcp.sandbox")

WHISPER_DONE = "ASR transcription completed successfully"
MULTI_SPEAKER_DONE = "Multimodal ASR completed successfully"
SPEAKER_DONE = "Task completed successfully"


@dataclass
class SandboxConfig:
    """How the simulator behaves. Times in SECONDS."""

    rate_limit: bool = True
    api_key: str | None = None
    webhook_url: str | None = None
    callback_delay: float = 2.0
    upload_processing_seconds: float = 1.0
    callback_attempts: int = 3
    webhook_client: httpx2.AsyncClient | None = None
    """Client for callback deliveries (e.g. one on `ASGITransport` to an in-process receiver); default: a new one."""
    latency: float = 0.0
    """Added to every API answer (benchmarks)."""
    faults: dict[str, list[Fault]] = field(default_factory=dict[str, list[Fault]])
    """Endpoint name (or "*") -> faults to inject (see `faults`)."""
    callback_backoff: float = 0.5
    """Seconds before the first retry of a failed callback delivery; doubles with each retry, at most 5 s."""
    clock: Callable[[], float] = time.time
    """Epoch SECONDS: the rate-limit window, upload processing and metadata times (injectable for tests)."""


@dataclass
class Delivery:
    task_id: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    at: float


def account(key: str) -> str:
    """The account a key stands for in the sandbox: the key's SHA-256 digest (keys themselves are not kept)."""
    return hashlib.sha256(key.encode()).hexdigest()


Handler = Callable[[Request, str], Awaitable[Response]]
"""An API operation: the request and the caller's account (see `account`)."""


class Sandbox:
    """The simulator's state and its Starlette `app`."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.uploads: dict[str, Upload] = {}
        self.deleted: set[tuple[str, str]] = set()
        """(account, asset_id) of preloaded assets an account deleted (uploads are removed from `uploads`)."""
        self.deliveries: list[Delivery] = []
        self.requests = 0
        self.processed: list[str] = []
        """Endpoint names of requests that were processed (and, for transcriptions, billed), in order."""
        self.faults: dict[str, list[Fault]] = {k: list(v) for k, v in config.faults.items()}
        self._last_accepted: dict[str, float] = {}
        self._settled: dict[str, anyio.Event] = {}
        self._tg: TaskGroup | None = None
        self._client: httpx2.AsyncClient | None = None
        self._running = False
        table: list[tuple[str, str, Handler, str]] = [
            ("/upload", "upload", self.upload, "POST"),
            ("/transcriptions/sync-generate-speaker", "sync-generate-speaker", self.sync_speaker, "POST"),
            ("/transcriptions/sync-generate-audio", "sync-generate-audio", self.sync_audio, "POST"),
            ("/transcriptions/speech-to-text", "speech-to-text", self.speech_to_text, "POST"),
            ("/transcriptions/async-generate-audio", "async-generate-audio", self.async_audio, "POST"),
            ("/transcriptions/async-generate-speaker", "async-generate-speaker", self.async_speaker, "POST"),
            ("/transcriptions/async-generate-multi-speaker", "async-generate-multi-speaker", self.async_multi, "POST"),
            ("/{asset_id}/metadata", "metadata", self.metadata, "GET"),
            ("/{asset_id}", "delete", self.delete, "DELETE"),
        ]
        api = [Route(path, self._endpoint(name, handler), methods=[method]) for path, name, handler, method in table]
        admin = [
            Route("/_sandbox/assets", self.admin_assets, methods=["GET"]),
            Route("/_sandbox/webhook", self.admin_webhook, methods=["GET", "PUT"]),
            Route("/_sandbox/deliveries", self.admin_deliveries, methods=["GET"]),
            Route("/_sandbox/faults", self.admin_faults, methods=["GET", "PUT", "DELETE"]),
            Route("/_sandbox/processed", self.admin_processed, methods=["GET"]),
        ]
        self.app = Starlette(
            routes=[*admin, Mount("/serve/api/v2", routes=api), *api],
            lifespan=self._lifespan,
            exception_handlers={HTTPException: _http_error},
        )

    # --- lifecycle ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[Sandbox]:
        """Run background work (callback deliveries) for the duration of the block; leaving it cancels pending
        deliveries. Not re-entrant (RuntimeError), but may be entered again once left."""
        if self._running:
            raise RuntimeError("This sandbox is already running.")
        self._running = True
        try:
            async with anyio.create_task_group() as tg:
                own = self.config.webhook_client is None
                self._client = self.config.webhook_client or httpx2.AsyncClient(timeout=10.0)
                self._tg = tg
                try:
                    yield self
                finally:
                    self._tg = None
                    tg.cancel_scope.cancel()
                    if own:
                        await self._client.aclose()
        finally:
            self._running = False

    @asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncGenerator[None]:
        async with self.running():
            yield

    async def settled(self, task_id: str) -> list[Delivery]:
        """Wait until the callback of `task_id` was delivered, given up or cancelled; its attempts, in order.

        Bound the wait with `anyio.fail_after`. Raises KeyError for a task this sandbox never started.
        """
        await self._settled[task_id].wait()
        return [d for d in self.deliveries if d.task_id == task_id]

    # --- the one dispatch point: auth, rate limit, faults, errors ----------------------------------

    def _fault(self, name: str) -> Fault | None:
        for fault in self.faults.get(name, []) + self.faults.get("*", []):
            if fault.take():
                return fault
        return None

    def _authorized(self, key: str) -> bool:
        if not key or key.lower().startswith("bearer "):
            return False
        expected = self.config.api_key
        return expected is None or hmac.compare_digest(key.encode(), expected.encode())

    def _endpoint(self, name: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests += 1
            key = request.headers.get("authorization", "").strip()
            if not self._authorized(key):
                return error(401, UNAUTHORIZED)
            owner = account(key)
            if self.config.rate_limit:
                now = self.config.clock()
                last = self._last_accepted.get(owner)
                if last is not None and now - last < 1.0:
                    return error(400, LIMIT)
                self._last_accepted[owner] = now
            if self.config.latency:
                await anyio.sleep(self.config.latency)
            fault = self._fault(name)
            if fault is not None and fault.kind == "latency":
                await anyio.sleep(fault.seconds)
            elif fault is not None and fault.kind == "status":
                return error_response(fault)
            try:
                response = await handler(request, owner)
            except Reject as reject:
                return error(reject.status, reject.message)
            self.processed.append(name)
            if fault is not None and fault.kind not in BEFORE:
                return await after(fault, response)
            return response

        return endpoint

    # --- assets ------------------------------------------------------------------------------------

    def _find(self, asset_id: str, owner: str) -> Asset | Upload | None:
        """The preloaded asset or `owner`'s own upload with this id (not deleted), else None."""
        upload = self.uploads.get(asset_id)
        if upload is not None:
            return upload if upload.owner == owner else None
        asset = catalog.BY_ID.get(asset_id)
        return None if asset is None or (owner, asset_id) in self.deleted else asset

    async def upload(self, request: Request, owner: str) -> Response:
        try:
            form = await request.form()
        except Exception:  # a body that is not multipart
            raise Reject(400, LIMIT) from None
        try:
            items = form.getlist("file")
            item = items[0] if len(items) == 1 else None
            if not isinstance(item, UploadFile) or not item.filename:
                raise Reject(400, LIMIT)
            content = await item.read()
            filename = item.filename
        finally:
            await form.close()
        asset_id = "re_" + "".join(secrets.choice("0123456789") for _ in range(18))
        while asset_id in self.uploads or asset_id in catalog.BY_ID:  # pragma: no cover - 1 in 10**18
            asset_id = "re_" + "".join(secrets.choice("0123456789") for _ in range(18))
        self.uploads[asset_id] = Upload(
            asset_id, owner, filename, len(content), upload_duration(filename, content), self.config.clock()
        )
        logger.info("sandbox upload %s: %s (%d bytes)", asset_id, filename, len(content))
        return ok({"asset_id": asset_id})

    def _status(self, upload: Upload) -> tuple[str, float]:
        return upload.status(self.config.clock(), self.config.upload_processing_seconds)

    async def metadata(self, request: Request, owner: str) -> Response:
        asset_id = request.path_params["asset_id"]
        found = self._find(asset_id, owner)
        if isinstance(found, Upload):
            status, modified = self._status(found)
            resource = {
                "asset_id": asset_id,
                "original_filename": found.filename,
                "extension": found.filename.rsplit(".", 1)[-1].lower() if "." in found.filename else "",
                "file_size": str(found.size),
                "upload_status": status,
                "create_time": str(round(found.created * 1000)),
                "modify_time": str(round(modified * 1000)),
            }
        elif isinstance(found, Asset):
            resource = {
                "asset_id": asset_id,
                "original_filename": found.filename,
                "extension": found.filename.rsplit(".", 1)[-1],
                "file_size": str(int(found.duration * 16000)),
                "upload_status": "SUCCESS",
                "create_time": "1735689600000",
                "modify_time": "1735689600000",
            }
        else:
            raise Reject(400, NOT_FOUND)
        return ok({"total": 1, "resource": [resource]})

    async def delete(self, request: Request, owner: str) -> Response:
        asset_id = request.path_params["asset_id"]
        found = self._find(asset_id, owner)
        if found is None:
            raise Reject(400, NOT_FOUND)
        if isinstance(found, Upload):
            del self.uploads[asset_id]
        else:
            self.deleted.add((owner, asset_id))
        return ok(None)

    # --- request parsing ---------------------------------------------------------------------------

    async def _body(self, request: Request) -> dict[str, Any]:
        content_type = request.headers.get("content-type")
        if content_type and "json" not in content_type.lower():
            raise Reject(415, "Unsupported Media Type")
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise Reject(400, LIMIT) from None
        if not isinstance(body, dict):
            raise Reject(400, LIMIT)
        return cast(dict[str, Any], body)

    def _asset(self, asset_id: object, owner: str) -> Asset | Upload:
        """The asset named in a transcription request, or the vendor's error."""
        if asset_id is None or (isinstance(asset_id, str) and not asset_id.strip()):
            raise Reject(400, NO_ASSET_ID)
        if not isinstance(asset_id, str):
            raise Reject(400, LIMIT)
        found = self._find(asset_id, owner)
        if found is None or (isinstance(found, Upload) and self._status(found)[0] != "SUCCESS"):
            raise Reject(400, LIMIT)
        return found

    def _whisper_request(self, body: dict[str, Any], owner: str) -> tuple[Asset | Upload, bool]:
        target = self._asset(body.get("asset_id"), owner)
        model = body.get("model")
        speaker = body.get("speaker")
        if model not in (None, "whisper-1") or not isinstance(speaker, bool | None):
            raise Reject(400, LIMIT)
        return target, bool(speaker)

    # --- sync transcription ------------------------------------------------------------------------

    async def sync_speaker(self, request: Request, owner: str) -> Response:
        target = self._asset((await self._body(request)).get("asset_id"), owner)
        return ok({"model": "pyannote", "items": speaker_items(target)}, code="0000")

    async def sync_audio(self, request: Request, owner: str) -> Response:
        target, speaker = self._whisper_request(await self._body(request), owner)
        return ok({"model": "whisper-1", "items": whisper_items(target, speaker)})

    async def speech_to_text(self, request: Request, owner: str) -> Response:
        body = await self._body(request)
        name = providers.provider(body)
        asset_id, url = providers.source(body)
        target: Asset | Upload | str = self._asset(asset_id, owner) if asset_id is not None else str(url)
        return ok(providers.speech_to_text(name, target, body))

    # --- async transcription -----------------------------------------------------------------------

    def _webhook(self) -> str:
        """The console's webhook URL; checked before the body (003_*.txt: without one, requests are rejected)."""
        if not self.config.webhook_url:
            raise Reject(400, NO_WEBHOOK)
        return self.config.webhook_url

    def _start(self, url: str, build: Callable[[], dict[str, Any]], msg: str) -> Response:
        if self._tg is None:
            raise RuntimeError("The sandbox delivers callbacks only inside `async with sandbox.running():`.")
        task_id = uuid.uuid4().hex
        self._settled[task_id] = anyio.Event()
        self._tg.start_soon(self._deliver, task_id, build, url, msg)
        return ok({"task_id": task_id}, code="0000")

    async def async_audio(self, request: Request, owner: str) -> Response:
        url = self._webhook()
        target, speaker = self._whisper_request(await self._body(request), owner)

        def build() -> dict[str, Any]:
            segments = [
                {
                    "start_time": i["start_time"],
                    "end_time": i["end_time"],
                    "text": i["text"],
                    "speaker": i.get("speaker") if speaker else None,
                }
                for i in whisper_items(target, speaker)
            ]
            usage = {"duration": round(target.duration), "model": "whisper-1", "output_tokens": 0, "prompt_tokens": 0}
            return {"data": segments, "usage_metadata": usage}

        return self._start(url, build, WHISPER_DONE)

    async def async_speaker(self, request: Request, owner: str) -> Response:
        url = self._webhook()
        target = self._asset((await self._body(request)).get("asset_id"), owner)

        def build() -> dict[str, Any]:
            usage = {"duration": round(target.duration), "model": "pyannote", "output_tokens": 0, "prompt_tokens": 0}
            return {"data": speaker_items(target), "usage_metadata": usage}

        return self._start(url, build, SPEAKER_DONE)

    async def async_multi(self, request: Request, owner: str) -> Response:
        url = self._webhook()
        target = self._asset((await self._body(request)).get("asset_id"), owner)

        def build() -> dict[str, Any]:
            if isinstance(target, Upload):
                text = sandbox_text(target.filename, target.duration)
                return {
                    "audio_transcription": [
                        {"start_time": 0.0, "end_time": target.duration, "speaker": "MAVI Sandbox", "text": text}
                    ],
                    "faces": [],
                    "usage_metadata": [
                        {"duration": 0.0, "model": "gemini-2.5-pro", "output_tokens": 0, "prompt_tokens": 0}
                    ],
                }
            return catalog.multi_speaker_result(target)

        return self._start(url, build, MULTI_SPEAKER_DONE)

    async def _deliver(self, task_id: str, build: Callable[[], dict[str, Any]], url: str, msg: str) -> None:
        try:
            await anyio.sleep(self.config.callback_delay)
            body = {
                "code": "0000",
                "message": "SUCCESS",
                "data": {"data": build(), "msg": msg, "success": True},
                "task_id": task_id,
            }
            payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            assert self._client is not None
            for attempt in range(1, self.config.callback_attempts + 1):
                status: int | None = None
                error: str | None = None
                try:
                    response = await self._client.post(
                        url, content=payload, headers={"content-type": "application/json"}
                    )
                    status = response.status_code
                except httpx2.HTTPError as exc:
                    error = type(exc).__name__
                self.deliveries.append(Delivery(task_id, url, attempt, status, error, time.time()))
                if status is not None and 200 <= status < 300:
                    return
                logger.info("sandbox callback %s attempt %d failed (%s)", task_id, attempt, status or error)
                if attempt < self.config.callback_attempts:
                    await anyio.sleep(min(self.config.callback_backoff * 2 ** (attempt - 1), 5.0))
        finally:
            self._settled[task_id].set()

    # --- the console ---------------------------------------------------------------------------------

    async def _admin_body(self, request: Request) -> dict[str, Any] | None:
        """A console request's JSON object, or None when the body is not one."""
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return None
        return cast(dict[str, Any], body) if isinstance(body, dict) else None

    async def admin_assets(self, request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "asset_id": a.asset_id,
                    "filename": a.filename,
                    "description": a.description,
                    "duration": a.duration,
                    "source": a.source,
                    "license": a.license,
                }
                for a in catalog.ASSETS
            ]
        )

    async def admin_webhook(self, request: Request) -> Response:
        if request.method == "PUT":
            body = await self._admin_body(request)
            if body is None:
                return JSONResponse({"error": 'send {"url": "http(s)://..."} or {"url": null}'}, status_code=400)
            url = body.get("url")
            self.config.webhook_url = url if isinstance(url, str) and url.strip() else None
        return JSONResponse({"url": self.config.webhook_url})

    async def admin_faults(self, request: Request) -> Response:
        """GET the faults; PUT `{"endpoint": [{"kind": ...}, ...]}` replaces them; DELETE clears them."""
        if request.method == "DELETE":
            self.faults = {}
        elif request.method == "PUT":
            body = await self._admin_body(request)
            if body is None:
                return JSONResponse({"error": 'send {"ENDPOINT": [{"kind": ...}, ...]}'}, status_code=400)
            try:
                self.faults = {
                    name: [fault_from(cast(dict[str, Any], f)) for f in _fault_list(name, specs)]
                    for name, specs in body.items()
                }
            except ValueError as exc:  # nothing installed: the faults in place stay as they were
                return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({name: [f.as_json() for f in faults] for name, faults in self.faults.items()})

    async def admin_processed(self, request: Request) -> Response:
        return JSONResponse({"processed": self.processed, "requests": self.requests})

    async def admin_deliveries(self, request: Request) -> Response:
        return JSONResponse([d.__dict__ for d in self.deliveries])


def _fault_list(name: str, specs: object) -> list[Any]:
    """The faults listed for endpoint `name` in a console PUT; raises ValueError when they are not a JSON list."""
    if not isinstance(specs, list):
        raise ValueError(f"faults for {name!r} must be a JSON list of objects, got {specs!r}")
    return cast(list[Any], specs)


async def _http_error(_: Request, exc: Exception) -> Response:
    """Starlette's 404 / 405 (unknown route or method) in the vendor's error envelope, reason phrase as `msg`."""
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, exc.detail, dict(exc.headers) if exc.headers else None)


def create_app(config: SandboxConfig | None = None) -> Sandbox:
    """A new simulator. Its ASGI app is `.app`; run deliveries with `async with sandbox.running():`."""
    return Sandbox(config or SandboxConfig())


__all__ = ["Sandbox", "SandboxConfig", "create_app"]
