"""`upload_media`: a local file (confined to the allowed roots) or an http(s) URL -> a MAVI asset id.

Local paths are opened once and checked on the open descriptor before anything is sent
(`localfile.open_media`). URLs are checked (http(s), a host,
parseable) before the job starts, then downloaded with a size cap and a total time limit into the data directory,
then uploaded (MAVI v2 has no upload by URL). Every message that shows a URL, and the `source` kept with the task
and returned, shows it without user:password, query or fragment (`media.shown_url`): signed URLs carry their
secrets there. After the
upload the job polls `GET /{asset_id}/metadata` until `upload_status` is SUCCESS (only such assets can be
transcribed) or FAILED. Like transcriptions, the upload runs as a job: a large file that outlasts the wait
answers with a task handle, and `get_task` returns the asset id once it is ready.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import anyio
import httpx2
from mcp.server.mcpserver import Context
from mcp_types import CallToolResult
from pydantic import Field

from mavi_mcp.cost import file_sha256_async
from mavi_mcp.defuse import clean_name
from mavi_mcp.duration import probe_duration
from mavi_mcp.errors import APIError, InputError, MaviError, ResultError, UnconfirmedUploadError
from mavi_mcp.jobs import Outcome
from mavi_mcp.ledger import find_media, forget_media, remember_media
from mavi_mcp.localfile import OpenedMedia, open_media
from mavi_mcp.media import ACCEPTED, MEDIA_TYPES, human_size, shown_url, url_error_detail
from mavi_mcp.netguard import check_literal_host, url_host
from mavi_mcp.partials import partial_prefix
from mavi_mcp.runtime import Runtime
from mavi_mcp.tools._answers import UploadResult, upload_answer, wait_for
from mavi_mcp.tools._boundary import agent_errors, request_key, runtime_of
from mavi_mcp.tools._params import WaitSeconds

logger = logging.getLogger(__name__)

READY_TIMEOUT = 300.0
"""Longest the upload job waits for MAVI to finish processing an upload (seconds)."""


def _not_again(asset_id: str) -> str:
    return (
        f"The upload itself succeeded: MAVI stored the file as asset_id {asset_id}. Do not upload it again (that "
        "would store, and bill storage for, a second copy)."
    )


async def _wait_until_ready(rt: Runtime, asset_id: str, key: str | None) -> str:
    """Poll the asset's metadata until SUCCESS; returns the final status.

    Raises:
        ResultError: MAVI reports upload_status FAILED (the file must be fixed and uploaded again).
        UnconfirmedUploadError: still not SUCCESS after `READY_TIMEOUT` seconds, or a poll failed (API error,
            unreadable answer, anything else): the asset exists, and the message gives its id.
    """
    deadline = time.monotonic() + READY_TIMEOUT
    delay = 1.0
    while True:
        try:
            resource = await rt.client.metadata(asset_id, api_key=key)
        except MaviError as exc:
            reason = exc.summary() if isinstance(exc, APIError) else str(exc)
            raw = exc.raw if isinstance(exc, ResultError) else None
            raise _unconfirmed(asset_id, f"Checking that MAVI has processed it failed: {reason}", raw=raw) from None
        except Exception:
            logger.exception("Metadata poll of asset %s failed", asset_id)
            raise _unconfirmed(
                asset_id, "Checking that MAVI has processed it failed (an internal error; details are in the log)."
            ) from None
        status = (resource.upload_status or "").upper()
        if status == "SUCCESS":
            return status
        if status == "FAILED":
            raise ResultError(
                f"MAVI could not process the uploaded file (asset {asset_id}, upload_status FAILED). Check that "
                "the file plays and has an audio track, then upload it again."
            )
        if time.monotonic() + delay > deadline:
            raise _unconfirmed(asset_id, f"It was still {status or 'processing'} after {READY_TIMEOUT:.0f} s.")
        await anyio.sleep(delay)
        delay = min(delay * 1.5, 5.0)


def _unconfirmed(asset_id: str, what: str, *, raw: bytes | None = None) -> UnconfirmedUploadError:
    return UnconfirmedUploadError(
        f"{_not_again(asset_id)} {what} The asset is probably ready, or will be soon: call a transcription tool "
        f'with asset_id="{asset_id}"; if MAVI answers that the asset is not ready (or with its ambiguous limit '
        "message), wait a minute and call it again.",
        asset_id=asset_id,
        raw=raw,
    )


_EXT_BY_TYPE = {v: k for k, v in reversed(MEDIA_TYPES.items())} | {"audio/mp3": ".mp3", "audio/x-wav": ".wav"}


def check_url(url: str) -> None:
    """Refuse, before anything is downloaded, an http(s) URL that cannot be requested.

    Raises:
        InputError: the URL does not parse (bad IPv6 brackets, port, host name, characters) or has no host.
    """
    shown = shown_url(url)
    try:
        urlsplit(url)
        host = httpx2.URL(url).host
    except (httpx2.InvalidURL, ValueError) as exc:
        raise InputError(
            f"{shown!r} is not a valid URL ({url_error_detail(exc, url)}). Pass the full http(s) URL of the audio or "
            "video file (https://host/path/file.mp3), or download the file yourself and pass its local path."
        ) from None
    if not host:
        raise InputError(
            f"{shown!r} has no host name. Pass the full http(s) URL of the audio or video file "
            "(https://host/path/file.mp3), or a local path."
        )


def _name_from(url: str, content_type: str | None, disposition: str | None) -> str:
    """A file name with a media extension for a downloaded URL: Content-Disposition, URL path, Content-Type."""
    candidates: list[str] = []
    if disposition:
        match = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", disposition, re.IGNORECASE)
        if match:
            candidates.append(os.path.basename(unquote(match.group(1))))
    candidates.append(os.path.basename(unquote(urlsplit(url).path)))
    for name in candidates:
        if name and Path(name).suffix.lower() in MEDIA_TYPES:
            return name
    ext = _EXT_BY_TYPE.get((content_type or "").split(";")[0].strip().lower())
    if ext:
        stem = Path(candidates[-1]).stem if candidates[-1] else "download"
        return f"{stem or 'download'}{ext}"
    raise InputError(
        f"{shown_url(url)} does not look like an audio or video file (name {candidates[-1] or '(none)'!r}, "
        f"Content-Type {content_type or '(none)'}). Pass the URL of the media file itself ({ACCEPTED})."
    )


async def _download(rt: Runtime, url: str, directory: Path) -> tuple[Path, str, int]:
    """Download `url` into `directory` with the size cap and time limit; returns (path, file name, size).

    Raises:
        InputError: every way the download can fail (HTTP error status, not http(s), too many redirects, too
            large, not media, empty, unreachable host, timeout), with the URL shown by `shown_url`.
    """
    cap = rt.settings.max_upload_bytes
    shown = shown_url(url)
    own_copy = "or download the file yourself and pass its local path."
    try:
        with anyio.fail_after(rt.settings.download_timeout):
            async with rt.downloads.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise InputError(
                        f"Downloading {shown} failed with HTTP {response.status_code}. Check that the URL is public "
                        "and points at the audio or video file itself (not a web page)."
                    )
                if response.url.scheme not in ("http", "https"):
                    raise InputError(f"{shown} redirected to a {response.url.scheme}: URL; only http(s) is followed.")
                length = response.headers.get("content-length")
                if length and length.isdigit() and int(length) > cap:
                    raise InputError(f"{shown} is {human_size(int(length))}, above the {human_size(cap)} upload limit.")
                name = _name_from(
                    str(response.url), response.headers.get("content-type"), response.headers.get("content-disposition")
                )
                fd, tmp = tempfile.mkstemp(prefix=partial_prefix(), suffix=Path(name).suffix, dir=directory)
                size = 0
                try:
                    with os.fdopen(fd, "wb") as out:
                        async for chunk in response.aiter_bytes():
                            size += len(chunk)
                            if size > cap:
                                raise InputError(f"{shown} is larger than the {human_size(cap)} upload limit.")
                            out.write(chunk)
                except BaseException:  # size cap, dropped connection, timeout, cancellation, disk full
                    os.unlink(tmp)
                    raise
    except httpx2.UnsupportedProtocol:
        raise InputError(
            f"{shown} redirected to a URL that is not http(s); only http(s) downloads are followed."
        ) from None
    except httpx2.TooManyRedirects:
        raise InputError(f"{shown} redirected too many times (more than 5). Pass the final URL of the file.") from None
    except httpx2.InvalidURL as exc:
        raise InputError(
            f"{shown} cannot be requested: {url_error_detail(exc, url)}. Check the URL, {own_copy}"
        ) from None
    except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
        raise InputError(
            f"Could not connect to the host of {shown} ({type(exc).__name__}: {url_error_detail(exc, url)}). Check the "
            "host name and that it is reachable from the machine mavi-mcp runs on (the server downloads the file, "
            f"not you), {own_copy}"
        ) from None
    except httpx2.HTTPError as exc:
        raise InputError(
            f"Downloading {shown} failed ({type(exc).__name__}: {url_error_detail(exc, url)}). Check that the URL is "
            f"reachable from the machine mavi-mcp runs on, {own_copy}"
        ) from None
    except TimeoutError:
        raise InputError(
            f"Downloading {shown} took longer than {rt.settings.download_timeout:.0f} s. Download it yourself and "
            "pass the local path, or raise MAVI_MCP_DOWNLOAD_TIMEOUT."
        ) from None
    if size == 0:
        os.unlink(tmp)
        raise InputError(f"{shown} returned an empty body; it has no audio to transcribe.")
    return Path(tmp), name, size


async def _upload_file(
    rt: Runtime,
    task_id: str,
    file: Path | OpenedMedia,
    name: str,
    source: str,
    *,
    key: str | None,
    refresh: bool,
    downloaded: int = 0,
) -> Outcome:
    """Upload `file` (a downloaded file, or a local one opened once: `localfile.OpenedMedia`, whose descriptor is
    what is hashed, probed and sent), or reuse the asset MAVI still has for the same bytes unless `refresh`; its
    SHA-256 and its duration read locally (`duration.probe_duration`) are kept with the asset id
    (`ledger.remember_media`). The size reported is the size sent."""
    if isinstance(file, OpenedMedia):
        sha256 = await anyio.to_thread.run_sync(_descriptor_sha256, file)
        # the open file itself on Linux (never the path again); elsewhere its checked real path
        proc = Path(f"/proc/self/fd/{file.fd}") if sys.platform.startswith("linux") else file.path
        duration = await probe_duration(proc)
        size = file.size
    else:
        sha256 = await file_sha256_async(file)
        duration = await probe_duration(file)
        size = downloaded
    result: dict[str, Any] = {"filename": name, "size_bytes": size, "source": source}
    result |= {"duration_seconds": duration.seconds, "duration_problem": duration.problem}
    if not refresh:
        for known in await rt.store.in_transaction(lambda db: find_media(db, sha256)):
            status = await _still_there(rt, known.asset_id, key)
            if status == "SUCCESS":
                await rt.store.set_task_asset(task_id, known.asset_id)
                return Outcome(result={**result, "asset_id": known.asset_id, "upload_status": status, "reused": True})
            if status == "FAILED":
                await rt.store.in_transaction(lambda db, gone=known.asset_id: forget_media(db, gone))
    if isinstance(file, OpenedMedia):
        asset_id = await rt.client.upload(file, api_key=key)
        result["size_bytes"] = size = file.sent
    else:
        asset_id = await rt.client.upload(file, filename=name, api_key=key)
    await rt.store.in_transaction(
        lambda db: remember_media(db, asset_id=asset_id, sha256=sha256, size_bytes=size, duration=duration)
    )
    await rt.store.set_task_asset(task_id, asset_id)  # a pending answer can show it now
    status = await _wait_until_ready(rt, asset_id, key)
    return Outcome(result={**result, "asset_id": asset_id, "upload_status": status})


def _descriptor_sha256(opened: OpenedMedia) -> str:
    """SHA-256 of the bytes an upload of `opened` sends (read through its descriptor, from offset 0). Blocking."""
    digest = hashlib.sha256()
    reader = opened.reader()
    while chunk := reader.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


async def _still_there(rt: Runtime, asset_id: str, key: str | None) -> str | None:
    """MAVI's upload status of an asset made earlier from the same bytes (the free metadata call), or None when
    it cannot be read (deleted, expired, another account's key, MAVI unreachable)."""
    try:
        resource = await rt.client.metadata(asset_id, api_key=key)
    except MaviError:
        return None
    return (resource.upload_status or "").upper() or None


@agent_errors
async def upload_media(
    path: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4096,
            description="Absolute local path (inside the allowed folders) or http(s) URL.",
        ),
    ],
    ctx: Context[Runtime, Any],
    wait_seconds: WaitSeconds = None,
    refresh: Annotated[bool, Field(description="Upload again although MAVI has this file.")] = False,
) -> Annotated[CallToolResult, UploadResult]:
    """Upload audio/video (up to 3 GB) to MAVI: returns asset_id, the input of every transcription tool, the
    duration and each tool's estimated price. Free; the same file again reuses its asset. If MAVI's processing
    could not be confirmed, the error gives the asset_id: use it, do not upload again.
    """
    rt = runtime_of(ctx)
    key = request_key(ctx)
    target = path.strip()
    is_url = re.match(r"https?:", target, re.IGNORECASE) is not None
    if not is_url and "://" in target:
        raise InputError(f"{shown_url(target)!r}: only local paths and http(s) URLs can be uploaded.")
    if is_url:
        check_literal_host(url_host(target), allow_private=rt.settings.allow_private_urls)
        check_url(target)
        opened: OpenedMedia | None = None
    else:  # opened once, off the event loop; every attempt sends this descriptor (localfile)
        opened = await anyio.to_thread.run_sync(
            open_media, target, rt.settings.resolved_allowed_dirs, rt.settings.max_upload_bytes
        )

    async def work(task_id: str) -> Outcome:
        if opened is not None:
            try:
                name = clean_name(opened.name)
                return await _upload_file(rt, task_id, opened, name, str(opened.path), key=key, refresh=refresh)
            finally:
                opened.close()
        downloads = rt.data_dir / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        file, name, got = await _download(rt, target, downloads)
        try:
            shown = shown_url(target)
            return await _upload_file(
                rt, task_id, file, clean_name(name), shown, key=key, refresh=refresh, downloaded=got
            )
        finally:
            file.unlink(missing_ok=True)

    task_id = await rt.jobs.start(work, tool="upload_media", endpoint="upload", asset_id=None, params={})
    record, waited = await wait_for(ctx, task_id, wait_seconds, what="upload_media")
    return upload_answer(record, waited=waited)
