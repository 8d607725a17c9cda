"""An agent's session with mavi-mcp through the MCP Python SDK: upload, transcribe, page, rename.

Run:  python examples/agent_session.py                      (with mavi-mcp installed: pip install mavi-mcp)
      python examples/agent_session.py --command "uvx mavi-mcp"

The server is spawned over stdio, as Claude Desktop or Claude Code would spawn it, in sandbox mode (the built-in
MAVI simulator with preloaded real recordings: no key, no network, nothing billed); its data goes to a temporary
folder that is removed at the end.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import wave
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

COSTCO = "re_700000000000000002"  # preloaded: Costco Q1 FY22 earnings call, 66 min, 17 speakers (Earnings-22)


def default_command() -> str:
    found = shutil.which("mavi-mcp") or shutil.which("mavi-mcp", path=str(Path(sys.executable).parent))
    return shlex.join([found] if found else [sys.executable, "-m", "mavi_mcp"])


def write_wav(path: Path, seconds: float = 3.0, rate: int = 16000) -> Path:
    """A silent mono WAV file: something to upload."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x00\x00" * int(rate * seconds))
    return path


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A tool's structured result and its text; a tool error ends the session with the server's message."""
    result = await client.call_tool(tool, arguments)
    text = "\n".join(part.text for part in result.content if part.type == "text")
    if result.is_error or result.structured_content is None:
        raise SystemExit(f"{tool} failed: {text}")
    return result.structured_content, text


def lines_of(text: str, count: int) -> str:
    """The first `count` lines of the recording's words (between the <transcript> markers), shortened."""
    words = text.split("<transcript>\n", 1)[-1].split("\n</transcript>", 1)[0].splitlines()
    return "\n".join(f"    {line[:110]}" for line in words[:count])


async def session(command: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="mavi-session-") as tmp:
        folder = Path(tmp)
        recording = write_wav(folder / "standup.wav")
        params = StdioServerParameters(
            command=command[0],
            args=[*command[1:], "--sandbox"],
            env={"MAVI_MCP_DATA_DIR": str(folder / "data"), "MAVI_MCP_ALLOWED_DIRS": str(folder)},
        )
        with anyio.fail_after(120):
            async with Client(params) as client:
                tools = [tool.name for tool in (await client.list_tools()).tools]
                print(f"{len(tools)} tools: {', '.join(tools)}")

                uploaded, _ = await call(client, "upload_media", {"path": str(recording)})
                print(f"upload_media: {recording.name} -> {uploaded['asset_id']} ({uploaded['upload_status']})")

                first, text = await call(
                    client, "transcribe_whisper", {"asset_id": COSTCO, "speaker": True, "max_tokens": 1500}
                )
                transcript_id = first["transcript_id"]
                print(
                    f"transcribe_whisper: {transcript_id}, {len(first['speakers'])} speakers, "
                    f"{first['duration'] / 60:.0f} min, {first['counts']['words']} words; page 1 begins:"
                )
                print(lines_of(text, 2))

                second, text = await call(
                    client,
                    "get_transcript",
                    {"transcript_id": transcript_id, "cursor": first["next_cursor"], "max_tokens": 1500},
                )
                print(f"get_transcript: page 2 ({second['estimated_tokens']} tokens) begins:")
                print(lines_of(text, 1))

                renamed, _ = await call(
                    client,
                    "rename_speakers",
                    {"transcript_id": transcript_id, "names": [{"speaker": "S1", "name": "Richard Galanti"}]},
                )
                print(f"rename_speakers: {renamed['renamed']}")
                _, text = await call(
                    client,
                    "get_transcript",
                    {"transcript_id": transcript_id, "speakers": ["Richard Galanti"], "max_tokens": 600},
                )
                print("get_transcript(speakers=['Richard Galanti']) begins:")
                print(lines_of(text, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--command", default=default_command(), help="how to run mavi-mcp (default: %(default)s)")
    args = parser.parse_args()
    anyio.run(session, shlex.split(args.command))


if __name__ == "__main__":
    main()
