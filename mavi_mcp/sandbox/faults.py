"""Fault injection for the sandbox: what a real network and a real MAVI can do to a client.

A fault is set per endpoint (`upload`, `metadata`, `sync-generate-speaker`, `sync-generate-audio`,
`speech-to-text`, `async-generate-audio`, `async-generate-speaker`, `async-generate-multi-speaker`, or `*`)
with `--fault ENDPOINT:KIND[:key=value,...]` (repeatable) or `PUT /_sandbox/faults` with
`{"ENDPOINT": [{"kind": ..., ...}]}`. `count` limits how many requests a fault hits (default: all).
Values are checked before anything is installed: `status` an HTTP status 100-599, `seconds` finite and >= 0,
`count` >= 1 (the console answers 422 with the reason; the command line exits with status 2).

Faults BEFORE the request is processed (nothing happened, nothing billed):
  latency (seconds)            answer normally after a delay
  status (status, retry_after, message)
                               an error answer: 429 with or without Retry-After, 500/502/503 bursts (with
                               count), 402, 401, or 400 "Request has exceeded the limit." (the default message
                               of a 400)
Faults AFTER the request is processed (it happened, and was billed, then the answer went wrong):
  status_after (status)        the request was processed, then an error answer (a 500 that may have billed)
  reset                        half the body, then the connection is dropped
  timeout (seconds)            the answer comes only after `seconds` (beyond the client's read timeout)
  truncated (keep)             a 200 whose JSON body is cut: in half, or after `keep` bytes (a negative `keep`
                               drops that many from the end: `-20` cuts an async start's answer after its task id)
  shape                        a 200 envelope whose `data` is valid JSON of an unexpected shape
  envelope (code, key)         the documented envelope variants: `code` 200 / "200" / "0000", `msg` / `message`
  slow (seconds)               the body trickles out over `seconds`

Error bodies keep the vendor's envelope `{"code": <status>, "msg": ..., "data": null}`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Kind = Literal["latency", "status", "status_after", "reset", "timeout", "truncated", "shape", "envelope", "slow"]
KINDS: tuple[str, ...] = (
    "latency",
    "status",
    "status_after",
    "reset",
    "timeout",
    "truncated",
    "shape",
    "envelope",
    "slow",
)
BEFORE = {"latency", "status"}
REASONS = {400: "Request has exceeded the limit.", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
           404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}  # fmt: skip


@dataclass
class Fault:
    kind: Kind
    count: int | None = None
    status: int = 500
    retry_after: str | None = None
    message: str | None = None
    seconds: float = 1.0
    code: int | str = 200
    key: str = "msg"
    keep: int | None = None

    def __post_init__(self) -> None:
        """Refuse values no real answer could have. Raises ValueError naming the field, its range and the value."""
        if not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status from 100 to 599, got {self.status}")
        if not math.isfinite(self.seconds) or self.seconds < 0:
            raise ValueError(f"seconds must be a finite number >= 0, got {self.seconds}")
        if self.count is not None and self.count < 1:
            raise ValueError(f"count must be >= 1 (leave it out for every request), got {self.count}")

    def take(self) -> bool:
        """Whether this fault hits the current request (and uses up one of its `count`)."""
        if self.count is None:
            return True
        if self.count <= 0:
            return False
        self.count -= 1
        return True

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def parse_fault(spec: str) -> tuple[str, Fault]:
    """`ENDPOINT:KIND[:key=value,...]` -> (endpoint, fault). Raises ValueError with the accepted forms."""
    parts = spec.split(":", 2)
    if len(parts) < 2 or parts[1] not in KINDS:
        raise ValueError(f"fault {spec!r}: use ENDPOINT:KIND[:key=value,...] with KIND one of {', '.join(KINDS)}")
    options: dict[str, Any] = {}
    if len(parts) == 3 and parts[2]:
        for item in parts[2].split(","):
            key, _, value = item.partition("=")
            options[key.strip()] = value.strip()
    if "code" in options:
        options["code"] = _code(options["code"])
    return parts[0], fault_from({"kind": parts[1], **options})


def fault_from(data: dict[str, Any]) -> Fault:
    """A `Fault` from JSON values (`PUT /_sandbox/faults`; numbers may also come as strings from the command line).

    An envelope `code` is sent exactly as given: the int 200, or the strings "200" and "0000".
    Raises ValueError with the reason for an unknown kind, a value of the wrong type or out of range.
    """
    if not isinstance(data, dict):  # pyright: ignore[reportUnnecessaryIsInstance] -- JSON from the console
        raise ValueError(f"a fault is a JSON object with a kind, got {data!r}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(KINDS)}")
    count = data.get("count")
    keep = data.get("keep")
    return Fault(
        kind=cast(Kind, kind),
        count=_integer("count", count) if count is not None else None,
        status=_integer("status", data.get("status", 500)),
        retry_after=str(data["retry_after"]) if data.get("retry_after") is not None else None,
        message=data.get("message"),
        seconds=_number("seconds", data.get("seconds", 1.0)),
        code=_json_code(data.get("code", 200)),
        key=str(data.get("key", "msg")),
        keep=_integer("keep", keep) if keep is not None else None,
    )


def _integer(name: str, value: object) -> int:
    """A whole number from JSON (an int, not a bool or 1.5) or the command line (digits, maybe signed)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise ValueError(f"{name} must be a whole number, got {value!r}")


