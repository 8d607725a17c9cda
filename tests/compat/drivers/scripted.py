"""The scripted agent every driver plays, whatever the framework: standard library only (it runs in each
framework's own virtual environment, beside the driver, never inside pytest).

The agent transcribes a recording, then reads on with `get_transcript` for as long as what the FRAMEWORK showed it
names a next page: the text footer `get_transcript(transcript_id="...", cursor="...")`, or `transcript_id` and
`next_cursor` in structured content the framework passed on as JSON. What the framework handed its model for
every call is saved, as a string, for the test to check for the recording's words.

A driver is run as `python <driver>.py <config.json>`; the config holds:
- command, env: how to start the MCP server over stdio (`mavi-mcp` and its environment);
- asset_id, wait_seconds: the first call's arguments; timeout: the client-side tool-call timeout (seconds);
- out: where to write `{"tools": [names in listed order], "seen": [what the model got, per call]}`;
- options: framework-specific switches (for example `use_structured_content`).
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

MAX_CALLS = 30
FOOTER = re.compile(r"""transcript_id\\?["']?\s*[:=]\s*\\?["']([\w.-]+)""")
CURSOR = re.compile(r"""(?:next_)?cursor\\?["']?\s*[:=]\s*\\?["']([\w.-]+)""")


def config() -> dict[str, Any]:
    with open(sys.argv[1], encoding="utf-8") as f:
        return json.load(f)


def first_call(cfg: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return "transcribe_whisper", {"asset_id": cfg["asset_id"], "wait_seconds": cfg["wait_seconds"]}


def next_call(seen: str) -> tuple[str, dict[str, Any]] | None:
    """The get_transcript call a model would make after reading `seen`, or None at the last page."""
    transcript = FOOTER.search(seen)
    cursor = CURSOR.search(seen)
    if transcript is None or cursor is None:
        return None
    return "get_transcript", {"transcript_id": transcript.group(1), "cursor": cursor.group(1)}


def save(cfg: dict[str, Any], tools: list[str], seen: list[str]) -> None:
    with open(cfg["out"], "w", encoding="utf-8") as f:
        json.dump({"tools": tools, "seen": seen}, f)


def as_text(value: Any) -> str:
    """What a framework handed its model, as one string (JSON for structures, as most frameworks send them)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)
