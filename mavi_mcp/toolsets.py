"""Toolsets: which tools a server exposes (`--tools` / `MAVI_MCP_TOOLS`), by tool name or group.

Like the GitHub MCP server's toolsets: a client that needs only part of the server pays (in context tokens) only
for that part. A selection is a comma-separated list of tool names and group names; `all` (the default) is every
tool. Tools are always listed in `TOOLS` order, whatever the order of the selection.

Nothing here imports the tools, so `settings` can check a selection when it is read (an unknown name is a
start-up error that lists the valid names).
"""

from __future__ import annotations

from collections.abc import Iterable

TOOLS: tuple[str, ...] = (
    "upload_media",
    "identify_speakers",
    "transcribe_whisper",
    "transcribe_assemblyai",
    "transcribe_elevenlabs",
    "multi_speaker_async",
    "get_transcript",
    "search_transcripts",
    "rename_speakers",
    "list_transcripts",
    "get_task",
    "list_tasks",
    "webhook_info",
)
"""Every model-facing tool, in the order the server lists them."""

GROUPS: dict[str, tuple[str, ...]] = {
    "core": (
        "upload_media",
        "identify_speakers",
        "get_transcript",
        "search_transcripts",
        "rename_speakers",
        "list_transcripts",
        "get_task",
        "list_tasks",
    ),
    "whisper": ("transcribe_whisper",),
    "assemblyai": ("transcribe_assemblyai",),
    "elevenlabs": ("transcribe_elevenlabs",),
    "async": ("multi_speaker_async", "webhook_info"),
    "read-only": ("get_transcript", "search_transcripts", "list_transcripts", "get_task", "list_tasks", "webhook_info"),
    "all": TOOLS,
}
"""Group name -> its tools. `read-only` is the tools annotated `readOnlyHint` (a test keeps the two in step)."""

DEFAULT = "all"


def valid_names() -> str:
    """The names a selection may use, for error messages: groups first, then tools."""
    return f"groups {', '.join(GROUPS)}; tools {', '.join(TOOLS)}"


def parse_selection(text: str) -> tuple[str, ...]:
    """The tools a selection such as `"core,assemblyai"` or `"get_transcript, list_tasks"` exposes, in `TOOLS` order.

    Names are case-insensitive; blanks are ignored; an empty selection means `all`.

    Raises:
        ValueError: an unknown name (the message lists every valid name).
    """
    names = [part.strip().lower() for part in text.split(",") if part.strip()] or [DEFAULT]
    return select(names)


def select(names: Iterable[str]) -> tuple[str, ...]:
    """The tools named by `names` (tool or group names, lower case), in `TOOLS` order. Raises `ValueError`."""
    chosen: set[str] = set()
    unknown: list[str] = []
    for name in names:
        if name in GROUPS:
            chosen.update(GROUPS[name])
        elif name in TOOLS:
            chosen.add(name)
        else:
            unknown.append(name)
    if unknown:
        raise ValueError(f"unknown tool or group {', '.join(map(repr, unknown))}; valid: {valid_names()}")
    return tuple(tool for tool in TOOLS if tool in chosen)
