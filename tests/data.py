"""Locate and load the real recordings bundled with the package (`mavi_mcp/sandbox/data/<endpoint>/*.json`).

They are byte-identical copies of `../shared/data/mavi/` (VoxConverse, AMI, Earnings-21/22, AssemblyAI and
ElevenLabs recorded responses; credits in `mavi_mcp/sandbox/data/ATTRIBUTION.md`). Each folder is named after
the MAVI endpoint whose body it holds, so a test picks the wire model by folder.

Read through `importlib.resources`, so the helpers work from an installed wheel as well as from the source tree;
if `mavi_mcp.sandbox` cannot be opened as a resource package, the folder next to `mavi_mcp/__init__.py` is used.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import mavi_mcp
from mavi_mcp import shapes

SPEAKER_TURNS = shapes.SPEAKER_TURNS.name
WHISPER = shapes.WHISPER.name
WHISPER_SPEAKER = shapes.WHISPER_SPEAKER.name
WHISPER_CALLBACK = shapes.WHISPER_CALLBACK.name
MULTI_SPEAKER_CALLBACK = shapes.MULTI_SPEAKER_CALLBACK.name
ASSEMBLYAI = shapes.ASSEMBLYAI.name
ELEVENLABS = shapes.ELEVENLABS.name

FOLDERS = (
    SPEAKER_TURNS,
    WHISPER,
    WHISPER_SPEAKER,
    WHISPER_CALLBACK,
    MULTI_SPEAKER_CALLBACK,
    ASSEMBLYAI,
    ELEVENLABS,
)
"""The registry's shapes that have bundled recordings (every shape but the speaker-turn callback)."""

SHARED_MAVI_DATA = Path("/work/shared/data/mavi")
"""The shared originals; present on the development machine, usually absent in CI."""


@functools.cache
def data_root() -> Traversable:
    """The bundled `data/` folder as an importlib resource (or a plain path when that is unavailable)."""
    try:
        root = importlib.resources.files("mavi_mcp.sandbox").joinpath("data")
    except (ModuleNotFoundError, TypeError, ValueError):
        root = None
    if root is None or not root.is_dir():
        return Path(mavi_mcp.__file__).parent / "sandbox" / "data"
    return root


def folders() -> list[str]:
    """The bundled folders holding MAVI bodies (`*.json`), sorted, to check that `FOLDERS` misses none.

    Folders of other files (the sandbox's `raw/` source annotations) are not response bodies and are skipped.
    """
    return sorted(
        entry.name
        for entry in data_root().iterdir()
        if entry.is_dir() and any(child.name.endswith(".json") for child in entry.iterdir())
    )


def names(folder: str) -> list[str]:
    """The recordings in one endpoint folder, as file stems (`"4430051"`), sorted."""
    entries = [e.name for e in data_root().joinpath(folder).iterdir() if e.name.endswith(".json")]
    return sorted(name.removesuffix(".json") for name in entries)


def all_recordings() -> list[tuple[str, str]]:
    """Every bundled recording as `(folder, name)`, folder by folder."""
    return [(folder, name) for folder in FOLDERS for name in names(folder)]


@functools.cache
def raw(folder: str, name: str) -> bytes:
    """The body exactly as stored (bytes), cached: the large files are read once per test session."""
    return data_root().joinpath(folder).joinpath(f"{name}.json").read_bytes()


def load(folder: str, name: str) -> dict[str, Any]:
    """The body parsed as JSON (a fresh dict each call, so a test may change it)."""
    body = json.loads(raw(folder, name))
    assert isinstance(body, dict), f"{folder}/{name}.json is not a JSON object"
    return body  # pyright: ignore[reportUnknownVariableType]


def relative_files() -> list[str]:
    """Every bundled MAVI body as `folder/name.json`, sorted (the layout of `../shared/data/mavi/`)."""
    return sorted(f"{folder}/{name}.json" for folder in folders() for name in names(folder))
