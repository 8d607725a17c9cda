"""Tool parameters, each declared once: plain parameter types, and bundles whose fields become flat parameters.

A bundle is a pydantic model (`PageOptions`, and the provider option models of `mavi_mcp.options`). A tool
function declares one parameter of a bundle type; `expand_bundles` gives the tool the bundle's fields as flat
keyword parameters (what the agent sees in the schema), and rebuilds the bundle from them on each call, validating
field combinations in the one error route (`BundleError` -> `InputError`, "Nothing was sent or billed").
"""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import UnionType
from typing import (
    Annotated,
    Any,
    ClassVar,
    Generic,
    Literal,
    Optional,
    Self,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

import pydantic
from pydantic import Field, model_validator

from mavi_mcp.errors import InputError
from mavi_mcp.options import Bundle
from mavi_mcp.render.timefmt import parse_time
from mavi_mcp.render.view import Timestamps

R = TypeVar("R")
T = TypeVar("T")
B = TypeVar("B", bound="Bundle")

MIN_PAGE_TOKENS = 500
MAX_PAGE_TOKENS = 20000

# --- plain parameter types -----------------------------------------------------------------------

AssetId = Annotated[
    str,
    Field(min_length=1, max_length=200, description="From upload_media."),
]
TranscriptId = Annotated[str, Field(min_length=1, max_length=100, description="From a transcription tool.")]
TaskId = Annotated[str, Field(min_length=1, max_length=100, description="task_id returned by a tool.")]
WaitSeconds = Annotated[
    float | None,
    Field(
        ge=0,
        le=55,
        description="Wait before answering pending (default 40).",
    ),
]
Limit = Annotated[int, Field(ge=1, le=50, description="Per page.")]
ListCursor = Annotated[str | None, Field(max_length=500, description="next_cursor of the previous page.")]

MAX_LIST_DEPTH = 10_000
"""How far back the list tools page (items); past it next_cursor is null."""
_LIST_SLACK = 50
"""Extra rows read past a page, to find the previous page's last item when newer ones were added meanwhile."""

PageFormat = Literal["text", "json", "srt", "vtt", "rttm", "insights"]
"""The rendered formats (`render.view.Format`) and `insights` (`render.insights`: what the provider added)."""


# --- list pages ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListPage(Generic[T]):
    """One page of a newest-first list: `items`, and `next_cursor` (None on the last page)."""

    items: list[T]
    next_cursor: str | None


async def list_page(
    fetch: Callable[[int], Awaitable[list[T]]],
    key: Callable[[T], str],
    *,
    limit: int,
    cursor: str | None,
    scope: str,
) -> ListPage[T]:
    """The page of a newest-first list that `cursor` points to (the first page when None).

    `fetch(n)` returns the n newest items; `key` an item's id; `scope` names the list and its filters (a cursor is
    refused for another list or filter). A cursor holds the offset and the id of the page's last item: when newer
    items were added meanwhile, the next page starts after that item, so none repeats.

    Raises:
        InputError: a cursor that is not one of this list's.
    """
    offset, anchor = _read_list_cursor(cursor, scope) if cursor else (0, None)
    rows = await fetch(min(offset + limit + 1 + (_LIST_SLACK if anchor else 0), MAX_LIST_DEPTH + 1))
    start = offset
    if anchor is not None:
        start = next((i + 1 for i, row in enumerate(rows) if key(row) == anchor), offset)
    items = rows[start : start + limit]
    more = len(rows) > start + limit and start + limit < MAX_LIST_DEPTH
    following = _list_cursor(start + limit, key(items[-1]), scope) if more and items else None
    return ListPage(items, following)


def _list_cursor(offset: int, anchor: str, scope: str) -> str:
    raw = json.dumps({"o": offset, "a": anchor, "s": scope}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_list_cursor(cursor: str, scope: str) -> tuple[int, str | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.strip() + "=" * (-len(cursor.strip()) % 4)))
        offset, anchor, made_for = int(data["o"]), str(data["a"]), str(data["s"])
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise InputError("cursor: not a next_cursor of this list; omit it for the first page.") from None
    if made_for != scope or not 0 <= offset <= MAX_LIST_DEPTH:
        raise InputError("cursor: made for another list or filter; omit it for the first page.")
    return offset, anchor


# --- bundles -------------------------------------------------------------------------------------


def parse_window(start: float | str | None, end: float | str | None) -> tuple[float | None, float | None]:
    """The `start` / `end` tool arguments as SECONDS (None when not given): numbers, or `m:ss` / `h:mm:ss` clocks.

    Raises:
        InputError: a time that cannot be parsed, negative or non-finite, or `end` not after `start`.
    """
    try:
        a = parse_time(start) if start is not None else None
        b = parse_time(end) if end is not None else None
    except ValueError as exc:
        raise InputError(f"{exc}.") from None
    if a is not None and b is not None and b <= a:
        raise InputError(f"end ({b} s) must be after start ({a} s).")
    return a, b


class PageOptions(Bundle):
    """How a transcript page is cut and shown: every tool that returns a transcript page takes these.

    `start`/`end` are SECONDS or clock times; they limit what is SHOWN, not what a transcription bills. Each field's
    description is brief (it is repeated in every such tool); the details are said once, in `PAGE_HELP`.
    """

    label: ClassVar[str] = "page arguments"

    format: PageFormat = Field(
        default="text",
    )
    max_tokens: int | None = Field(
        default=None,
        ge=MIN_PAGE_TOKENS,
        le=MAX_PAGE_TOKENS,
        description="Page size in tokens (default 6000).",
    )
    start: float | str | None = Field(
        default=None,
        description="Window start: seconds or '12:34'.",
    )
    end: float | str | None = Field(default=None, description="Window end.")
    speakers: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = Field(
        default=None,
        max_length=100,
        description="Only these speakers: label, alias (S0) or name.",
    )
    timestamps: Timestamps = Field(
        default="auto",
    )

    @model_validator(mode="after")
    def _window(self) -> Self:
        """Refuse bad page arguments before anything is sent: a transcription is paid, a typo must cost nothing.

        Whether a speaker exists can only be told once the transcript does: an unknown one is refused after the
        result is stored (`_answers.answer_for_task`), with the transcript's id.
        """
        try:
            parse_window(self.start, self.end)
        except InputError as exc:
            raise ValueError(str(exc)) from None
        if any(not entry.strip() for entry in self.speakers or ()):
            raise ValueError("speakers: an entry is blank; give labels (SPEAKER_00, S0) or names")
        return self

    @property
    def window(self) -> tuple[float | None, float | None]:
        """`start`, `end` in SECONDS."""
        return parse_window(self.start, self.end)


PAGE_HELP = """\
Page arguments (every tool that returns a transcript page): format text (compact turn lines, best for reading), \
json (one segment object per line, also in structured content), srt / vtt (subtitles), rttm (speaker turns) or \
insights (summary, chapters, entities, sentiment, topics, faces... the provider added); max_tokens: page budget \
in estimated tokens (UTF-8 bytes / 3.5), 500-20000, default {page_tokens}, kept by next_cursor; start / end: seconds \
(754.5) or clock times ('12:34', '1:02:03'), only speech in the window is shown (the whole file is still billed); \
speakers: labels (SPEAKER_00), aliases (S0) or names, case-insensitive; timestamps (text only): auto (each turn, \
at least every 30 s), segments or none. Bad page arguments are refused before anything is sent or billed. \
wait_seconds: how long a paid tool waits before answering status "pending" with a task_id (default {wait_seconds:g} s, \
under the 60 s limit of common clients); the job continues either way and get_task(task_id) returns its result. \
List tools (list_tasks, list_transcripts) return next_cursor while more remains (null at the end)."""
"""The page arguments' details, said once (server instructions) instead of in every tool's schema; a template of
the server's `page_tokens` and `wait_seconds` (the defaults in effect)."""

DEFAULT_PAGE = PageOptions()
"""The page options of a call that gives none (a placeholder default in tool signatures; the flat parameters
carry the real defaults)."""


class BundleError(InputError):
    """A bundle's fields do not go together; the message lists every problem and says nothing was sent."""


def build_bundle(bundle: type[B], values: dict[str, Any]) -> B:
    """`bundle` from flat tool arguments (None means "not given").

    Raises:
        BundleError: a value or combination the bundle refuses, every problem listed.
    """
    given = {k: v for k, v in values.items() if v is not None}
    try:
        return bundle.model_validate(given)
    except pydantic.ValidationError as exc:
        problems = "; ".join(_problem(e) for e in exc.errors()[:8])
        raise BundleError(f"Invalid {bundle.label}: {problems}. Nothing was sent or billed.") from None


def _problem(error: Any) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "request"
    message = str(error["msg"]).removeprefix("Value error, ").rstrip(".")
    return message if where == "request" else f"{where}: {message}"


@functools.cache
def _flat_parameters(bundle: type[Bundle]) -> tuple[inspect.Parameter, ...]:
    """The bundle's fields as keyword parameters: the type with its constraints and description, and the default.

    Built once per bundle (`PageOptions` is expanded into seven tools at import)."""
    out: list[inspect.Parameter] = []
    for name, info in bundle.model_fields.items():
        annotation = info.annotation
        default = info.get_default(call_default_factory=True)
        meta = (
            Field(description=info.description, alias=info.alias) if info.alias else Field(description=info.description)
        )
        typed: Any = annotation if default is not None or _allows_none(annotation) else Optional[annotation]  # noqa: UP045
        out.append(
            inspect.Parameter(
                name,
                inspect.Parameter.KEYWORD_ONLY,
                default=default,
                annotation=Annotated[(typed, *info.metadata, meta)],  # pyright: ignore[reportInvalidTypeArguments]
            )
        )
    return tuple(out)


def _allows_none(annotation: Any) -> bool:
    """Whether pydantic accepts None for a field of type `annotation` (metadata already split off): `Any`, `None`,
    or a union with such a member. Read from the type, not by building a validator (53 at start-up)."""
    if annotation is Any or annotation is None or annotation is type(None):
        return True
    if get_origin(annotation) is Literal:
        return None in get_args(annotation)
    if get_origin(annotation) in (Union, UnionType):
        return any(_allows_none(member) for member in get_args(annotation))
    return False


def expand_bundles(fn: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """A tool function whose bundle-typed parameters are replaced by the bundles' fields, flat, in its signature.

    The wrapper rebuilds each bundle from those fields (`build_bundle`) and calls `fn` with it. Other parameters
    pass through unchanged. The flat names must not collide (checked here, at registration).
    """
    signature = inspect.signature(fn)
    hints = get_type_hints(fn, include_extras=True)
    bundles: dict[str, tuple[type[Bundle], list[str]]] = {}
    params: list[inspect.Parameter] = []
    for param in signature.parameters.values():
        hint = hints.get(param.name, param.annotation)
        if isinstance(hint, type) and issubclass(hint, Bundle):
            flat = _flat_parameters(hint)
            bundles[param.name] = (hint, [p.name for p in flat])
            params.extend(flat)
        else:
            params.append(param.replace(annotation=hint))
    names = [p.name for p in params]
    assert len(names) == len(set(names)), f"{fn.__name__}: bundle fields collide: {names}"
    # every parameter keyword-only (the SDK passes arguments by name), in declaration order
    flat_signature = signature.replace(
        parameters=[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params],
        return_annotation=hints.get("return", signature.return_annotation),
    )

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> R:
        for name, (bundle, fields) in bundles.items():
            kwargs[name] = build_bundle(bundle, {field: kwargs.pop(field, None) for field in fields})
        return await fn(*args, **kwargs)

    wrapper.__signature__ = flat_signature  # type: ignore[attr-defined]
    del wrapper.__wrapped__  # the SDK must read the flat signature, not the original one
    wrapper.__annotations__ = {p.name: p.annotation for p in flat_signature.parameters.values()}
    wrapper.__annotations__["return"] = flat_signature.return_annotation
    return wrapper


__all__ = [
    "DEFAULT_PAGE",
    "PAGE_HELP",
    "AssetId",
    "Bundle",
    "BundleError",
    "Limit",
    "ListCursor",
    "ListPage",
    "PageFormat",
    "PageOptions",
    "TaskId",
    "TranscriptId",
    "WaitSeconds",
    "build_bundle",
    "expand_bundles",
    "list_page",
    "parse_window",
]
