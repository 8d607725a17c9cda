"""Settings: environment names, keyword arguments over the environment, defaults, secrets never shown."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs
import pydantic
import pytest

from mavi_mcp.settings import DEFAULT_BASE_URL, Settings, default_data_dir, mask_secret

KEY = "sk-mavi-testkey123456"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No MAVI_* variable of the developer's shell leaks in; HOME is a fresh folder."""
    for name in list(os.environ):
        if name.upper().startswith("MAVI_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))


def test_defaults_without_any_environment() -> None:
    settings = Settings()
    assert settings.api_key is None
    assert settings.base_url == DEFAULT_BASE_URL == "https://mavi-backend.memories.ai/serve/api/v2"
    assert settings.data_dir is None
    assert settings.allowed_dirs == [Path.home()]
    assert settings.allowed_dirs == [Path(os.environ["HOME"])]
    assert settings.sandbox is False
    assert settings.transport == "stdio"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.rate_limit == 1.0
    assert settings.max_attempts == 4
    assert settings.max_upload_bytes == 3 * 1024**3


def test_data_dir_defaults_to_the_platform_user_data_dir() -> None:
    expected = Path(platformdirs.user_data_dir("mavi-mcp", appauthor=False))
    assert default_data_dir() == expected
    assert Settings().resolved_data_dir == expected
    assert expected.name == "mavi-mcp"


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_DATA_HOME is the Linux convention")
def test_data_dir_default_follows_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert Settings().resolved_data_dir == tmp_path / "xdg" / "mavi-mcp"


def test_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("MAVI_API_KEY", KEY)
    monkeypatch.setenv("MAVI_BASE_URL", "https://api.test/serve/api/v2/")
    monkeypatch.setenv("MAVI_MCP_DATA_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("MAVI_MCP_ALLOWED_DIRS", f"{a}{os.pathsep}{os.pathsep}{b}{os.pathsep} ")
    monkeypatch.setenv("MAVI_MCP_SANDBOX", "true")
    monkeypatch.setenv("MAVI_MCP_TRANSPORT", "streamable-http")
    monkeypatch.setenv("MAVI_MCP_HOST", "0.0.0.0")
    monkeypatch.setenv("MAVI_MCP_PORT", "9123")
    monkeypatch.setenv("MAVI_MCP_RATE_LIMIT", "0.5")
    monkeypatch.setenv("MAVI_MCP_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("MAVI_MCP_MAX_RETRY_WAIT", "7.5")
    monkeypatch.setenv("MAVI_MCP_CONNECT_TIMEOUT", "3")
    monkeypatch.setenv("MAVI_MCP_REQUEST_TIMEOUT", "60")
    monkeypatch.setenv("MAVI_MCP_MAX_UPLOAD_BYTES", "1048576")
    monkeypatch.setenv("MAVI_MCP_DOWNLOAD_TIMEOUT", "12")
    monkeypatch.setenv("MAVI_MCP_PAGE_TOKENS", "3000")
    monkeypatch.setenv("MAVI_MCP_WAIT_SECONDS", "5")
    monkeypatch.setenv("MAVI_MCP_LOG_LEVEL", "DEBUG")
    settings = Settings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == KEY
    assert settings.base_url == "https://api.test/serve/api/v2"  # trailing slash dropped
    assert settings.data_dir == tmp_path / "store"
    assert settings.resolved_data_dir == tmp_path / "store"
    assert settings.allowed_dirs == [a, b]  # os.pathsep-separated, blanks skipped, no JSON needed
    assert settings.sandbox is True
    assert settings.transport == "streamable-http"
    assert (settings.host, settings.port) == ("0.0.0.0", 9123)
    assert settings.rate_limit == 0.5
    assert settings.max_attempts == 2
    assert settings.max_retry_wait == 7.5
    assert settings.connect_timeout == 3
    assert settings.request_timeout == 60
    assert settings.max_upload_bytes == 1048576
    assert settings.download_timeout == 12
    assert settings.page_tokens == 3000
    assert settings.wait_seconds == 5
    assert settings.log_level == "DEBUG"


def test_every_other_field_is_named_mavi_mcp_and_its_name_upper_cased() -> None:
    for name, field in Settings.model_fields.items():
        expected = {"api_key": "MAVI_API_KEY", "base_url": "MAVI_BASE_URL"}.get(name, f"MAVI_MCP_{name.upper()}")
        assert field.validation_alias == expected, name


def test_keyword_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MAVI_API_KEY", "sk-mavi-from-environment-000")
    monkeypatch.setenv("MAVI_BASE_URL", "https://env.test")
    monkeypatch.setenv("MAVI_MCP_ALLOWED_DIRS", str(tmp_path / "env"))
    monkeypatch.setenv("MAVI_MCP_RATE_LIMIT", "3")
    monkeypatch.setenv("MAVI_MCP_SANDBOX", "false")
    settings = Settings(
        api_key=KEY,
        base_url="https://flag.test/",
        allowed_dirs=[tmp_path / "flag"],
        rate_limit=0,
        sandbox=True,
    )
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == KEY
    assert settings.base_url == "https://flag.test"
    assert settings.allowed_dirs == [tmp_path / "flag"]
    assert settings.rate_limit == 0
    assert settings.sandbox is True


def test_environment_is_read_when_settings_are_built_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().api_key is None
    monkeypatch.setenv("MAVI_API_KEY", KEY)
    key = Settings().api_key
    assert key is not None
    assert key.get_secret_value() == KEY


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_key_means_no_key(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    assert Settings(api_key=blank).api_key is None
    monkeypatch.setenv("MAVI_API_KEY", blank)
    assert Settings().api_key is None


def test_key_is_stripped_of_surrounding_whitespace() -> None:
    key = Settings(api_key=f"  {KEY}\n").api_key
    assert key is not None
    assert key.get_secret_value() == KEY


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("port", 70000),
        ("rate_limit", -1),
        ("max_attempts", 0),
        ("max_attempts", 11),
        ("request_timeout", 0),
        ("page_tokens", 10),
        ("transport", "carrier-pigeon"),
        ("log_level", "LOUD"),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        Settings(**{field: value})  # pyright: ignore[reportArgumentType]
    assert field in str(caught.value) or f"MAVI_MCP_{field.upper()}" in str(caught.value)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(pydantic.ValidationError):
        settings.rate_limit = 5  # pyright: ignore[reportAttributeAccessIssue]


def test_resolved_allowed_dirs_expand_home_and_follow_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    settings = Settings(allowed_dirs=[Path("~/music"), link])
    assert settings.resolved_allowed_dirs == [(Path(os.environ["HOME"]) / "music").resolve(), real.resolve()]


def test_masked_never_shows_the_key() -> None:
    settings = Settings(api_key=KEY, data_dir=Path("/srv/mavi"))
    shown = settings.masked()
    assert shown["api_key"] == "sk-m…(21 chars)"
    assert all(KEY not in value for value in shown.values())
    assert KEY not in repr(settings)
    assert KEY not in str(settings)
    assert shown["data_dir"] == "/srv/mavi"
    assert shown["base_url"] == DEFAULT_BASE_URL
    assert set(shown) == set(Settings.model_fields)


def test_masked_shows_unset_values_as_unset() -> None:
    shown = Settings().masked()
    assert shown["api_key"] == "(unset)"
    assert shown["data_dir"] == "(unset)"
    assert shown["allowed_dirs"] == os.environ["HOME"]


@pytest.mark.parametrize("secret", ["Q", "QWZX", "QWZXYVQW", "ZZ-shortkey-9", "sk-mavi-0123456789abcdef0123"])
def test_mask_secret_reveals_at_most_a_quarter_of_the_secret_and_never_more_than_four_characters(secret: str) -> None:
    masked = mask_secret(secret)
    revealed = next((i for i, (m, c) in enumerate(zip(masked, secret, strict=False)) if m != c), len(secret))
    assert revealed <= min(4, len(secret) // 4)
    assert masked.endswith(f"({len(secret)} chars)")


def test_mask_secret_of_nothing_is_unset() -> None:
    assert mask_secret("") == "(unset)"


def test_a_blank_allowed_dirs_variable_means_the_default_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAVI_MCP_ALLOWED_DIRS", "   ")
    assert Settings().allowed_dirs == [Path.home()]
