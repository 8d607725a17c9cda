"""Arguments of the commands for people, added to `mavi-mcp`'s own parser (`mavi_mcp.cli.build_parser`).

Only `argparse` is imported here: building the parser must not slow down the server's start.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

FORMATS = ("text", "srt", "vtt", "json", "rttm")
PROVIDERS = ("whisper", "assemblyai", "elevenlabs")

EXAMPLES = {
    "transcribe": "mavi-mcp transcribe talk.mp3 --speakers --format srt --out talk.srt",
    "speakers": "mavi-mcp speakers re_700000000000000013 --sandbox --format rttm",
    "search": 'mavi-mcp search "membership fee" --sandbox',
    "transcripts": "mavi-mcp transcripts   (or: mavi-mcp transcripts tr_... --format vtt --out talk.vtt)",
}
"""One example per command, shown by `mavi-mcp --help` and each command's own help."""

COMMANDS = frozenset(EXAMPLES)

EXIT_CODES = """\
exit codes: 0 done; 1 internal error; 2 bad argument or usage; 3 missing configuration (MAVI_API_KEY);
4 the tool or MAVI refused or failed; 5 cost confirmation refused; 130 interrupted."""


def _common(parser: argparse.ArgumentParser, *, paid: bool) -> None:
    parser.add_argument("--sandbox", action="store_true", help="use the built-in MAVI simulator (no key, no cost)")
    parser.add_argument("--data-dir", dest="data_dir", type=Path, help="directory of the store shared with servers")
    parser.add_argument("--log-level", dest="log_level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    if paid:
        parser.add_argument(
            "--yes",
            "-y",
            dest="yes",
            action="store_true",
            help="accept cost confirmations without asking (for scripts)",
        )


def _output(parser: argparse.ArgumentParser, formats: tuple[str, ...] = FORMATS) -> None:
    parser.add_argument("--format", "-f", dest="format", choices=formats, help="output format (default text)")
    parser.add_argument("--out", "-o", dest="out", type=Path, help="write to this file instead of stdout")
    parser.add_argument("--start", dest="start", help="show only from this time (seconds or m:ss); not billed less")
    parser.add_argument("--end", dest="end", help="show only up to this time (seconds or m:ss)")


def _add(commands: Any, name: str, help: str, description: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=f"{help}, e.g. {EXAMPLES[name]}",
        description=description,
        epilog=f"example:\n  {EXAMPLES[name]}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    return parser


def add_commands(commands: Any) -> None:
    """Add `transcribe`, `speakers`, `search` and `transcripts` to `commands` (an argparse subparsers action)."""
    transcribe = _add(
        commands,
        "transcribe",
        "transcribe a file, URL or asset",
        "Transcribe a local audio/video file, an http(s) URL (both uploaded first) or a MAVI asset id, and print "
        "the whole transcript. Paid (MAVI prices); --sandbox costs nothing.",
    )
    transcribe.add_argument("source", metavar="FILE_OR_URL_OR_ASSET")
    transcribe.add_argument("--provider", "-p", dest="provider", choices=PROVIDERS, help="default whisper (cheapest)")
    transcribe.add_argument(
        "--speakers", dest="with_speakers", action="store_true", help="label speakers (Whisper: twice the price)"
    )
    _output(transcribe)
    _common(transcribe, paid=True)

    speakers = _add(
        commands,
        "speakers",
        "who speaks when (speaker turns)",
        "Speaker turns (diarization) of a file, URL or asset: who speaks when, no words. Paid; --sandbox is free.",
    )
    speakers.add_argument("source", metavar="FILE_OR_URL_OR_ASSET")
    _output(speakers)
    _common(speakers, paid=True)

    search = _add(
        commands,
        "search",
        "search stored transcripts",
        "Search every stored transcript (or one) and print the matching passages. Free: reads the local store.",
    )
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--transcript", dest="transcript_id", help="only this transcript (tr_...)")
    _common(search, paid=False)

    transcripts = _add(
        commands,
        "transcripts",
        "list stored transcripts, or print one",
        "Without an id: the stored transcripts, newest first. With an id: that transcript, whole, in any format. "
        "Free: reads the local store.",
    )
    transcripts.add_argument("transcript_id", metavar="TRANSCRIPT_ID", nargs="?")
    transcripts.add_argument("--limit", dest="limit", type=int, help="how many to list (default 20)")
    _output(transcripts)
    _common(transcripts, paid=False)
