"""The error tree, the one status -> error mapping, redaction, and what an error says to the agent."""

from __future__ import annotations

from typing import Any

import pytest

from mavi_mcp.errors import (
    LIMIT_MESSAGE,
    AmbiguousLimitError,
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    InputError,
    MaviError,
    NotFoundError,
    OutOfCreditsError,
    RateLimitedError,
    RequestRejectedError,
    ResultError,
    ServerError,
    ServiceUnavailableError,
    error_for_response,
    redact,
)

KEY = "sk-mavi-testkey123456"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, RequestRejectedError),
        (401, AuthenticationError),
        (402, OutOfCreditsError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (405, RequestRejectedError),
        (409, RequestRejectedError),
        (415, RequestRejectedError),
        (422, RequestRejectedError),
        (429, RateLimitedError),
        (418, RequestRejectedError),  # an undocumented 4xx is still the request's fault
        (500, ServerError),
        (502, ServerError),
        (503, ServiceUnavailableError),
        (504, ServerError),
        (599, ServerError),
    ],
)
def test_each_status_maps_to_its_error_class(status: int, expected: type[APIError]) -> None:
    error = error_for_response(status, {"code": status, "msg": "something", "data": None})
    assert type(error) is expected
    assert error.status == status
    assert error.code == status
    assert error.api_message == "something"


def test_error_carries_status_code_message_request_id_retry_after_and_endpoint() -> None:
    error = error_for_response(
        429,
        {"code": "429", "msg": "Too many requests", "data": None},
        request_id="req-7f3a",
        retry_after=2.5,
        endpoint="sync-generate-audio",
    )
    assert isinstance(error, RateLimitedError)
    assert (error.status, error.code, error.api_message) == (429, "429", "Too many requests")
    assert (error.request_id, error.retry_after, error.endpoint) == ("req-7f3a", 2.5, "sync-generate-audio")


@pytest.mark.parametrize("text", [LIMIT_MESSAGE, f"  {LIMIT_MESSAGE}\n"])
def test_the_shared_limit_text_on_400_is_ambiguous(text: str) -> None:
    error = error_for_response(400, {"code": 400, "msg": text, "data": None})
    assert type(error) is AmbiguousLimitError
    assert isinstance(error, RequestRejectedError)  # callers that handle validation errors still catch it


def test_the_shared_limit_text_on_429_is_a_plain_rate_limit() -> None:
    error = error_for_response(429, {"code": 429, "msg": LIMIT_MESSAGE})
    assert type(error) is RateLimitedError


def test_ambiguous_limit_message_lists_the_likely_causes() -> None:
    text = str(error_for_response(400, {"code": 400, "msg": LIMIT_MESSAGE}, endpoint="sync-generate-speaker"))
    assert LIMIT_MESSAGE in text
    assert "cannot be told" in text
    assert "1 request/second rate limit" in text
    assert "unknown or deleted asset_id" in text
    assert "not processed yet" in text
    assert "unsupported model" in text


def test_asset_not_found_on_400_is_not_found() -> None:
    error = error_for_response(400, {"code": 400, "msg": "Asset not found", "data": None})
    assert type(error) is NotFoundError
    assert error.status == 400
    assert "upload_media" in str(error)


def test_other_400_messages_stay_validation_errors() -> None:
    error = error_for_response(400, {"code": 400, "msg": "asset_id cannot be null or empty", "data": None})
    assert type(error) is RequestRejectedError
    assert "asset_id cannot be null or empty" in str(error)
    webhook = error_for_response(400, {"code": 400, "msg": "An async request requires at least one webhook."})
    assert type(webhook) is RequestRejectedError


