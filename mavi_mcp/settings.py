"""One settings object for the server, with one precedence: CLI flag > environment > default.

Nothing here runs at import time: `Settings()` reads the environment when it is built, and the CLI
(`mavi_mcp.cli`) passes its flags as keyword arguments, which pydantic-settings ranks above the environment.

Environment variables (the README's table is generated from the same names):

| variable | meaning |
| --- | --- |
| `MAVI_API_KEY` | MAVI API key, sent as `Authorization: <key>` (no `Bearer`). Secret. |
| `MAVI_BASE_URL` | API base, default `https://mavi-backend.memories.ai/serve/api/v2`. |
| `MAVI_MCP_DATA_DIR` | where the SQLite store lives; default the platform's per-user data directory. |
| `MAVI_MCP_ALLOWED_DIRS` | `os.pathsep`-separated roots `upload_media` may read; default the user's home. |
| `MAVI_MCP_*` | every other field below, upper-cased. |
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, cast

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mavi_mcp import toolsets
from mavi_mcp.database_url import mask_database_url

DEFAULT_BASE_URL = "https://mavi-backend.memories.ai/serve/api/v2"
APP_NAME = "mavi-mcp"

Transport = Literal["stdio", "sse", "streamable-http"]


def default_data_dir() -> Path:
    """The platform's per-user data directory for mavi-mcp (platformdirs), e.g. `~/.local/share/mavi-mcp`."""
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