def _number(name: str, value: object) -> float:
    """A number from JSON (int or float, not a bool) or the command line ("0.5"; "nan" is caught by the range check)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(f"{name} must be a number, got {value!r}")


def _json_code(value: object) -> int | str:
    return value if isinstance(value, int | str) else str(value)


def _code(value: object) -> int | str:
    """An envelope code: ints stay ints; from the command line `200` is the int, `"200"` (quoted) and `0000` strings."""
    if isinstance(value, int):
        return value
    text = str(value)
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return int(text) if text.isdigit() and not text.startswith("0") else text


def error_response(fault: Fault) -> Response:
    body = {"code": fault.status, "msg": fault.message or REASONS.get(fault.status, "Error"), "data": None}
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
    return Response(json.dumps(body, separators=(",", ":")), fault.status, headers, media_type="application/json")


class _Broken(Response):
    """A response that sends part of `content` and then breaks (reset) or trickles (slow)."""

    def __init__(self, content: bytes, *, mode: Literal["reset", "slow"], seconds: float = 1.0) -> None:
        super().__init__(content, 200, media_type="application/json")
        self.mode = mode
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = bytes(self.body)
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        if self.mode == "reset":
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            raise ConnectionResetError("sandbox fault: connection reset mid-answer")
        chunks = 10
        size = max(1, len(body) // chunks + 1)
        for i in range(0, len(body), size):
            await send({"type": "http.response.body", "body": body[i : i + size], "more_body": True})
            await anyio.sleep(self.seconds / chunks)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def after(fault: Fault, response: Response) -> Response:
    """Apply an AFTER fault to the answer the endpoint produced (the request was processed)."""
    body = bytes(response.body)
    if fault.kind == "status_after":
        return error_response(fault)
    if fault.kind == "reset":
        return _Broken(body, mode="reset")
    if fault.kind == "slow":
        return _Broken(body, mode="slow", seconds=fault.seconds)
    if fault.kind == "timeout":
        await anyio.sleep(fault.seconds)
        return response
    if fault.kind == "truncated":
        cut = len(body) // 2 if fault.keep is None else fault.keep
        return Response(body[:cut], 200, media_type="application/json")
    envelope = json.loads(body)
    if fault.kind == "shape":
        envelope["data"] = {"unexpected": "shape", "items": "not a list"}
    else:  # envelope variants
        envelope["code"] = fault.code
        message = envelope.pop("msg", None) or envelope.pop("message", None) or "success"
        envelope[fault.key] = message
    return Response(json.dumps(envelope, separators=(",", ":")), 200, media_type="application/json")
