"""The clients and agent frameworks of the compatibility suite, and the environments they run in.

Each Python framework gets its OWN virtual environment (some pin `mcp` 1.x, which cannot share the test
environment's `mcp` 2.x), built on first use by `framework_python` (with `uv` when installed, else pip) into a
cache folder and reused while its requirements stay the same: `$MAVI_MCP_COMPAT_CACHE`, else
`<user cache dir>/mavi-mcp/compat` (on Linux `~/.cache/mavi-mcp/compat`). The TypeScript SDK client gets Node 22
and the SDK from the npm registry the same way (`node_environment`). A framework whose environment cannot be
built is skipped with uv's, pip's or npm's reason.

Setup times, first build, 2 cores shared with other jobs (seconds): with uv, 4-8 per framework with a warm uv
cache and 14 for google-adk with a cold one; with pip, 25 (mcp 1.x) to 200 (llama-index), 90-240 under heavy
load; Node 22 + the TypeScript SDK + the Inspector with npm, 31-45. Each build's time is kept in its `ready.json`
and printed at the end of the session.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

INSTALL_TIMEOUT = 1200.0
"""Seconds allowed to build one environment."""

NODE_PACKAGES = ("@modelcontextprotocol/sdk@1.32.2", "@modelcontextprotocol/inspector@2.12.0")
NODE_VERSION = "22.23.3"


@dataclass(frozen=True)
class Framework:
    """A client or framework: its pip requirements (empty: runs in the test environment) and driver script.

    `runtime`: "python" (the driver runs in the framework's environment), "node" (Node 22 runs the driver), or
    "inspector" (the test environment's Python runs the driver, which runs the Inspector CLI on Node 22).
    `structured_only` names the case in which the framework hands its model the structured content INSTEAD of
    the text, so that today no transcript word reaches the model (issue 14); its test is a strict xfail.
    """

    name: str
    requirements: tuple[str, ...]
    driver: str
    options: dict[str, object] = field(default_factory=dict[str, object])
    structured_only: str | None = None
    runtime: str = "python"


FRAMEWORKS: tuple[Framework, ...] = (
    Framework("mcp-python-2.x", (), "drive_mcp_python.py"),
    Framework("mcp-python-1.x", ("mcp==1.30.0",), "drive_mcp_python.py"),
    Framework(
        "pydantic-ai",
        ("pydantic-ai-slim[mcp]==2.68.0",),
        "drive_pydantic_ai.py",
    ),
    Framework("openai-agents", ("openai-agents==0.24.0",), "drive_openai_agents.py"),
    Framework(
        "openai-agents-structured",
        ("openai-agents==0.24.0",),
        "drive_openai_agents.py",
        options={"use_structured_content": True},
    ),
    Framework("langchain-mcp-adapters", ("langchain-mcp-adapters==0.3.2",), "drive_langchain.py"),
    Framework("llama-index-tools-mcp", ("llama-index-tools-mcp==0.6.0",), "drive_llama_index.py"),
    Framework("google-adk", ("google-adk[mcp]==2.13.0",), "drive_google_adk.py"),
    Framework("typescript-sdk", (), "drive_typescript.mjs", runtime="node"),
    Framework("mcp-inspector-cli", (), "drive_inspector.py", runtime="inspector"),
)

DRIVERS = Path(__file__).resolve().parent / "drivers"


class Unavailable(Exception):
    """An environment could not be built here; the message says why (for the skip reason)."""


def cache_root() -> Path:
    configured = os.environ.get("MAVI_MCP_COMPAT_CACHE")
    return Path(configured) if configured else Path(platformdirs.user_cache_dir("mavi-mcp")) / "compat"


def _key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def _build(target: Path, steps: list[list[str]], what: str) -> float:
    """Run `steps` to build `target` (`ready.json` is written last: a half-built folder is rebuilt); seconds taken."""
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    for step in steps:
        command = [part.replace("{dir}", str(target)) for part in step]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(f"{what}: {exc}") from None
        if done.returncode != 0:
            tail = " | ".join(line for line in (done.stdout + done.stderr).splitlines() if line.strip())[-600:]
            raise Unavailable(f"{what}: {' '.join(command[:3])} ... exited {done.returncode}: {tail}")
    seconds = round(time.monotonic() - started, 1)
    (target / "ready.json").write_text(json.dumps({"what": what, "seconds": seconds}))
    return seconds


def _uv() -> str | None:
    """The `uv` command (a dev dependency; about ten times faster than pip here), if installed."""
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def setup_seconds(env: Path) -> float | None:
    """The seconds the environment at `env` took to build (from its `ready.json`), if known."""
    try:
        return float(json.loads((env / "ready.json").read_text())["seconds"])
    except (OSError, ValueError, KeyError):
        return None


def built_for(env: Path) -> str | None:
    """What the environment at `env` was built for (from its `ready.json`), or None if it is not ready."""
    try:
        return str(json.loads((env / "ready.json").read_text())["what"])
    except (OSError, ValueError, KeyError):
        return None


def framework_python(framework: Framework) -> Path:
    """The Python interpreter of `framework`'s own virtual environment, built on first use.

    Raises:
        Unavailable: the environment cannot be built (no network, a requirement that does not install).
    """
    if not framework.requirements:
        return Path(sys.executable)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    env = cache_root() / f"py{version}-{_key(version, *framework.requirements)}"
    if not (env / "ready.json").exists():
        python = str(env / "bin" / "python")
        uv = _uv()
        if uv is not None:
            steps = [
                [uv, "venv", "--quiet", "--python", sys.executable, "{dir}"],
                [uv, "pip", "install", "--quiet", "--python", python, *framework.requirements],
            ]
        else:
            steps = [
                [sys.executable, "-m", "venv", "{dir}"],
                [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *framework.requirements],
            ]
        _build(env, steps, f"{framework.name} ({' '.join(framework.requirements)})")
    return env / "bin" / "python"


def node_environment() -> tuple[Path, Path]:
    """(node binary, node_modules) with Node 22, the MCP TypeScript SDK and the Inspector, from the npm registry.

    Raises:
        Unavailable: npm is missing or the packages cannot be installed.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm is not installed (Node 22 and the SDK come from the npm registry through npm)")
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    if arch is None:
        raise Unavailable(f"no Node package for the machine {platform.machine()!r}")
    node_package = f"node-{sys.platform}-{arch}@{NODE_VERSION}"
    env = cache_root() / f"node-{_key(node_package, *NODE_PACKAGES)}"
    if not (env / "ready.json").exists():
        _build(
            env,
            [
                [
                    npm,
                    "install",
                    "--prefix",
                    "{dir}",
                    "--no-audit",
                    "--no-fund",
                    "--ignore-scripts",
                    "--loglevel=error",
                    node_package,
                    *NODE_PACKAGES,
                ],
            ],
            f"Node {NODE_VERSION} and {' '.join(NODE_PACKAGES)}",
        )
    return env / "node_modules" / ".bin" / "node", env / "node_modules"
