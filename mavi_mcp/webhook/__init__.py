"""The webhook: where MAVI delivers every async result of an account, by concern.

| module | concern |
| --- | --- |
| `secret` | the secret path segment, the route, the URL to paste into the MAVI console |
| `ingest` | store a delivery durably, then apply it to its task once (shape from the registry) |
| `receiver` | the HTTP route: secret check, content type, size cap, acknowledge after ingest |
| `hosting` | socket, uvicorn beside another server, heartbeat: shared by the embedded and standalone receiver |
"""

from mavi_mcp.webhook.hosting import EmbeddedServer, bind, heartbeat, serve_receiver
from mavi_mcp.webhook.ingest import Ingested, ingest, reapply
from mavi_mcp.webhook.receiver import Receiver, receiver_app
from mavi_mcp.webhook.secret import ROUTE, SECRET_FILE, announce, load_or_create_secret, public_url, webhook_path

__all__ = [
    "ROUTE",
    "SECRET_FILE",
    "EmbeddedServer",
    "Ingested",
    "Receiver",
    "announce",
    "bind",
    "heartbeat",
    "ingest",
    "load_or_create_secret",
    "public_url",
    "reapply",
    "receiver_app",
    "serve_receiver",
    "webhook_path",
]
