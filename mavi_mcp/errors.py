"""Errors raised by mavi-mcp, one root and a tree under it.

```
MaviError                          root: everything this package raises on purpose
├── ConfigurationError             no API key, bad settings (says how to fix it)
├── InputError                     bad input from the agent (path, URL, cursor, option)
├── ResultError                    the API answered 2xx but the body is not a documented shape
├── UnconfirmedUploadError         the file was uploaded (asset id known) but could not be confirmed ready
├── StoreUnavailableError          the PostgreSQL store cannot be reached now (down, restarting, network)
└── APIError                       the MAVI API refused or failed; carries status, code, msg, request_id
    ├── AuthenticationError        401 / 403
    ├── OutOfCreditsError          402
    ├── NotFoundError              404 (and "Asset not found")
    ├── RequestRejectedError       400 with a specific message
    │   └── AmbiguousLimitError    400 "Request has exceeded the limit." (rate limit OR validation)
    ├── RateLimitedError           429
    ├── ServerError                5xx
    │   └── ServiceUnavailableError 503: refused before processing, never billed
    ├── APITimeoutError            no answer in time (status None)
    └── APIConnectionError         could not reach the API (status None)
```

`error_for_response()` is the one place where an HTTP status and the API's envelope become an error.
Every message is written for the agent: what went wrong and what to do next. No message ever contains the
API key (the client never puts it into one, and `redact()` is applied to anything echoed from outside).
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, cast

LIMIT_MESSAGE = "Request has exceeded the limit."
"""The vendor's shared text for rate limiting AND several validation failures (003_7014b9b1b540d339.txt)."""


class MaviError(Exception):
    """Root of every error mavi-mcp raises on purpose. `str(err)` is safe to show to an agent."""


class ConfigurationError(MaviError):
    """The server is not configured for what was asked (e.g. no `MAVI_API_KEY`)."""


class InputError(MaviError):
    """The agent's input cannot be used as given; the message says what to send instead."""


class ResultError(MaviError):
    """The API answered with success but a body this server cannot read.

    `raw` holds the body as received (when there was one), so a paid result is stored, never lost.
    """

    def __init__(self, message: str, *, raw: bytes | None = None) -> None:
        super().__init__(message)
        self.raw = raw


class UnconfirmedUploadError(MaviError):
    """The upload itself succeeded (MAVI returned `asset_id`), but confirming that the asset is ready failed.

    The asset exists at MAVI: the message tells the agent its id and not to upload the file again, and the job
    keeps `asset_id` with its task (`get_task`, `list_tasks`). `raw` holds an unreadable answer, as `ResultError`.
    """

    def __init__(self, message: str, *, asset_id: str, raw: bytes | None = None) -> None:
        super().__init__(message)
        self.asset_id = asset_id
        self.raw = raw


class StoreUnavailableError(MaviError):
    """The database behind the store (PostgreSQL) could not be reached or dropped the connection.

    Nothing was changed by the failed call; the message names the database with its password masked.
    """


class APIError(MaviError):
    """The MAVI API refused or failed a request.

    Attributes:
        status: HTTP status, or None when no response arrived (timeout, connection).
        code: the envelope's `code` (int 400.. or strings like "0000"), when the body had one.
        api_message: the envelope's `msg` / `message`, when the body had one.
        request_id: a request id header when the API sent one.
        retry_after: seconds the API asked us to wait (`Retry-After`), when it did.
        advice: what to do next, when the caller knows better than the class's `hint` (an async start that
            may have been processed says where its result will show); None means the `hint`.
    """

    hint: ClassVar[str] = "Try again later; if it keeps failing, check the MAVI status page and your account."

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: Any = None,
        api_message: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        endpoint: str | None = None,
        advice: str | None = None,
    ) -> None:
        super().__init__(message)
        self.advice = advice
        self.status = status
        self.code = code
        self.api_message = api_message
        self.request_id = request_id
        self.retry_after = retry_after
        self.endpoint = endpoint

    def __str__(self) -> str:
        parts = [self.summary()]
        if self.retry_after is not None and math.isfinite(self.retry_after):
            parts.append(f"MAVI asked to wait {math.ceil(self.retry_after)} s before the next request (Retry-After).")
        advice = self.hint if self.advice is None else self.advice
        if advice:
            parts.append(advice)
        return " ".join(parts)

    def summary(self) -> str:
        """What failed, with the endpoint, HTTP status, the API's message and the request id; no advice."""
        parts = [self.args[0] if self.args else type(self).__name__]
        detail: list[str] = []
        if self.endpoint:
            detail.append(self.endpoint)
        if self.status is not None:
            detail.append(f"HTTP {self.status}")
        if self.api_message:
            detail.append(f"API said: {self.api_message!r}")
        if self.request_id:
            detail.append(f"request id {self.request_id}")
        if detail:
            parts.append(f"({'; '.join(detail)})")
        return " ".join(parts)


class AuthenticationError(APIError):
    hint = (
        "The API key was refused. Check MAVI_API_KEY (memories.ai console -> API keys): it is sent as-is in the "
        "Authorization header, without 'Bearer'. Restart the MCP server after changing it."
    )


