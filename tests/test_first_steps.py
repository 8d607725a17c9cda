"""The README's first two commands, typed as a newcomer would: in a fresh copy of the checkout, with a fresh
virtual environment, the interpreter found on PATH, packages from the package index.

Slow (a real `pip install` into a new environment: a minute or more), hence `e2e`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mavi_mcp.commands.hint import TRY

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SECTION = "Try it in two commands"
MARK = "=== the second command prints ==="


def section(title: str) -> str:
    """The README text under `## {title}`, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README.read_text(), re.MULTILINE | re.DOTALL)
    assert match, f"README has no section '## {title}'"
    return match.group(1)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """`(language, body)` of each fenced block in `text`, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.MULTILINE | re.DOTALL)]


def first_steps() -> tuple[list[str], list[str]]:
    """The two commands of the README's first section, and the lines it says the second prints (before "…")."""
    blocks = fenced_blocks(section(SECTION))
    commands = [line for line in blocks[0][1].splitlines() if line.strip() and not line.lstrip().startswith("#")]
    shown = [line.split("…")[0].rstrip() for line in blocks[1][1].splitlines() if line.strip()]
    return commands, shown


def test_the_readme_opens_with_the_two_commands_then_the_tests_then_the_clients() -> None:
    headings = re.findall(r"^## (.+)$", README.read_text(), re.MULTILINE)
    assert headings[:3] == [SECTION, "Run the tests", "Claude Desktop"]
    commands, shown = first_steps()
    assert len(commands) == 2
    assert "pip install -e ." in commands[0]
    assert commands[1].startswith("mavi-mcp transcribe re_")
    assert "--sandbox" in commands[1]
    assert commands[1] == TRY  # what the stdio server, started in a terminal, offers to try by hand
    assert len(shown) == 2
    assert "pip install mavi-mcp" not in section(SECTION)  # the package index comes later, as "once released"


def fresh_environment(data_dir: Path) -> dict[str, str]:
    """This process's environment without its virtual environment (PATH, VIRTUAL_ENV) or MAVI_* settings."""
    own_bin = str(Path(sys.prefix) / "bin")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != Path(own_bin)]
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("MAVI_") and k != "VIRTUAL_ENV"}
    return {
        **env,
        "PATH": os.pathsep.join(path),
        "MAVI_MCP_DATA_DIR": str(data_dir),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


@pytest.mark.e2e
@pytest.mark.timeout(1200)
def test_the_readmes_first_two_commands_install_and_transcribe_in_a_fresh_copy(tmp_path: Path) -> None:
    commands, shown = first_steps()
    copy = tmp_path / "mavi-mcp"
    shutil.copytree(
        REPO,
        copy,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", "build", "dist"
        ),
    )
    done = subprocess.run(
        ["bash", "-c", f"set -e\n{commands[0]}\necho {MARK}\n{commands[1]}"],  # one shell: the venv stays active
        cwd=copy,
        env=fresh_environment(tmp_path / "data"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=1100,
        check=False,
    )
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert done.returncode == 0, (stdout + stderr)[-4000:]
    assert MARK in stdout, stdout[-4000:]
    stdout = stdout.split(MARK + "\n", 1)[1]  # what the second command printed
    assert (copy / ".venv" / "bin" / "mavi-mcp").exists()
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == len(shown)
    for line, expected in zip(lines, shown, strict=True):
        assert line.startswith(expected), (line, expected)
    assert "S0: Good day and thank you for standing by" in lines[0]  # speaker and first words of the call
    assert "S1: Uh, thank you, Sadie" in lines[1]
    assert re.search(r"Transcript tr_[0-9a-f]+ \(whisper, 3973 s, 17 speakers", stderr)
