"""The one path a paid transcription takes: call -> normalize -> store -> (the tool) answers.

A tool builds a `Transcription` (which shape, the request body, what to keep with the task) and hands it to
`transcribe()`:

- a sync endpoint runs as a server-owned job (`jobs.Jobs`): the job's task id is known before anything is sent,
  so the transcript is normalized with it; the transcript and the raw body it came from are stored, and the task
  completed, in one transaction;
- an async endpoint is started (`start_async`) as a server-owned job too, so that a slow answer to the start
  request never holds the tool past its wait: the job's task (the caller's claim id) points at MAVI's task once
  MAVI names it (`result[STARTED_AS]`, which `get_task`, `list_tasks` and the waits follow); MAVI's task is recorded
  as a pending task that the webhook receiver completes with the callback shape the registry names for that
  endpoint (`shapes.callback_for`).

Either way the caller gets a task id and waits for it (`tools/_answers.wait_for`). Media URLs in the request are sent
in full but never stored or shown with their secrets (`media.shown_url`, `media.scrub_url_secrets`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from mavi_mcp.client import may_have_been_processed, task_id_in_raw
from mavi_mcp.errors import APIError, InputError, MaviError, ResultError
from mavi_mcp.jobs import Outcome
from mavi_mcp.ledger import rename_charge
from mavi_mcp.media import scrub_url_secrets, scrub_url_secrets_in_raw
from mavi_mcp.normalize import Context
from mavi_mcp.runtime import Runtime
from mavi_mcp.shapes import Shape, callback_for

logger = logging.getLogger(__name__)

Mode = Literal["auto", "sync", "async"]


@dataclass(frozen=True)
class Transcription:
    """A paid transcription request.

    Attributes:
        shape: the registry entry: endpoint, wire model, normalizer, default model (`mavi_mcp.shapes`). For an async
            request, the callback shape its result will arrive as.
        body: the JSON body sent to MAVI as given (URLs in full); the shape's fixed fields are added by the client.
        tool: the tool's name, kept with the task.
        asset_id: the uploaded asset, when the source is one.
        audio_url: the audio URL as `media.shown_url` shows it, when the source is a URL.
        params: what is kept with the task (never a secret: URLs in their shown form).
        secret_urls: URLs sent in full whose secrets must be taken out of errors and raw answers.
        model: the model the request names (else the shape's default).
    """

    shape: Shape
    body: dict[str, Any]
    tool: str
    asset_id: str | None = None
    audio_url: str | None = None
    params: dict[str, Any] = field(default_factory=dict[str, Any])
    secret_urls: tuple[str, ...] = ()
    model: str | None = None


async def transcribe(rt: Runtime, request: Transcription, *, api_key: str | None, job_id: str | None = None) -> str:
    """Run `request` on its shape's endpoint; returns the task id to wait for: a local job's, at once.
    `job_id`: the id the job runs under (claimed in the ledger first: `jobs.new_job_id()`, or for an async start
    a provisional `billing.PROVISIONAL` id, whose ledger row moves to MAVI's task id once MAVI names it); else new.

    An async start runs as a job whose task completes with `{STARTED_AS: MAVI's task id}` as soon as MAVI answers
    (or fails with `start_async`'s error).

    Raises:
        InputError: an async request while no webhook receiver runs (nothing is sent).
    """
    if request.shape.callback:
        if not await receiver_available(rt):
            raise InputError(NO_RECEIVER)

        async def start(pointer: str) -> Outcome:
            mavi_task = await start_async(rt, request, api_key=api_key)
            if mavi_task != pointer:
                await rt.store.in_transaction(lambda db: rename_charge(db, pointer, mavi_task), exclusive=False)
            return Outcome(result={STARTED_AS: mavi_task})

        return await rt.jobs.start(
            start,
            tool=request.tool,
            endpoint=request.shape.endpoint.name,
            asset_id=request.asset_id,
            params=request.params,
            task_id=job_id,
        )

    async def work(task_id: str) -> Outcome:
        shape = request.shape
        try:
            reply = await rt.client.transcribe(shape, request.body, api_key=api_key)
        except MaviError as exc:
            _hide_url_secrets(exc, request.secret_urls)
            raise
        raw = scrub_url_secrets_in_raw(reply.raw, *request.secret_urls)
        context = Context(
            asset_id=request.asset_id,
            audio_url=request.audio_url,
            task_id=task_id,
            sandbox=rt.sandbox,
            model=request.model or shape.default_model,
        )
        try:
            transcript = shape.normalize(reply.data, context)
        except ResultError as exc:
            raise ResultError(f"{exc} The raw answer was kept.", raw=raw) from None
        return Outcome(transcript=transcript, raw=raw, shape=shape.name)

    return await rt.jobs.start(
        work,
        tool=request.tool,
        endpoint=request.shape.endpoint.name,
        asset_id=request.asset_id,
        params=request.params,
        task_id=job_id,
    )


async def receiver_available(rt: Runtime) -> bool:
    """True when async results can arrive: a receiver in this process, or a live one sharing this store."""
    if rt.receiver_here is not None:
        return True
    return bool(await rt.store.live_receivers())


async def webhook_verified(rt: Runtime) -> bool:
    """True when MAVI callbacks are known to reach this store (sandbox, or one has been received before)."""
    return rt.sandbox or (await rt.store.delivery_stats()).verified


async def choose_mode(rt: Runtime, mode: Mode) -> Literal["sync", "async"]:
    """`mode` as the endpoint to use: `auto` is async only when a receiver runs and MAVI callbacks have reached it.

    Raises:
        InputError: `async` asked for while no receiver runs (nothing is sent).
    """
    if mode == "sync":
        return "sync"
    if mode == "async":
        if not await receiver_available(rt):
            raise InputError(NO_RECEIVER)
        return "async"
    return "async" if await receiver_available(rt) and await webhook_verified(rt) else "sync"


async def start_async(rt: Runtime, request: Transcription, *, api_key: str | None) -> str:
    """Start an async MAVI task and record it; the pair is shielded from cancellation so no task is orphaned.

    Returns MAVI's task id (32 hex digits), recorded as a pending task. An answer that cannot be parsed (cut off
    on the way) but holds one complete task id (`client.task_id_in_raw`) counts as an answer: the task is recorded
    under that id, and the raw answer is kept in the store's raw_results with it.

    Raises:
        InputError: no webhook receiver (nothing sent).
        ResultError: MAVI answered with a body whose task id cannot be read; the body is kept in the store's
            raw_results, and the message says the task may be running (and billed) and where its result will show.
        APIError: the request failed (see `MaviClient`); when it may have been processed (read timeout, connection
            failure after sending, 5xx other than 503) the message says where the result would show and to check
            list_tasks before starting again.
        MaviError: any other failure (no key configured).
    """
    endpoint = request.shape.endpoint
    assert callback_for(endpoint.name) is request.shape, f"{request.shape.name} is not an async shape"
    if not await receiver_available(rt):
        raise InputError(NO_RECEIVER)
    task_id = ""
    with anyio.CancelScope(shield=True):
        try:
            task_id = await rt.client.start_task(endpoint, {**request.body, **request.shape.request}, api_key=api_key)
        except ResultError as exc:
            read = task_id_in_raw(exc.raw) if exc.raw is not None else None
            if exc.raw is not None:
                await rt.store.save_raw_result(endpoint.name, exc.raw, task_id=read)
            if read is None:
                raise ResultError(f"{exc} {UNREADABLE_START.format(endpoint=endpoint.name)}") from None
            logger.warning("%s Its task id %s was read from the raw answer; recorded as usual.", exc, read)
            task_id = read
        except APIError as exc:
            if may_have_been_processed(exc):
                exc.advice = UNANSWERED_START.format(endpoint=endpoint.name)
            raise
        await rt.store.create_task(
            task_id,
            mode="async",
            endpoint=endpoint.name,
            tool=request.tool,
            asset_id=request.asset_id,
            params=request.params,
        )
    return task_id


def _hide_url_secrets(exc: MaviError, urls: tuple[str, ...]) -> None:
    """Take the secrets of `urls` out of an error before it is stored and shown (MAVI and the providers echo the
    audio URL in messages such as "Download error, unable to download <url>", and in raw answers)."""
    if not urls:
        return
    exc.args = tuple(scrub_url_secrets(a, *urls) if isinstance(a, str) else a for a in exc.args)
    if isinstance(exc, APIError) and exc.api_message is not None:
        exc.api_message = scrub_url_secrets(exc.api_message, *urls)
    if isinstance(exc, ResultError) and exc.raw is not None:
        exc.raw = scrub_url_secrets_in_raw(exc.raw, *urls)


STARTED_AS = "mavi_task_id"
"""The key of an async start job's result that names MAVI's task (`transcribe`)."""

NO_RECEIVER = (
    "No webhook receiver is running for this server, so the result of an async MAVI task would be lost (MAVI only "
    "delivers it by webhook; there is no way to fetch it later). Nothing was sent or billed. Ask the user to start "
    "the server with --webhook-port N (stdio), serve over streamable-http, or run `mavi-mcp webhook --port N`, and "
    "to paste the URL shown by webhook_info into the MAVI console (Webhooks Settings). Or use mode='sync'."
)

RESULT_STILL_ARRIVES = (
    "its result still arrives at the webhook and is stored: within a few minutes list_tasks shows it under MAVI's "
    "task id (without a tool name; endpoint {endpoint}), and get_task with that id returns the transcript."
)

UNREADABLE_START = (
    "MAVI may have started the task, and billed it: this server could not read its task id from the answer, so it "
    "could not record the task. Do not start it again unless you accept paying twice. If MAVI runs it, "
    + RESULT_STILL_ARRIVES
)
"""Added to the error when the answer to an async start cannot be read (`start_async`)."""

UNANSWERED_START = (
    "This server did not resend the request, because it may have been processed and billed: MAVI may have started "
    "the task. If it did, "
    + RESULT_STILL_ARRIVES
    + " Check list_tasks before starting it again (a second start is billed again)."
)
"""The advice of an error after which an async start may have been processed (timeout, connection failure after
sending, 5xx other than 503), in place of the error class's generic hint."""

__all__ = ["STARTED_AS", "Mode", "Transcription", "choose_mode", "receiver_available", "start_async", "transcribe"]