def test_callback_style_message_key_is_read() -> None:
    error = error_for_response(401, {"code": 401, "message": "Unauthorized"})
    assert error.api_message == "Unauthorized"
    empty_msg = error_for_response(401, {"code": 401, "msg": "", "message": "Unauthorized"})
    assert empty_msg.api_message == "Unauthorized"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("  Bad Gateway  ", "Bad Gateway"),
        ("<html>" + "x" * 500, "<html>" + "x" * 194),
        ("", None),
        (None, None),
        ([1, 2], None),
        ({"code": 500}, None),
        ({"code": 500, "msg": {"detail": "boom"}}, "{'detail': 'boom'}"),
    ],
    ids=["text", "long-text", "empty", "none", "list", "no-msg", "non-string-msg"],
)
def test_bodies_that_are_not_envelopes_still_map_by_status(body: Any, message: str | None) -> None:
    error = error_for_response(502, body)
    assert type(error) is ServerError
    assert error.api_message == message


def test_a_long_api_message_is_truncated() -> None:
    error = error_for_response(400, {"code": 400, "msg": "y" * 2000})
    assert error.api_message == "y" * 500


def test_a_key_echoed_by_the_api_is_redacted() -> None:
    error = error_for_response(401, {"code": 401, "msg": f"Invalid key {KEY} for this account"})
    assert KEY not in str(error)
    assert error.api_message == "Invalid key [redacted] for this account"
    text_error = error_for_response(401, f"bad key {KEY}")
    assert KEY not in str(text_error)


def test_redact_replaces_the_given_secrets_and_anything_key_shaped() -> None:
    assert redact(f"a {KEY} b {KEY}") == "a [redacted] b [redacted]"
    assert redact("key sk-mai-ABCdef_0123-xyz.") == "key [redacted]."
    assert redact("custom-secret-value here", "custom-secret-value") == "[redacted] here"
    assert redact("nothing secret", "") == "nothing secret"
    assert redact("sk-short stays") == "sk-short stays"  # too short to be a key
    assert redact("task-1234567890 is not a key") == "task-1234567890 is not a key"


def test_str_shows_title_endpoint_status_message_request_id_and_hint() -> None:
    error = AuthenticationError(
        "MAVI refused the API key.",
        status=401,
        code=401,
        api_message="Unauthorized",
        request_id="req-1",
        endpoint="upload",
    )
    text = str(error)
    assert text.startswith("MAVI refused the API key. (upload; HTTP 401; API said: 'Unauthorized'; request id req-1) ")
    assert "MAVI_API_KEY" in text
    assert "without 'Bearer'" in text


def test_str_without_details_has_no_empty_parentheses() -> None:
    text = str(APITimeoutError("MAVI did not answer in time."))
    assert text.startswith("MAVI did not answer in time. No answer from MAVI in time.")
    assert "()" not in text
    assert "mode='async'" in text


@pytest.mark.parametrize(
    ("cls", "words"),
    [
        (OutOfCreditsError, ["out of credits", "Top up"]),
        (NotFoundError, ["asset_id"]),
        (RequestRejectedError, ["Fix the request"]),
        (RateLimitedError, ["1 request per second", "Wait"]),
        (ServerError, ["did not resend", "billed"]),
        (APIConnectionError, ["Could not reach", "MAVI_BASE_URL"]),
    ],
)
def test_each_error_class_says_what_to_do_next(cls: type[APIError], words: list[str]) -> None:
    text = str(cls("Title.", status=None))
    for word in words:
        assert word in text


def test_every_error_is_a_mavi_error() -> None:
    for cls in (ConfigurationError, InputError, ResultError, APIError, AmbiguousLimitError, APIConnectionError):
        assert issubclass(cls, MaviError)
    for cls in (AuthenticationError, OutOfCreditsError, NotFoundError, RequestRejectedError, RateLimitedError):
        assert issubclass(cls, APIError)
    assert issubclass(ServerError, APIError)
    assert issubclass(APITimeoutError, APIError)


def test_only_the_vendors_asset_not_found_text_makes_a_400_a_not_found_error() -> None:
    assert type(error_for_response(400, {"code": 400, "msg": "Asset not found"})) is NotFoundError
    assert type(error_for_response(400, {"code": 400, "msg": "Webhook not found in request"})) is RequestRejectedError