class Settings(BaseSettings):
    """Server configuration. Build with `Settings()` (environment) or `Settings(field=value)` (CLI/tests).

    Times are in seconds, sizes in bytes unless the name says otherwise.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    api_key: SecretStr | None = Field(
        default=None,
        validation_alias="MAVI_API_KEY",
        description="MAVI API key (memories.ai console -> API keys). Sent as the Authorization header.",
    )
    base_url: str = Field(default=DEFAULT_BASE_URL, validation_alias="MAVI_BASE_URL", description="MAVI API base URL.")
    data_dir: Path | None = Field(
        default=None,
        validation_alias="MAVI_MCP_DATA_DIR",
        description="Directory of the SQLite store (transcripts, tasks, webhook deliveries).",
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias="MAVI_MCP_DATABASE_URL",
        description="PostgreSQL URL (postgresql://user:password@host:5432/db?sslmode=verify-full) for a store shared "
        "by several replicas; unset: the SQLite file in the data directory. The password is never shown.",
    )
    allowed_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [Path.home()],
        validation_alias="MAVI_MCP_ALLOWED_DIRS",
        description="Roots that upload_media may read, os.pathsep-separated in the environment.",
    )
    sandbox: bool = Field(
        default=False,
        validation_alias="MAVI_MCP_SANDBOX",
        description="Serve against the built-in MAVI simulator instead of the real API (no key, no network).",
    )

    transport: Transport = Field(default="stdio", validation_alias="MAVI_MCP_TRANSPORT")
    host: str = Field(default="127.0.0.1", validation_alias="MAVI_MCP_HOST")
    port: int = Field(default=8000, ge=0, le=65535, validation_alias="MAVI_MCP_PORT")

    rate_limit: float = Field(
        default=1.0,
        ge=0,
        validation_alias="MAVI_MCP_RATE_LIMIT",
        description="Requests per second per API key sent to MAVI (the vendor's limit is 1). 0 disables pacing.",
    )
    max_attempts: int = Field(
        default=4,
        ge=1,
        le=10,
        validation_alias="MAVI_MCP_MAX_ATTEMPTS",
        description="Attempts per API request, first try included, for failures that are safe to retry.",
    )
    max_retry_wait: float = Field(
        default=30.0,
        ge=0,
        validation_alias="MAVI_MCP_MAX_RETRY_WAIT",
        description="Longest single wait between attempts, Retry-After included (seconds).",
    )
    connect_timeout: float = Field(default=10.0, gt=0, validation_alias="MAVI_MCP_CONNECT_TIMEOUT")
    request_timeout: float = Field(
        default=900.0,
        gt=0,
        validation_alias="MAVI_MCP_REQUEST_TIMEOUT",
        description="Read timeout for one API request (seconds); sync transcription of long files is slow.",
    )
    max_upload_bytes: int = Field(
        default=3 * 1024**3,
        gt=0,
        validation_alias="MAVI_MCP_MAX_UPLOAD_BYTES",
        description="Largest file upload_media sends (bytes). Default 3 GB, the vendor's documented upload cap.",
    )
    download_timeout: float = Field(
        default=300.0,
        gt=0,
        validation_alias="MAVI_MCP_DOWNLOAD_TIMEOUT",
        description="Total time allowed to download a media URL before uploading it (seconds).",
    )
    allow_private_urls: bool = Field(
        default=False,
        validation_alias="MAVI_MCP_ALLOW_PRIVATE_URLS",
        description="Let upload_media download from loopback, private and link-local addresses (a media server "
        "on your LAN). Off by default: a caller could otherwise read the server's own network.",
    )
    page_tokens: int = Field(
        default=6000,
        ge=500,
        le=20000,
        validation_alias="MAVI_MCP_PAGE_TOKENS",
        description="Default page budget of transcript text returned to the agent (estimated tokens).",
    )
    structured_text: bool = Field(
        default=True,
        validation_alias="MAVI_MCP_STRUCTURED_TEXT",
        description="Put the page text in structured content too (for clients that hand their model only that part); "
        "off for clients that show the model both parts.",
    )
    wait_seconds: float = Field(
        default=40.0,
        ge=0,
        le=3600,
        validation_alias="MAVI_MCP_WAIT_SECONDS",
        description="How long a transcription tool waits for its job before answering with a task handle.",
    )
    pending_horizon: float = Field(
        default=3600.0,
        gt=0,
        validation_alias="MAVI_MCP_PENDING_HORIZON",
        description="SECONDS an async MAVI task may stay pending before get_task says plainly that no result has "
        "arrived and what to check (the webhook URL and the MAVI console's webhook setting).",
    )
    webhook_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        validation_alias="MAVI_MCP_WEBHOOK_PORT",
        description="In stdio mode, also run the webhook receiver on this port (same process, same store).",
    )
    webhook_host: str = Field(
        default="127.0.0.1",
        validation_alias="MAVI_MCP_WEBHOOK_HOST",
        description="Bind address of the stdio-mode and standalone webhook receiver.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        validation_alias="MAVI_MCP_WEBHOOK_SECRET",
        description="Secret path segment of the webhook URL; generated and kept in the data directory if unset.",
    )
    webhook_public_url: str | None = Field(
        default=None,
        validation_alias="MAVI_MCP_WEBHOOK_PUBLIC_URL",
        description="Public HTTPS base (e.g. your tunnel) in front of the receiver, to print the URL to paste.",
    )
    webhook_max_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        validation_alias="MAVI_MCP_WEBHOOK_MAX_BYTES",
        description="Largest webhook body accepted (bytes); larger ones get HTTP 413.",
    )
    auth_token: SecretStr | None = Field(
        default=None,
        validation_alias="MAVI_MCP_AUTH_TOKEN",
        description="Bearer token required on the HTTP MCP endpoint (not on the webhook route, which has its own "
        "secret).",
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="MAVI_MCP_ALLOWED_HOSTS",
        description="Public host names (a reverse proxy's, e.g. mcp.example.com) accepted in the Host and Origin "
        "headers of the HTTP transports, comma-separated; loopback names are always accepted on a loopback bind.",
    )
    replica_name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
        validation_alias="MAVI_MCP_REPLICA_NAME",
        description="This replica's name behind a reverse proxy (letters, digits, - and _): streamable-HTTP session "
        "ids are issued as <name>.<id>, so the proxy can route a 2025 session-based client to the replica holding it.",
    )
    request_state_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list[SecretStr],
        validation_alias="MAVI_MCP_REQUEST_STATE_KEYS",
        description="Secrets (32+ characters each, comma-separated; the first seals) that every replica uses to seal "
        "and open MCP requestState, so a stateless request's next round may land on any replica. Unset: a key "
        "made at start-up, good for one process only.",
    )
    lease_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        validation_alias="MAVI_MCP_LEASE_SECONDS",
        description="PostgreSQL store: how long a running job's lease lasts (seconds, renewed every third of it); "
        "another replica fails the jobs of a replica that stopped renewing once their lease ran out.",
    )
    allow_unauthenticated: bool = Field(
        default=False,
        validation_alias="MAVI_MCP_ALLOW_UNAUTHENTICATED",
        description="Allow serving HTTP on a non-loopback address without MAVI_MCP_AUTH_TOKEN.",
    )
    confirm_above_usd: float = Field(
        default=1.0,
        ge=0,
        validation_alias="MAVI_MCP_CONFIRM_ABOVE_USD",
        description="A paid call estimated above this many US dollars asks the user first (MCP elicitation); "
        "0 asks before every paid call.",
    )
    daily_budget_usd: float | None = Field(
        default=None,
        gt=0,
        validation_alias="MAVI_MCP_DAILY_BUDGET_USD",
        description="Refuse a paid call that would take today's spend (UTC day, from the store's ledger) past this "
        "many US dollars. Unset: no budget.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", validation_alias="MAVI_MCP_LOG_LEVEL"
    )
    tools: str = Field(
        default=toolsets.DEFAULT,
        validation_alias="MAVI_MCP_TOOLS",
        description="Tools to expose, comma-separated tool and group names (core, whisper, assemblyai, elevenlabs, "
        "async, read-only, all); see `tool_names`.",
    )

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: str) -> str:
        toolsets.parse_selection(value)  # an unknown name fails here, at start-up, listing the valid ones
        return value

    @property
    def tool_names(self) -> tuple[str, ...]:
        """The tools this server exposes (`toolsets.parse_selection` of `tools`), in listing order."""
        return toolsets.parse_selection(self.tools)

    @field_validator("allowed_dirs", mode="before")
    @classmethod
    def _split_pathsep(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part for part in value.split(os.pathsep) if part.strip()]
            return parts or [Path.home()]  # blank means unset, like a blank key: default to home
        return value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("request_state_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            items = cast(list[object], value)
            texts = [item.get_secret_value() if isinstance(item, SecretStr) else str(item) for item in items]
            for n, text in enumerate(texts, start=1):
                if len(text.encode()) < 32:
                    raise ValueError(
                        f"MAVI_MCP_REQUEST_STATE_KEYS key {n} has {len(text.encode())} bytes; each needs at least 32 "
                        "random bytes: `python -c 'import secrets; print(secrets.token_hex(32))'`"
                    )
            return texts
        return value

    @field_validator("auth_token", mode="before")
    @classmethod
    def _token_not_blank(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not text.strip():
            raise ValueError(
                "MAVI_MCP_AUTH_TOKEN is set but empty, so no client could ever authenticate. Set it to a long "
                "random value (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) or unset it"
            )
        return text.strip() if isinstance(text, str) else value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _secret_is_url_safe(cls, value: object) -> object:
        from mavi_mcp.secrecy import webhook_secret_problem

        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not text.strip():
            return None  # blank means unset: one is generated and kept in the data directory
        if isinstance(text, str) and (problem := webhook_secret_problem(text.strip())):
            raise ValueError(problem)
        return text.strip() if isinstance(text, str) else value

    @field_validator("database_url", mode="before")
    @classmethod
    def _blank_url_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_key", mode="before")
    @classmethod
    def _blank_key_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str):
            return value.strip()
        return value

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def resolved_data_dir(self) -> Path:
        """`data_dir`, or the platform default when unset (not created here)."""
        return self.data_dir if self.data_dir is not None else default_data_dir()

    @property
    def store_dir(self) -> Path:
        """Where this configuration's store lives: the data dir, or its `sandbox/` folder in sandbox mode."""
        return self.resolved_data_dir / "sandbox" if self.sandbox else self.resolved_data_dir

    @property
    def resolved_allowed_dirs(self) -> list[Path]:
        """`allowed_dirs` with `~` expanded and symlinks resolved, so containment checks compare real paths."""
        return [Path(os.path.expanduser(p)).resolve() for p in self.allowed_dirs]

    def masked(self) -> dict[str, str]:
        """Every setting as display text with secrets masked (for `--check` and logs)."""
        shown: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "database_url" and isinstance(value, SecretStr):
                shown[name] = mask_database_url(value.get_secret_value())  # host and database, not the password
            elif isinstance(value, SecretStr):
                shown[name] = mask_secret(value.get_secret_value())
            elif value is None:
                shown[name] = "(unset)"
            elif name in ("base_url", "webhook_public_url"):
                from mavi_mcp.secrecy import mask_url

                shown[name] = mask_url(str(value))  # user:password and query may hold credentials
            elif isinstance(value, list):
                shown[name] = os.pathsep.join(str(v) for v in value)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            else:
                shown[name] = str(value)
        return shown


def mask_secret(secret: str) -> str:
    """A secret as `sk-m…(40 chars)`: enough to recognise which key is set, never enough to use it.

    Secrets shorter than 16 characters show no prefix at all (four characters would be a large part of them).
    """
    if not secret:
        return "(unset)"
    if len(secret) < 16:
        return f"…({len(secret)} chars)"
    return f"{secret[:4]}…({len(secret)} chars)"
