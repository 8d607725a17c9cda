"""What the stdio server says when a person starts it from a terminal (stdin is a TTY), on stderr only.

Over stdio, stdout belongs to the MCP transport; a person who types `mavi-mcp` sees nothing and might think it
hangs. `terminal_hint()` is one short paragraph: what this is, that it waits for an MCP client, the lines that
add it to Claude Desktop and Claude Code, and a command to try it by hand.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from mavi_mcp.settings import Settings

TRY = "mavi-mcp transcribe re_700000000000000002 --sandbox --speakers --end 0:30"
"""The command the hint and the README offer to see mavi-mcp work (the sandbox's Costco call, first 30 s)."""


def server_command() -> str:
    """How a client should start this server: the `mavi-mcp` script that runs now (a venv's absolute path)."""
    started = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if started is not None and started.name == "mavi-mcp" and started.exists():
        return str(started.resolve())
    found = shutil.which("mavi-mcp")
    return found or "mavi-mcp"


def terminal_hint(settings: Settings, command: str | None = None) -> str:
    """The paragraph for a person at the terminal. `command` defaults to `server_command()`."""
    command = command or server_command()
    args = ["--sandbox"] if settings.sandbox else []
    env = {} if settings.sandbox else {"MAVI_API_KEY": "sk-mavi-..."}
    desktop = {"command": command, "args": args, **({"env": env} if env else {})}
    key = "" if settings.sandbox else " -e MAVI_API_KEY=sk-mavi-..."
    mode = "against the built-in MAVI simulator (no key, nothing billed)" if settings.sandbox else "for the MAVI API"
    return (
        f"mavi-mcp is an MCP server {mode}. It is waiting for an MCP client on stdin/stdout; typing here does "
        "nothing (Ctrl-C quits).\n"
        f'  Claude Desktop, claude_desktop_config.json, under "mcpServers": "mavi": {json.dumps(desktop)}\n'
        f"  Claude Code: claude mcp add mavi{key} -- {command}{' --sandbox' if settings.sandbox else ''}\n"
        f"  Try it by hand: {TRY}   (mavi-mcp --help lists every command)"
    )


def print_terminal_hint(settings: Settings) -> None:
    """Print the hint to stderr when stdin is a terminal (a person, not an MCP client); never to stdout."""
    if sys.stdin.isatty():
        print(terminal_hint(settings), file=sys.stderr, flush=True)
