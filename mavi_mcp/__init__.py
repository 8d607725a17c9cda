"""mavi-mcp: an MCP server for the memories.ai MAVI transcription API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mavi-mcp")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
