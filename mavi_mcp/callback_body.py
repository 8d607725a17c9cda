"""Reading a webhook body before it is stored: JSON of any depth, encoding or shape, never an exception.

The receiver keeps every body under its size cap (`mavi_mcp.webhook`); this module only says what can be read
from one: the decoded JSON value and the `task_id` it names, or the reason it cannot be read. Bodies that are
nested deeper than the JSON decoder's recursion limit, not UTF-8/16/32, not JSON at all, or whose `task_id` is
not a usable id (not a string, blank, longer than `MAX_TASK_ID` characters, with control characters or lone
surrogates that cannot be stored or echoed as UTF-8) come back with `problem` set; the receiver stores them
marked "malformed" with that reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

MAX_TASK_ID = 256
"""Characters: longer task ids are not MAVI's (theirs are 32 hex digits)."""


@dataclass(frozen=True)
class CallbackBody:
    """What a webhook body holds: `payload` (decoded JSON) and `task_id`, or `problem` (why it cannot be read)."""

    payload: Any = None
    task_id: str | None = None
    problem: str | None = None


def read_body(body: bytes) -> CallbackBody:
    """Decode `body` (bytes as received). Never raises; see the module docstring for what sets `problem`."""
    try:
        payload: Any = json.loads(body)
    except RecursionError:
        return CallbackBody(problem="body is nested too deeply to read")
    except UnicodeDecodeError:
        return CallbackBody(problem="body is not text in UTF-8, UTF-16 or UTF-32")
    except ValueError:
        return CallbackBody(problem="body is not JSON")
    if not isinstance(payload, dict):
        return CallbackBody(payload=payload)  # read, but names no task: the receiver says why
    raw: object = cast(dict[str, Any], payload).get("task_id")
    if raw is None:
        return CallbackBody(payload=payload)
    task_id = _usable_id(raw)
    if task_id is None:
        return CallbackBody(problem="task_id is not a usable id (a non-blank string of printable text)")
    return CallbackBody(payload=payload, task_id=task_id)


def _usable_id(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > MAX_TASK_ID or not text.isprintable():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") decodes from JSON but cannot be stored or echoed
        return None
    return text


__all__ = ["MAX_TASK_ID", "CallbackBody", "read_body"]
