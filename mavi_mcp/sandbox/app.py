"""The MAVI simulator: an ASGI app that answers like MAVI v2, on real recordings' results.

Follows ../shared/mavi-api/README.md and the vendor pages beside it; where they are silent, the conservative
reading is taken and noted here:

- Auth: `Authorization: <key>`, no `Bearer`. Missing/empty key, or another key than `SandboxConfig.api_key`
  when one is set -> HTTP 401 `{"code": 401, "msg": "Unauthorized", "data": null}`.
- Rate limit (README "Rate limit": 1 request/second per account): a request less than 1 s after the previous
  ACCEPTED request of the same key -> HTTP 400 "Request has exceeded the limit." (the vendor's text; each key is
  its own account here). `rate_limit=False` turns it off (load tests, benchmarks).
- Envelopes: success `{"code", "msg": "success", "data", "success": true, "failed": false}` with the code each
  vendor page shows ("0000" on the speaker and async pages, 200 on the Whisper, speech-to-text and upload pages);
  errors `{"code": <status>, "msg": ..., "data": null}` with the matching HTTP status. Compact JSON.
- Texts from the pages: missing asset_id -> 400 "asset_id cannot be null or empty"; unknown asset, wrong model,
  an asset not yet SUCCESS, and every other validation failure -> 400 "Request has exceeded the limit." (the page
  says that text covers "many other validation failures"); metadata of an unknown asset -> 400 "Asset not
  found" (README examples); async call with no webhook configured -> 400 "An async request requires at least
  one webhook.".
- Uploads: any file in the multipart field `file` gets a new `re_` + 18 digits id, `upload_status` WAITING ->
  UPLOADING -> SUCCESS over `upload_processing_seconds`. Transcribing an upload answers in the endpoint's shape
  with a text that says the sandbox ran no recognition.
- Async endpoints: `task_id` (32 hex) at once; after `callback_delay` s the documented callback body is POSTed
  to the configured webhook URL, retried `callback_attempts` times with a short backoff when the receiver
  fails (the vendor documents no retry policy; retrying is what a receiver must survive).

`Sandbox.running()` runs the background deliveries; uvicorn enters it through the app's lifespan, in-process
users (`httpx2.ASGITransport`, which runs no lifespan) enter it themselves.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
import wave
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import httpx2
from anyio.abc import TaskGroup
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from mavi_mcp.sandbox import catalog
from mavi_mcp.sandbox.catalog import Asset
from mavi_mcp.sandbox.faults import BEFORE, Fault, after, error_response, fault_from

logger = logging.getLogger("mavi_mcp.sandbox")

LIMIT = "Request has exceeded the limit."
NO_ASSET_ID = "asset_id cannot be null or empty"
NO_WEBHOOK = "An async request requires at least one webhook."
NOT_FOUND = "Asset not found"


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


@dataclass
class Upload:
    asset_id: str
    filename: str
    size: int
    duration: float
    created: float
    created_ms: int


@dataclass
class Delivery:
    task_id: str
    url: str
    attempt: int
    status: int | None
    error: str | None
    at: float


class Reject(Exception):
    """An error answer: HTTP status and message, sent as `{"code": status, "msg": message, "data": null}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def ok(data: Any, code: int | str = 200) -> Response:
    return _json({"code": code, "msg": "success", "data": data, "success": True, "failed": False})


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False), status_code=status, media_type="application/json"
    )


def sandbox_text(filename: str, duration: float) -> str:
    return (
        f"[MAVI sandbox] No speech recognition ran: this is the built-in simulator. "
        f"It received '{filename}' ({duration:.1f} s)."
    )


Handler = Callable[[Request, str], Awaitable[Response]]


class Sandbox:
    """The simulator's state and its Starlette `app`."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.uploads: dict[str, Upload] = {}
        self.deleted: set[str] = set()
        self.deliveries: list[Delivery] = []
        self.requests = 0
        self.processed: list[str] = []
        """Endpoint names of requests that were processed (and, for transcriptions, billed), in order."""
        self.faults: dict[str, list[Fault]] = {k: list(v) for k, v in config.faults.items()}
        self._last_accepted: dict[str, float] = {}
        self._tg: TaskGroup | None = None
        self._client: httpx2.AsyncClient | None = None
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
        self.app = Starlette(routes=[*admin, Mount("/serve/api/v2", routes=api), *api], lifespan=self._lifespan)

    # --- lifecycle ---------------------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncGenerator[Sandbox]:
        """Run background work (callback deliveries) for the duration of the block."""
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

    @asynccontextmanager
    async def _lifespan(self, _: Starlette) -> AsyncGenerator[None]:
        async with self.running():
            yield

    # --- the one dispatch point: auth, rate limit, errors ------------------------------------------

    def _fault(self, name: str) -> Fault | None:
        for fault in self.faults.get(name, []) + self.faults.get("*", []):
            if fault.take():
                return fault
        return None

    def _endpoint(self, name: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            self.requests += 1
            key = request.headers.get("authorization", "").strip()
            if not key or (self.config.api_key is not None and key != self.config.api_key):
                return _json({"code": 401, "msg": "Unauthorized", "data": None}, 401)
            if self.config.rate_limit:
                now = time.monotonic()
                last = self._last_accepted.get(key)
                if last is not None and now - last < 1.0:
                    return _json({"code": 400, "msg": LIMIT, "data": None}, 400)
                self._last_accepted[key] = now
            if self.config.latency:
                await anyio.sleep(self.config.latency)
            fault = self._fault(name)
            if fault is not None and fault.kind == "latency":
                await anyio.sleep(fault.seconds)
            elif fault is not None and fault.kind == "status":
                return error_response(fault)
            try:
                response = await handler(request, key)
            except Reject as reject:
                return _json({"code": reject.status, "msg": reject.message, "data": None}, reject.status)
            self.processed.append(name)
            if fault is not None and fault.kind not in BEFORE:
                return await after(fault, response)
            return response

        return endpoint

    # --- assets ------------------------------------------------------------------------------------

    async def upload(self, request: Request, key: str) -> Response:
        try:
            form = await request.form()
        except Exception:  # a body that is not multipart
            raise Reject(400, LIMIT) from None
        try:
            item = form.get("file")
            if not isinstance(item, UploadFile):
                raise Reject(400, LIMIT)
            content = await item.read()
            filename = item.filename or "upload"
        finally:
            await form.close()  # the parts are spooled to temporary files
        asset_id = "re_" + "".join(secrets.choice("0123456789") for _ in range(18))
        self.uploads[asset_id] = Upload(
            asset_id, filename, len(content), _duration(filename, content), time.monotonic(), int(time.time() * 1000)
        )
        logger.info("sandbox upload %s: %s (%d bytes)", asset_id, filename, len(content))
        return ok({"asset_id": asset_id})

    def _status(self, upload: Upload) -> str:
        age = time.monotonic() - upload.created
        span = self.config.upload_processing_seconds
        if age >= span:
            return "SUCCESS"
        return "WAITING" if age < span / 3 else "UPLOADING"

    async def metadata(self, request: Request, key: str) -> Response:
        asset_id = request.path_params["asset_id"]
        if asset_id in self.deleted:
            raise Reject(400, NOT_FOUND)
        upload = self.uploads.get(asset_id)
        if upload is not None:
            resource = {
                "asset_id": asset_id,
                "original_filename": upload.filename,
                "extension": upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else "",
                "file_size": str(upload.size),
                "upload_status": self._status(upload),
                "create_time": str(upload.created_ms),
                "modify_time": str(upload.created_ms + int(self.config.upload_processing_seconds * 1000)),
            }
        elif asset_id in catalog.BY_ID:
            asset = catalog.BY_ID[asset_id]
            resource = {
                "asset_id": asset_id,
                "original_filename": asset.filename,
                "extension": asset.filename.rsplit(".", 1)[-1],
                "file_size": str(int(asset.duration * 16000)),
                "upload_status": "SUCCESS",
                "create_time": "1735689600000",
                "modify_time": "1735689600000",
            }
        else:
            raise Reject(400, NOT_FOUND)
        return ok({"total": 1, "resource": [resource]})

    async def delete(self, request: Request, key: str) -> Response:
        asset_id = request.path_params["asset_id"]
        if asset_id in self.deleted or (asset_id not in self.uploads and asset_id not in catalog.BY_ID):
            raise Reject(400, NOT_FOUND)
        self.deleted.add(asset_id)
        return ok(None)

    # --- request parsing ---------------------------------------------------------------------------

    async def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            raise Reject(400, LIMIT) from None
        if not isinstance(body, dict):
            raise Reject(400, LIMIT)
        return cast(dict[str, Any], body)

    def _asset(self, asset_id: object) -> Asset | Upload:
        """The asset named in a transcription request, or the vendor's error."""
        if asset_id is None or (isinstance(asset_id, str) and not asset_id.strip()):
            raise Reject(400, NO_ASSET_ID)
        if not isinstance(asset_id, str) or asset_id in self.deleted:
            raise Reject(400, LIMIT)
        upload = self.uploads.get(asset_id)
        if upload is not None:
            if self._status(upload) != "SUCCESS":
                raise Reject(400, LIMIT)
            return upload
        asset = catalog.BY_ID.get(asset_id)
        if asset is None:
            raise Reject(400, LIMIT)
        return asset

    def _whisper_request(self, body: dict[str, Any]) -> tuple[Asset | Upload, bool]:
        target = self._asset(body.get("asset_id"))
        model = body.get("model", "whisper-1")
        speaker = body.get("speaker", False)
        if model != "whisper-1" or not isinstance(speaker, bool):
            raise Reject(400, LIMIT)
        return target, speaker

    # --- sync transcription ------------------------------------------------------------------------

    async def sync_speaker(self, request: Request, key: str) -> Response:
        target = self._asset((await self._body(request)).get("asset_id"))
        return ok({"model": "pyannote", "items": _speaker_items(target)}, code="0000")

    async def sync_audio(self, request: Request, key: str) -> Response:
        target, speaker = self._whisper_request(await self._body(request))
        return ok({"model": "whisper-1", "items": _whisper_items(target, speaker)})

    async def speech_to_text(self, request: Request, key: str) -> Response:
        from mavi_mcp.sandbox.providers import speech_to_text

        body = await self._body(request)
        provider = body.get("provider")
        if provider not in ("assemblyai", "elevenlabs"):
            raise Reject(400, LIMIT)
        target: Asset | Upload | str
        if body.get("asset_id") is not None:
            target = self._asset(body["asset_id"])
        elif isinstance(body.get("url"), str) and body["url"].strip():
            target = body["url"].strip()
        elif isinstance(body.get("source_url"), str) and body["source_url"].strip():
            target = body["source_url"].strip()
        else:
            raise Reject(400, LIMIT)
        return ok(speech_to_text(provider, target, body))

    # --- async transcription -----------------------------------------------------------------------

    async def _start(self, build: Callable[[], dict[str, Any]]) -> Response:
        if not self.config.webhook_url:
            raise Reject(400, NO_WEBHOOK)
        if self._tg is None:
            raise RuntimeError("The sandbox delivers callbacks only inside `async with sandbox.running():`.")
        task_id = uuid.uuid4().hex
        self._tg.start_soon(self._deliver, task_id, build, self.config.webhook_url)
        return ok({"task_id": task_id}, code="0000")

    async def async_audio(self, request: Request, key: str) -> Response:
        target, speaker = self._whisper_request(await self._body(request))

        def build() -> dict[str, Any]:
            segments = [
                {
                    "start_time": i["start_time"],
                    "end_time": i["end_time"],
                    "text": i["text"],
                    "speaker": i.get("speaker") if speaker else None,
                }
                for i in _whisper_items(target, speaker)
            ]
            usage = {"duration": round(_length(target)), "model": "whisper-1", "output_tokens": 0, "prompt_tokens": 0}
            return {"data": segments, "usage_metadata": usage}

        return await self._start(build)

    async def async_speaker(self, request: Request, key: str) -> Response:
        target = self._asset((await self._body(request)).get("asset_id"))

        def build() -> dict[str, Any]:
            usage = {"duration": round(_length(target)), "model": "pyannote", "output_tokens": 0, "prompt_tokens": 0}
            return {"data": _speaker_items(target), "usage_metadata": usage}

        return await self._start(build)

    async def async_multi(self, request: Request, key: str) -> Response:
        target = self._asset((await self._body(request)).get("asset_id"))

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

        return await self._start(build)

    async def _deliver(self, task_id: str, build: Callable[[], dict[str, Any]], url: str) -> None:
        await anyio.sleep(self.config.callback_delay)
        body = {
            "code": "0000",
            "message": "SUCCESS",
            "data": {"data": build(), "msg": "Task completed successfully", "success": True},
            "task_id": task_id,
        }
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        assert self._client is not None
        for attempt in range(1, self.config.callback_attempts + 1):
            status: int | None = None
            error: str | None = None
            try:
                response = await self._client.post(url, content=payload, headers={"content-type": "application/json"})
                status = response.status_code
            except httpx2.HTTPError as exc:
                error = type(exc).__name__
            self.deliveries.append(Delivery(task_id, url, attempt, status, error, time.time()))
            if status is not None and 200 <= status < 300:
                return
            logger.info("sandbox callback %s attempt %d failed (%s)", task_id, attempt, status or error)
            if attempt < self.config.callback_attempts:
                await anyio.sleep(min(0.5 * 2 ** (attempt - 1), 5.0))

    # --- the console ---------------------------------------------------------------------------------

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
            body = await self._body(request)
            url = body.get("url")
            self.config.webhook_url = url if isinstance(url, str) and url.strip() else None
        return JSONResponse({"url": self.config.webhook_url})

    async def admin_faults(self, request: Request) -> Response:
        """GET the faults; PUT `{"endpoint": [{"kind": ...}, ...]}` replaces them; DELETE clears them."""
        if request.method == "DELETE":
            self.faults = {}
        elif request.method == "PUT":
            body = await self._body(request)
            try:
                self.faults = {
                    name: [fault_from(cast(dict[str, Any], f)) for f in cast(list[Any], specs)]
                    for name, specs in body.items()
                }
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({name: [f.as_json() for f in faults] for name, faults in self.faults.items()})

    async def admin_processed(self, request: Request) -> Response:
        return JSONResponse({"processed": self.processed, "requests": self.requests})

    async def admin_deliveries(self, request: Request) -> Response:
        return JSONResponse([d.__dict__ for d in self.deliveries])


def _length(target: Asset | Upload) -> float:
    return target.duration


def _speaker_items(target: Asset | Upload) -> list[dict[str, Any]]:
    if isinstance(target, Upload):
        return [{"start": 0.0, "end": target.duration, "speaker": "SPEAKER_00"}]
    return catalog.speaker_items(target)


def _whisper_items(target: Asset | Upload, speaker: bool) -> list[dict[str, Any]]:
    if isinstance(target, Upload):
        item: dict[str, Any] = {
            "text": " " + sandbox_text(target.filename, target.duration),
            "start_time": 0.0,
            "end_time": target.duration,
        }
        return [{**item, "speaker": "SPEAKER_00"} if speaker else item]
    return catalog.whisper_items(target, speaker=speaker)


def _duration(filename: str, content: bytes) -> float:
    """Seconds of a WAV file (stdlib `wave`); other formats: a rough 128 kbit/s estimate."""
    if filename.lower().endswith(".wav"):
        import io

        try:
            with wave.open(io.BytesIO(content)) as reader:
                return round(reader.getnframes() / float(reader.getframerate() or 1), 3)
        except (wave.Error, EOFError):
            pass
    return round(len(content) / 16000, 3)


def create_app(config: SandboxConfig | None = None) -> Sandbox:
    """A new simulator. Its ASGI app is `.app`; run deliveries with `async with sandbox.running():`."""
    return Sandbox(config or SandboxConfig())


__all__ = ["Sandbox", "SandboxConfig", "create_app"]
