"""Fixtures of the compatibility suite: a slow sandbox (so a transcription is a LONG call), and the setup times."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compat.frameworks import built_for, cache_root, setup_seconds
from tests.conftest import SandboxServer, start_sandbox

LATENCY = 6.0
"""Seconds the sandbox adds to every MAVI answer: a transcription then takes longer than the 5 s tool-call
timeout openai-agents and google-adk (stdio) use by default, so each driver must use its framework's setting."""


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[SandboxServer]:
    server = start_sandbox("--latency", str(LATENCY), "--no-rate-limit")
    yield server
    server.process.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    root = cache_root()
    if not root.is_dir():
        return
    built = sorted((what, setup_seconds(env)) for env in root.iterdir() if (what := built_for(env)))
    if built:
        terminalreporter.write_line(
            f"compat environments in {root} (first-build seconds): "
            + ", ".join(f"{what} {seconds}" for what, seconds in built)
        )
