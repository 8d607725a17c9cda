"""The MAVI sandbox: a faithful simulator of the MAVI v2 API on real recordings' results.

- In process: `sandbox = create_app(SandboxConfig(...))`, then `async with sandbox.running():` and talk to
  `sandbox.app` through `httpx2.ASGITransport` (this is what `mavi-mcp --sandbox` does).
- Over HTTP: `python -m mavi_mcp.sandbox --port N`, then `MAVI_BASE_URL=http://127.0.0.1:N`.

Modules (each docstring names the vendor page behind what it simulates, and the reading taken where the pages
are silent): `app` (auth, accounts, rate limit, routes, uploads, async deliveries, the console), `answers` (the
vendor's texts and envelopes, uploads' placeholder results), `providers` (`speech-to-text` options), `catalog`
(the preloaded recordings), `derive` (shapes built from another real result), `faults` (fault injection).
"""

from mavi_mcp.sandbox.app import Sandbox, SandboxConfig, create_app
from mavi_mcp.sandbox.catalog import ASSETS, catalog_summary

__all__ = ["ASSETS", "Sandbox", "SandboxConfig", "catalog_summary", "create_app"]
