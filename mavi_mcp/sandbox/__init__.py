"""The MAVI sandbox: a faithful simulator of the MAVI v2 API on real recordings' results.

- In process: `sandbox = create_app(SandboxConfig(...))`, then `async with sandbox.running():` and talk to
  `sandbox.app` through `httpx2.ASGITransport` (this is what `mavi-mcp --sandbox` does).
- Over HTTP: `python -m mavi_mcp.sandbox --port N`, then `MAVI_BASE_URL=http://127.0.0.1:N`.

See `app` for the behaviour and the vendor pages behind it, `catalog` for the preloaded recordings.
"""

from mavi_mcp.sandbox.app import Sandbox, SandboxConfig, create_app
from mavi_mcp.sandbox.catalog import ASSETS, catalog_summary

__all__ = ["ASSETS", "Sandbox", "SandboxConfig", "catalog_summary", "create_app"]