class OutOfCreditsError(APIError):
    hint = "The MAVI account is out of credits. Top up in the memories.ai console, then call the tool again."


class NotFoundError(APIError):
    hint = "Check the id: upload the file with upload_media to get a fresh asset_id."


class RequestRejectedError(APIError):
    hint = "Fix the request as the API message says, then call the tool again."


class AmbiguousLimitError(RequestRejectedError):
    hint = (
        "MAVI sends this same text for several different failures, so the cause cannot be told from the answer: "
        "(1) the account's 1 request/second rate limit (another client using the same account?), "
        "(2) an unknown or deleted asset_id, (3) an asset that is not processed yet (upload_media waits for "
        "upload_status SUCCESS; a freshly uploaded asset may need a few more seconds), (4) an unsupported "
        "model. Check the asset with upload_media's asset_id, wait a few seconds, and try again."
    )


class RateLimitedError(APIError):
    hint = (
        "MAVI allows 1 request per second per account. Wait a few seconds (or as long as MAVI asked), then call "
        "the tool again."
    )


class ServerError(APIError):
    hint = (
        "MAVI had an internal error. For a paid transcription this server did not resend the request, because it "
        "may have been processed and billed; call the tool again only if you accept that risk."
    )


class ServiceUnavailableError(ServerError):
    """HTTP 503: MAVI refused the request before processing it (the client retries it; this is what is left)."""

    hint = (
        "MAVI is temporarily unavailable (HTTP 503): the request was not processed and nothing was billed. "
        "Call the tool again in a minute."
    )


class APITimeoutError(APIError):
    hint = (
        "No answer from MAVI in time. The request may still be processed (and billed) on MAVI's side; "
        "for long recordings prefer mode='async' so the result arrives by webhook."
    )


class APIConnectionError(APIError):
    hint = "Could not reach the MAVI API. Check the network and MAVI_BASE_URL, then call the tool again."


_STATUS_ERRORS: dict[int, type[APIError]] = {
    400: RequestRejectedError,
    401: AuthenticationError,
    402: OutOfCreditsError,
    403: AuthenticationError,
    404: NotFoundError,
    409: RequestRejectedError,
    405: RequestRejectedError,
    415: RequestRejectedError,
    422: RequestRejectedError,
    429: RateLimitedError,
}

_DEFAULT_TITLES: dict[type[APIError], str] = {
    RequestRejectedError: "MAVI rejected the request.",
    AmbiguousLimitError: "MAVI refused the request with its ambiguous limit message.",
    AuthenticationError: "MAVI refused the API key.",
    OutOfCreditsError: "MAVI account is out of credits.",
    NotFoundError: "MAVI does not know this resource.",
    RateLimitedError: "MAVI rate limit reached.",
    ServerError: "MAVI server error.",
    ServiceUnavailableError: "MAVI server error.",
}


def error_for_response(
    status: int,
    body: Any,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
    endpoint: str | None = None,
    secrets: tuple[str, ...] = (),
) -> APIError:
    """Map an HTTP status and a (parsed or unparsed) error body to the matching `APIError`.

    `body` is the decoded JSON (a dict with `code`, `msg` or `message`) or anything else (text, None).
    `secrets` (the API key) are removed from the message the body carries, before it is shortened.
    The envelope's message decides only two things: "Request has exceeded the limit." -> `AmbiguousLimitError`,
    and "Asset not found" on a 400 -> `NotFoundError`. Everything else is decided by the HTTP status.
    Source: ../shared/mavi-api/README.md ("Errors") and 003_7014b9b1b540d339.txt ("Error Responses").
    """
    code: Any = None
    api_message: str | None = None
    if isinstance(body, dict):
        envelope = cast(dict[str, Any], body)
        code = envelope.get("code")
        raw_msg = envelope.get("msg") or envelope.get("message")
        api_message = redact(str(raw_msg), *secrets)[:500] if raw_msg is not None else None
    elif isinstance(body, str) and body.strip():
        api_message = redact(body.strip(), *secrets)[:200]

    cls: type[APIError]
    if status == 503:
        cls = ServiceUnavailableError
    else:
        cls = ServerError if status >= 500 else _STATUS_ERRORS.get(status, RequestRejectedError)
    if status == 400 and api_message is not None:
        if api_message.strip() == LIMIT_MESSAGE:
            cls = AmbiguousLimitError
        elif api_message.strip().rstrip(".").lower() == "asset not found":
            cls = NotFoundError
    title = _DEFAULT_TITLES.get(cls, "MAVI request failed.")
    return cls(
        title,
        status=status,
        code=code,
        api_message=api_message,
        request_id=redact(request_id, *secrets) if request_id is not None else None,
        retry_after=retry_after,
        endpoint=endpoint,
    )


_KEYLIKE = re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}")


def redact(text: str, *secrets: str) -> str:
    """`text` with every given secret and anything shaped like a MAVI key (`sk-...`) replaced by `[redacted]`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEYLIKE.sub("[redacted]", text)
