"""The MAVI API client: one `httpx2.AsyncClient` per server, paced, with one retry policy.

- Auth: `Authorization: <key>` with no `Bearer` (../shared/mavi-api/README.md "Base, auth, envelope").
- Envelopes: `code` 200 / "200" / "0000", `msg` or `message`, `success` / `failed` (`wire.Envelope`).
- Pacing: at most `rate_limit` requests per second per API key, shared by every caller of this client
  (the vendor allows 1 request/second per account). Each attempt, retries included, takes a slot.
- Retries (`RetryPolicy`, the only place that decides): a request that never left (connect error, connect or
  pool timeout), 429, 503 and the ambiguous 400 "Request has exceeded the limit." are retried, because the
  answer proves nothing was processed. Other 5xx, read timeouts, connections dropped after sending and 2xx
  bodies that are not JSON (cut off) are retried only for requests that are free and idempotent (metadata),
  never for billed transcriptions: they may have been processed and billed. Waits grow exponentially with
  jitter and honour `Retry-After`.

Every method raises `mavi_mcp.errors.APIError` subclasses for API failures, `ConfigurationError` when no key
is configured, and `ResultError` (with `.raw` holding the body) for a 2xx body of an unexpected shape.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar, cast

import anyio
import httpx2
from aiolimiter import AsyncLimiter
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt

from mavi_mcp import __version__, wire
from mavi_mcp.endpoints import METADATA, UPLOAD, Endpoint
from mavi_mcp.errors import (
    AmbiguousLimitError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    ConfigurationError,
    NotFoundError,
    RateLimitedError,
    ResultError,
    ServerError,
    error_for_response,
    redact,
)
from mavi_mcp.localfile import OpenedMedia
from mavi_mcp.media import content_type
from mavi_mcp.pacing import SharedPacing, sent_tracer, wait_turn
from mavi_mcp.wire import AssetResource, Envelope, MetadataData, TaskData, UploadData

if TYPE_CHECKING:
    from mavi_mcp.shapes import Shape

logger = logging.getLogger(__name__)

M = TypeVar("M")

NO_KEY_MESSAGE = (
    "No MAVI API key is configured. Set MAVI_API_KEY to your key from the memories.ai console "
    '(API keys): in Claude Desktop add it under this server\'s "env" in claude_desktop_config.json, '
    "in a shell `export MAVI_API_KEY=sk-...`, then restart the server. To try the tools without a key, "
    "run `mavi-mcp --sandbox`."
)


@dataclass(frozen=True)
class Reply(Generic[M]):
    """A successful answer: the typed `data`, the raw body as received (kept for paid results), the request id."""

    data: M
    raw: bytes
    request_id: str | None


class _Unsent(APIConnectionError):
    """The request provably never reached the API (connect failure): safe to resend, billed or not."""


class _DroppedAfterSend(APIConnectionError):
    """The connection failed after the request was (maybe) sent: it may have been processed."""

    hint = (
        "The request had been sent, so MAVI may have processed it. For a paid transcription this server did not "
        "resend the request, because it may have been processed and billed; call the tool again only if you "
        "accept that risk."
    )


class _Unreadable(ResultError):
    """A 2xx answer whose body is not a JSON object (cut off on the way, or not JSON at all)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures are retried, how many times, and how long to wait. See the module docstring."""

    max_attempts: int = 4
    max_wait: float = 30.0
    initial_wait: float = 1.0
    ambiguous_limit_attempts: int = 2

    def should_retry(self, error: BaseException, endpoint: Endpoint, attempt: int) -> bool:
        if isinstance(error, _Unsent):
            return True
        if isinstance(error, RateLimitedError):
            return error.retry_after is None or error.retry_after <= self.max_wait
        if isinstance(error, AmbiguousLimitError):
            return attempt < self.ambiguous_limit_attempts
        if isinstance(error, ServerError) and error.status == 503:
            return error.retry_after is None or error.retry_after <= self.max_wait
        safe = endpoint.idempotent and not endpoint.billed
        return safe and isinstance(error, ServerError | APITimeoutError | _DroppedAfterSend | _Unreadable)

    def wait(self, error: BaseException | None, attempt: int, jitter: float) -> float:
        """Seconds before attempt `attempt + 1`: `Retry-After` if given, else exponential with jitter."""
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            return min(float(retry_after), self.max_wait)
        backoff = self.initial_wait * (2 ** (attempt - 1))
        return min(backoff + jitter * self.initial_wait, self.max_wait)


def may_have_been_processed(error: BaseException) -> bool:
    """Whether MAVI may have processed (and, for a paid request, billed) a request that failed with `error`.

    True for a read timeout, a connection that failed after the request was sent, and a 5xx other than 503;
    False when the failure proves nothing was processed (never sent, 429, 503, a 4xx refusal) and for errors
    that are not API failures. A 2xx answer that cannot be read (`ResultError`) was processed; it is not
    covered here.
    """
    if isinstance(error, ServerError):
        return error.status != 503
    return isinstance(error, APITimeoutError | _DroppedAfterSend)


class Pacer:
    """At most `rate` request starts per second per API key (keys are hashed, never kept in clear).

    With `shared` (see `mavi_mcp.pacing`), the pace is shared by every process booking slots there; when that
    state is unavailable, this process paces on its own.
    """

    def __init__(self, rate: float, shared: SharedPacing | None = None) -> None:
        self.rate = rate
        self.shared = shared
        self._limiters: dict[str, AsyncLimiter] = {}

    async def acquire(self, key: str) -> None:
        if self.rate <= 0:
            return
        digest = hashlib.sha256(key.encode()).hexdigest()
        if self.shared is not None and await wait_turn(self.shared, digest, 1.1 / self.rate):
            return
        limiter = self._limiters.get(digest)
        if limiter is None:
            # 10% margin: request starts measured here reach the API with network jitter between them
            limiter = self._limiters[digest] = AsyncLimiter(1, 1.1 / self.rate)
        await limiter.acquire()

    def extensions(self, key: str) -> dict[str, Any]:
        """httpx request extensions that share when this request actually left (empty without shared pacing)."""
        if self.shared is None or self.rate <= 0:
            return {}
        return {"trace": sent_tracer(self.shared, hashlib.sha256(key.encode()).hexdigest())}


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date (RFC 9110 section 10.2.3); None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-trace-id", "x-amzn-requestid")


class MaviClient:
    """Typed access to the MAVI v2 endpoints this server uses. One instance per server, opened in the lifespan.

    Args:
        http: the `httpx2.AsyncClient` (its `base_url` is the API base; its transport may be the sandbox's).
        api_key: the configured key, or None (then every call raises `ConfigurationError`, unless a per-call
            key is given).
        rate_limit: requests per second per key (0 disables pacing).
        shared_pacing: slots shared with other processes on the same key (`mavi_mcp.pacing`), or None.
        policy: the retry policy.
        sleep / jitter: injectable for tests (default `anyio.sleep`, uniform 0..1).
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        api_key: SecretStr | None,
        *,
        rate_limit: float = 1.0,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        jitter: Callable[[], float] | None = None,
        no_key_message: str = NO_KEY_MESSAGE,
        shared_pacing: SharedPacing | None = None,
    ) -> None:
        import random

        self.http = http
        self._api_key = api_key
        self.pacer = Pacer(rate_limit, shared_pacing)
        self.policy = policy or RetryPolicy()
        self._sleep = sleep or anyio.sleep
        self._jitter = jitter or random.random
        self._no_key_message = no_key_message

    @property
    def has_key(self) -> bool:
        return self._api_key is not None

    def _key(self, override: str | None) -> str:
        if override:
            return override
        if self._api_key is None:
            raise ConfigurationError(self._no_key_message)
        return self._api_key.get_secret_value()

    # --- the one request path -------------------------------------------------------------------

    async def _call(
        self,
        endpoint: Endpoint,
        model: type[M],
        *,
        path_params: Mapping[str, str] | None = None,
        json: dict[str, Any] | None = None,
        files: Callable[[], dict[str, tuple[str, IO[bytes], str]]] | None = None,
        api_key: str | None = None,
    ) -> Reply[M]:
        key = self._key(api_key)
        path = endpoint.path.format(**(path_params or {}))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            retry=lambda state: self._retry_decision(state, endpoint),
            wait=lambda state: self.policy.wait(
                state.outcome.exception() if state.outcome else None, state.attempt_number, self._jitter()
            ),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(state, endpoint),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send_once(endpoint, path, key, model, json=json, files=files)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _retry_decision(self, state: RetryCallState, endpoint: Endpoint) -> bool:
        if state.outcome is None or not state.outcome.failed:
            return False
        error = state.outcome.exception()
        return error is not None and self.policy.should_retry(error, endpoint, state.attempt_number)

    @staticmethod
    def _log_retry(state: RetryCallState, endpoint: Endpoint) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.info(
            "MAVI %s attempt %d failed (%s); retrying in %.1fs",
            endpoint.name,
            state.attempt_number,
            _describe(error),
            wait,
        )

    async def _send_once(
        self,
        endpoint: Endpoint,
        path: str,
        key: str,
        model: type[M],
        *,
        json: dict[str, Any] | None,
        files: Callable[[], dict[str, tuple[str, IO[bytes], str]]] | None,
    ) -> Reply[M]:
        await self.pacer.acquire(key)
        headers = {"Authorization": key, "Accept": "application/json", "User-Agent": f"mavi-mcp/{__version__}"}
        started = time.perf_counter()
        opened: dict[str, tuple[str, IO[bytes], str]] = files() if files is not None else {}
        try:
            response = await self.http.request(
                endpoint.method,
                path,
                json=json,
                files=opened or None,
                headers=headers,
                extensions=self.pacer.extensions(key),
            )
        except (httpx2.UnsupportedProtocol, httpx2.InvalidURL) as exc:
            raise ConfigurationError(
                f"MAVI_BASE_URL is not a usable http(s) URL ({type(exc).__name__}). Fix it (default "
                "https://mavi-backend.memories.ai/serve/api/v2) and restart the server."
            ) from None
        except (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout, httpx2.ProxyError) as exc:
            raise _Unsent(
                "Could not connect to the MAVI API.", endpoint=endpoint.name, api_message=_safe(exc, key)
            ) from None
        except httpx2.TimeoutException:
            raise APITimeoutError("MAVI did not answer in time.", endpoint=endpoint.name) from None
        except httpx2.TransportError as exc:
            raise _DroppedAfterSend(
                "The connection to MAVI failed while waiting for the answer.",
                endpoint=endpoint.name,
                api_message=_safe(exc, key),
            ) from None
        finally:
            for _, handle, _ in opened.values():
                handle.close()
        elapsed = time.perf_counter() - started
        request_id = next((response.headers[h] for h in _REQUEST_ID_HEADERS if h in response.headers), None)
        logger.debug("MAVI %s %s -> %d in %.2fs", endpoint.method, path, response.status_code, elapsed)
        return self._parse(endpoint, response, model, request_id, key)

    def _parse(
        self, endpoint: Endpoint, response: httpx2.Response, model: type[M], request_id: str | None, key: str
    ) -> Reply[M]:
        raw = _without(response.content, key)  # an answer that echoes the key is never stored with it
        if response.status_code < 400:
            try:  # the common case, in one pass over the bytes: a success envelope holding `model`
                envelope_ = wire.decode_envelope(model, raw)
            except wire.WireError:
                pass
            else:
                if envelope_.ok and envelope_.data is not None:
                    return Reply(data=envelope_.data, raw=raw, request_id=request_id)
        return self._diagnose(endpoint, response, raw, model, request_id, key)

    def _diagnose(
        self,
        endpoint: Endpoint,
        response: httpx2.Response,
        raw: bytes,
        model: type[M],
        request_id: str | None,
        key: str,
    ) -> Reply[M]:
        """The slow path, for answers that are not a success envelope holding `model`: which error it is."""
        body: Any
        try:
            body = json.loads(raw)  # parsed from the scrubbed bytes: an echoed key is not in the parsed data either
        except ValueError:
            body = None
        if response.status_code >= 400:
            if body is None:
                body = redact(response.text, key)[:200]
            raise error_for_response(
                response.status_code,
                body,
                request_id=request_id,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                endpoint=endpoint.name,
                secrets=(key,),
            )
        if not isinstance(body, dict):
            raise _Unreadable(
                f"MAVI answered {endpoint.name} with HTTP {response.status_code} but the body is not a JSON "
                "object; the raw answer was kept.",
                raw=raw,
            )
        try:
            outer = wire.validate(Envelope[Any], cast("object", body))
        except wire.WireError as exc:
            raise ResultError(
                f"MAVI answered {endpoint.name} with an envelope this server does not recognise ({exc}); "
                "the raw answer was kept.",
                raw=raw,
            ) from None
        if not outer.ok:
            status = _status_from_code(outer.code)
            raise error_for_response(status, body, request_id=request_id, endpoint=endpoint.name, secrets=(key,))
        try:
            data = wire.validate(model, outer.data, where="data")
        except wire.WireError as exc:
            raise ResultError(
                f"MAVI answered {endpoint.name} with a body this server does not recognise ({exc}); "
                "the raw answer was kept.",
                raw=raw,
            ) from None
        return Reply(data=data, raw=raw, request_id=request_id)

    # --- endpoints --------------------------------------------------------------------------------

    async def upload(self, path: Path | OpenedMedia, *, filename: str | None = None, api_key: str | None = None) -> str:
        """`POST /upload` (multipart field `file`) -> `asset_id`. Free; storage is billed per GB-day.

        A `Path` is streamed from disk and reopened for each attempt; an `OpenedMedia` (`localfile.open_media`)
        is read again from its open descriptor, from offset 0, on each attempt (never reopened by path).
        """
        name = filename or path.name

        def files() -> dict[str, tuple[str, IO[bytes], str]]:
            handle = cast(IO[bytes], path.reader()) if isinstance(path, OpenedMedia) else path.open("rb")
            return {"file": (name, handle, content_type(name))}

        reply = await self._call(UPLOAD, UploadData, files=files, api_key=api_key)
        return reply.data.asset_id

    async def metadata(self, asset_id: str, *, api_key: str | None = None) -> AssetResource:
        """`GET /{asset_id}/metadata` -> the asset's record (`upload_status` WAITING|UPLOADING|SUCCESS|FAILED).

        Raises:
            NotFoundError: the API lists no resource for this id.
            ResultError: the answer has no `resource` list at all (not a metadata body).
        """
        reply = await self._call(METADATA, MetadataData, path_params={"asset_id": asset_id}, api_key=api_key)
        if "resource" not in reply.data.model_fields_set:
            raise ResultError(
                f"MAVI answered {METADATA.name} of asset {asset_id} with a body this server does not recognise "
                "(no data.resource); the raw answer was kept.",
                raw=reply.raw,
            )
        for resource in reply.data.resource:
            if resource.asset_id == asset_id:
                return resource
        raise NotFoundError("MAVI has no asset with this id.", endpoint=METADATA.name, api_message=asset_id)

    async def transcribe(self, shape: Shape, body: dict[str, Any], *, api_key: str | None = None) -> Reply[Any]:
        """A sync transcription: `shape.endpoint` with `body` plus the shape's fixed fields (model, provider,
        speaker flag), parsed as `shape.wire`. Billed at `shape.usd_per_second`; see `mavi_mcp.shapes`."""
        return await self._call(shape.endpoint, shape.wire, json={**body, **shape.request}, api_key=api_key)

    async def start_task(self, endpoint: Endpoint, body: dict[str, Any], *, api_key: str | None = None) -> str:
        """Any async endpoint -> `task_id`; the result arrives later at the account's webhook."""
        reply = await self._call(endpoint, TaskData, json=body, api_key=api_key)
        return reply.data.task_id


