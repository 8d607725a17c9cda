"""The commands: each resolves its arguments, then calls the server's tools through `ToolSession`.

- `transcribe SOURCE`: `upload_media` (a file or URL) -> `transcribe_<provider>` -> `get_task` while pending ->
  `get_transcript` from the first page along `next_cursor` to the end -> one document (`output.assemble`) on
  stdout or `--out`.
- `speakers SOURCE`: the same with `identify_speakers`.
- `search QUERY`: `search_transcripts` along its `next_cursor`, when this version has the tool.
- `transcripts [ID]`: `list_transcripts`, or one stored transcript whole (`get_transcript` to the end).

Messages for the person (what was made, where it was saved, how to read it again) go to stderr; stdout carries
only the result, so it can be piped.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import anyio

from mavi_mcp.commands.confirm import Confirmation
from mavi_mcp.commands.output import assemble
from mavi_mcp.commands.progress import Display
from mavi_mcp.commands.session import (
    CommandError,
    ExitCode,
    ToolSession,
    open_session,
    structured,
    text_of,
)
from mavi_mcp.media import shown_url
from mavi_mcp.settings import Settings

WAIT = 55.0
"""Seconds each `get_task` call waits for a pending job (the tools' maximum). The first call of a job waits the
tools' own default (`MAVI_MCP_WAIT_SECONDS`), then the command follows the task handle until the job ends."""
MAX_PAGES = 100_000
"""Guard against a cursor that never ends (a bug). Pages have the tools' default budget (`MAVI_MCP_PAGE_TOKENS`):
in process, a page costs milliseconds, and the assembled document does not depend on the page size."""

ASSET_ID = re.compile(r"re_[0-9A-Za-z]+")
TOOLS = {"whisper": "transcribe_whisper", "assemblyai": "transcribe_assemblyai", "elevenlabs": "transcribe_elevenlabs"}


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command named by `args.command`; returns the exit code (`ExitCode`). Errors go to stderr."""
    display = Display.for_stderr()
    confirmation = Confirmation.for_terminal(assume_yes=bool(getattr(args, "yes", False)), display=display)
    try:
        return anyio.run(_run, args, settings, display, confirmation)
    except CommandError as exc:
        print(f"mavi-mcp {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"mavi-mcp {args.command}: interrupted.", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except Exception:
        logging.getLogger(__name__).exception("mavi-mcp %s failed unexpectedly", args.command)
        print(f"mavi-mcp {args.command}: internal error (details above); please report it.", file=sys.stderr)
        return ExitCode.INTERNAL


async def _run(args: argparse.Namespace, settings: Settings, display: Display, confirmation: Confirmation) -> int:
    command: str = args.command
    source = _source(args.source) if command in ("transcribe", "speakers") else None
    if command in ("transcribe", "speakers"):
        _require_key(settings)
        if source is not None and source[0] == "file":
            # the person named this file: the server may read it (allowed dirs guard against an agent's choice)
            folder = Path(source[1]).parent
            settings = settings.model_copy(update={"allowed_dirs": [*settings.allowed_dirs, folder]})
    failure: CommandError | None = None
    async with open_session(settings, display=display, confirmation=confirmation) as session:
        try:  # caught here, inside the session: raised through its task groups it would arrive wrapped
            return await _dispatch(session, args, settings, source)
        except CommandError as exc:
            failure = exc
    raise failure


async def _dispatch(
    session: ToolSession, args: argparse.Namespace, settings: Settings, source: tuple[str, str] | None
) -> int:
    command: str = args.command
    if command == "transcripts":
        return await _transcripts(session, args, settings)
    if command == "search":
        return await _search(session, args)
    assert source is not None
    asset_id = await _asset(session, source)
    if command == "speakers":
        tool, extra = "identify_speakers", {}
    else:
        provider: str = getattr(args, "provider", "whisper")
        tool = TOOLS[provider]
        extra = _speaker_option(provider) if getattr(args, "with_speakers", False) else {}
    arguments = {"asset_id": asset_id, **extra, **_page_args(args)}  # page options: checked before paying
    transcript_id = await _completed(session, await session.call(tool, arguments, label=f"{tool}: {asset_id}"))
    return await _print_transcript(session, args, settings, transcript_id)


def _source(text: str) -> tuple[str, str]:
    """("url" | "file" | "asset", value): a file path made absolute; refuses what is none of them (exit 2)."""
    value = text.strip()
    if re.match(r"https?://", value, re.IGNORECASE):
        return "url", value
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_file():
            raise CommandError(ExitCode.USAGE, f"{value!r} is not a file.")
        return "file", str(path.resolve())
    if ASSET_ID.fullmatch(value):
        return "asset", value
    raise CommandError(
        ExitCode.USAGE,
        f"{value!r}: no such file, and not an http(s) URL or a MAVI asset id (re_...). Give the path of an audio or "
        "video file, its URL, or the asset_id of an earlier upload.",
    )


def _require_key(settings: Settings) -> None:
    if settings.sandbox or settings.api_key is not None:
        return
    raise CommandError(
        ExitCode.CONFIG,
        "MAVI_API_KEY is not set. Create a key in the memories.ai console (API keys) and run "
        "'export MAVI_API_KEY=sk-mavi-...', or add --sandbox to try the built-in simulator (free, no key).",
    )


def _speaker_option(provider: str) -> dict[str, Any]:
    return {"whisper": {"speaker": True}, "assemblyai": {"speaker_labels": True}}.get(provider, {"diarize": True})


def _page_args(args: argparse.Namespace) -> dict[str, Any]:
    page: dict[str, Any] = {"format": getattr(args, "format", "text")}
    for name in ("start", "end"):
        if getattr(args, name, None) is not None:
            page[name] = getattr(args, name)
    return page


async def _asset(session: ToolSession, source: tuple[str, str]) -> str:
    """The asset id of `source`: uploaded first (`upload_media`, then `get_task` while it is pending)."""
    kind, value = source
    if kind == "asset":
        return value
    shown = Path(value).name if kind == "file" else shown_url(value)  # a URL without user:password and query
    result = await session.call("upload_media", {"path": value}, label=f"uploading {shown}")
    data = structured(result)
    while data.get("status") == "pending":
        arguments = {"task_id": data["task_id"], "wait_seconds": WAIT}
        data = structured(await session.call("get_task", arguments, label=f"uploading {shown}"))
    if data.get("status") != "completed" or not data.get("asset_id"):
        raise CommandError(ExitCode.API, f"upload_media did not give an asset id: {data.get('error') or data}")
    print(f"Uploaded {shown}: asset_id {data['asset_id']}", file=sys.stderr)
    return str(data["asset_id"])


async def _completed(session: ToolSession, result: Any) -> str:
    """The transcript id of a transcription, asking `get_task` while the job is pending; a failed task is exit 4."""
    text, data = text_of(result), structured(result)
    while data.get("status") == "pending":
        arguments = {"task_id": data["task_id"], "wait_seconds": WAIT}
        result = await session.call("get_task", arguments, label=f"waiting for task {data['task_id']}")
        text, data = text_of(result), structured(result)
    if data.get("status") != "completed" or not data.get("transcript_id"):
        raise CommandError(ExitCode.API, text)
    return str(data["transcript_id"])


async def _print_transcript(
    session: ToolSession, args: argparse.Namespace, settings: Settings, transcript_id: str
) -> int:
    """A stored transcript, whole (within `--start`/`--end`), in `--format`, to stdout or `--out`.

    Read with `get_transcript` from its first page along every `next_cursor` (free): the transcription tool's own
    first page only gives the id, so the document is the same whether the job finished within the wait or not.
    """
    fmt: str = getattr(args, "format", "text")
    arguments = {"transcript_id": transcript_id, **_page_args(args)}
    result = await session.call("get_transcript", arguments, label=f"reading {transcript_id}")
    pages = [(text_of(result), structured(result))]
    while (cursor := pages[-1][1].get("next_cursor")) and len(pages) < MAX_PAGES:
        arguments = {"transcript_id": transcript_id, "cursor": cursor}
        result = await session.call("get_transcript", arguments, label=f"reading page {len(pages) + 1}")
        pages.append((text_of(result), structured(result)))
    _deliver(args, assemble(fmt, pages))
    _summary(args, settings, pages[0][1])
    return ExitCode.OK


async def _transcripts(session: ToolSession, args: argparse.Namespace, settings: Settings) -> int:
    transcript_id: str | None = getattr(args, "transcript_id", None)
    if transcript_id is None:
        result = await session.call("list_transcripts", {"limit": getattr(args, "limit", 20)}, label="listing")
        _deliver(args, text_of(result) + "\n")
        return ExitCode.OK
    return await _print_transcript(session, args, settings, transcript_id)


async def _search(session: ToolSession, args: argparse.Namespace) -> int:
    if "search_transcripts" not in await session.tool_names():
        raise CommandError(
            ExitCode.USAGE,
            "this version of mavi-mcp has no search_transcripts tool yet; list transcripts with 'mavi-mcp "
            "transcripts' and print one with 'mavi-mcp transcripts TRANSCRIPT_ID'.",
        )
    arguments: dict[str, Any] = {"query": args.query}
    if getattr(args, "transcript_id", None):
        arguments["transcript_id"] = args.transcript_id
    texts: list[str] = []
    while len(texts) < MAX_PAGES:
        result = await session.call("search_transcripts", arguments, label=f"searching {args.query!r}")
        texts.append(text_of(result))
        cursor = structured(result).get("next_cursor")
        if not cursor:
            break
        arguments = {**arguments, "cursor": cursor}
    _deliver(args, "\n".join(texts) + "\n")
    return ExitCode.OK


def _deliver(args: argparse.Namespace, document: str) -> None:
    """Write `document` to `--out` (created or replaced) or to stdout."""
    out: Path | None = getattr(args, "out", None)
    if out is not None:
        try:
            out.write_text(document, encoding="utf-8")
        except OSError as exc:
            raise CommandError(ExitCode.USAGE, f"cannot write {out}: {exc.strerror or exc}") from None
        return
    try:
        sys.stdout.write(document)
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _summary(args: argparse.Namespace, settings: Settings, first: dict[str, Any]) -> None:
    """One line on stderr: which transcript this is, where it went, how to read it again (free)."""
    transcript_id = first.get("transcript_id")
    speakers: list[Any] = first.get("speakers") or []
    counts: dict[str, Any] = first.get("counts") or {}
    words = int(counts.get("words", 0))
    facts = [f"{first.get('provider', '?')}", f"{first.get('duration', 0):.0f} s", f"{len(speakers)} speakers"]
    if words:
        facts.append(f"{words:,} words")
    out = getattr(args, "out", None)
    where = f", saved to {out}" if out is not None else ""
    print(
        f"Transcript {transcript_id} ({', '.join(facts)}){where}. Read it again for free: "
        f"mavi-mcp transcripts {transcript_id}{' --sandbox' if settings.sandbox else ''} --format srt|vtt|json|rttm",
        file=sys.stderr,
    )
