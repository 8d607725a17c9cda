"""`MAVI_MCP_DATABASE_URL`: read as a secret, shown with host and database but never the password."""

from __future__ import annotations

import pytest

from mavi_mcp.database_url import check_database_url, mask_database_url
from mavi_mcp.errors import ConfigurationError
from mavi_mcp.settings import Settings


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://mavi:p%40ss-W0rd@db.example:5432/mavi?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            "postgresql://mavi:***@db.example:5432/mavi?sslmode=verify-full&sslrootcert=/etc/ca.pem",
        ),
        (
            "postgres://mavi@db/mavi?password=p%40ss-W0rd&sslmode=require",
            "postgres://mavi@db/mavi?password=***&sslmode=require",
        ),
        ("postgresql:///mavi?host=/run/postgresql", "postgresql:///mavi?host=/run/postgresql"),
        ("postgresql://mavi:p@ss-W0rd@h1:5432,h2:5433/mavi", "postgresql://mavi:***@h1:5432,h2:5433/mavi"),
    ],
)
def test_the_password_is_masked_and_the_rest_is_shown(url: str, shown: str) -> None:
    assert mask_database_url(url) == shown
    assert "W0rd" not in mask_database_url(url)


def test_text_that_is_not_a_url_is_shown_only_by_its_length() -> None:
    assert mask_database_url("host=db password=p-W0rd") == "…(23 chars)"


def test_only_postgresql_urls_are_accepted_and_a_refusal_does_not_echo_the_password() -> None:
    assert check_database_url("  postgresql://u:pw@h/db \n") == "postgresql://u:pw@h/db"
    for bad in ("mysql://u:Secret-W0rd@h/db", "host=h password=Secret-W0rd", "sqlite:///x.db"):
        with pytest.raises(ConfigurationError, match="must be a postgresql:// URL") as info:
            check_database_url(bad)
        assert "Secret-W0rd" not in str(info.value)


def test_settings_read_the_url_from_the_environment_as_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://mavi:Secret-W0rd-123@db.internal:5432/mavi?sslmode=require"
    monkeypatch.setenv("MAVI_MCP_DATABASE_URL", url)
    settings = Settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == url
    assert settings.masked()["database_url"] == "postgresql://mavi:***@db.internal:5432/mavi?sslmode=require"
    assert "Secret-W0rd" not in repr(settings)
    assert "Secret-W0rd" not in str(settings.masked())


def test_a_blank_database_url_means_the_sqlite_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAVI_MCP_DATABASE_URL", "  ")
    settings = Settings()
    assert settings.database_url is None
    assert settings.masked()["database_url"] == "(unset)"