_TASK_ID_IN_RAW = re.compile(rb'"task_id"\s*:\s*"([0-9a-fA-F]{32})"')


def task_id_in_raw(raw: bytes) -> str | None:
    """MAVI's task id in the raw answer to an async start that could not be parsed (cut off on the way, say),
    when it can be read unambiguously: one distinct complete id, 32 hex digits between the quotes of
    `"task_id":"..."`. None when there is none, when it is cut (no closing quote) or when two differ.
    """
    found = {match.decode("ascii").lower() for match in _TASK_ID_IN_RAW.findall(raw)}
    return found.pop() if len(found) == 1 else None


def _status_from_code(code: object) -> int:
    """An envelope `code` as an HTTP-like status for a 2xx answer that reports failure (default 400)."""
    try:
        value = int(str(code))
    except (TypeError, ValueError):
        return 400
    return value if 400 <= value <= 599 else 400


def _describe(error: BaseException | None) -> str:
    """A short label for a retry log line: `connection failed before sending`, `ServerError, HTTP 502`, ..."""
    if isinstance(error, _Unsent):
        return "connection failed before sending"
    if isinstance(error, _DroppedAfterSend):
        return "connection dropped after sending"
    status = getattr(error, "status", None)
    name = type(error).__name__
    return f"{name}, HTTP {status}" if status is not None else name


def _without(raw: bytes, key: str) -> bytes:
    """`raw` with every occurrence of the API key replaced by `[redacted]`."""
    secret = key.encode()
    return raw.replace(secret, b"[redacted]") if secret and secret in raw else raw


def _safe(exc: BaseException, key: str) -> str:
    return redact(f"{type(exc).__name__}: {exc}", key)[:200]


__all__ = ["APIError", "MaviClient", "Reply", "RetryPolicy", "may_have_been_processed", "task_id_in_raw"]
