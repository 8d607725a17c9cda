"""`upload_media`: a local file (confined to the allowed roots) or an http(s) URL -> a MAVI asset id.

Local paths are checked before anything is sent (`media.resolve_local_file`). URLs are downloaded with a size
cap and a total time limit into the data directory, then uploaded (MAVI v2 has no upload by URL). After the
upload the job polls `GET /{asset_id}/metadata` until `upload_status` is SUCCESS (only such assets can be
transcribed) or FAILED. Like transcriptions, the upload runs as a job: a large file that outlasts the wait
answers with a task handle, and `get_task` returns the asset id once it is ready.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

import anyio
import httpx2
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from mavi_mcp.errors import InputError, ResultError
from mavi_mcp.jobs import Outcome
from mavi_mcp.media import ACCEPTED, MEDIA_TYPES, human_size, resolve_local_file
from mavi_mcp.runtime import Runtime
from mavi_mcp.store import TaskRecord
from mavi_mcp.tools._common import WaitSeconds, agent_errors, request_key, runtime_of

logger = logging.getLogger(__name__)

READY_TIMEOUT = 300.0
"""Longest the upload job waits for MAVI to finish processing an upload (seconds)."""


class UploadResult(BaseModel):
    """Structured content of upload_media."""

    status: Literal["completed", "pending", "failed"]
    task_id: str
    asset_id: str | None = None
    filename: str | None = None
    size_bytes: int | None = None
    upload_status: str | None = Field(default=None, description="MAVI's status: SUCCESS means ready.")
    source: str | None = Field(default=None, description="The path or URL that was uploaded.")
    elapsed_seconds: float | None = None
    error: str | None = None


async def _wait_until_ready(rt: Runtime, asset_id: str, key: str | None) -> str:
    """Poll the asset's metadata until SUCCESS; returns the final status. Raises on FAILED or timeout."""
    deadline = time.monotonic() + READY_TIMEOUT
    delay = 1.0
    while True:
        resource = await rt.client.metadata(asset_id, api_key=key)
        status = (resource.upload_status or "").upper()
        if status == "SUCCESS":
            return status
        if status == "FAILED":
            raise ResultError(
                f"MAVI could not process the uploaded file (asset {asset_id}, upload_status FAILED). Check that "
                "the file plays and has an audio track, then upload it again."
            )
        if time.monotonic() + delay > deadline:
            raise ResultError(
                f"Asset {asset_id} was still {status or 'processing'} after {READY_TIMEOUT:.0f} s. It may become "
                "ready later: try a transcription tool with this asset_id in a few minutes."
            )
        await anyio.sleep(delay)
        delay = min(delay * 1.5, 5.0)


_EXT_BY_TYPE = {v: k for k, v in reversed(MEDIA_TYPES.items())} | {"audio/mp3": ".mp3", "audio/x-wav": ".wav"}


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
        f"{url} does not look like an audio or video file (name {candidates[-1] or '(none)'!r}, Content-Type "
        f"{content_type or '(none)'}). Pass the URL of the media file itself ({ACCEPTED})."
    )


async def _download(rt: Runtime, url: str, directory: Path) -> tuple[Path, str, int]:
    """Download `url` into `directory` with the size cap and time limit; returns (path, file name, size)."""
    cap = rt.settings.max_upload_bytes
    try:
        with anyio.fail_after(rt.settings.download_timeout):
            async with rt.downloads.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise InputError(
                        f"Downloading {url} failed with HTTP {response.status_code}. Check that the URL is public "
                        "and points at the audio or video file itself (not a web page)."
                    )
                if response.url.scheme not in ("http", "https"):
                    raise InputError(f"{url} redirected to a {response.url.scheme}: URL; only http(s) is followed.")
                length = response.headers.get("content-length")
                if length and length.isdigit() and int(length) > cap:
                    raise InputError(f"{url} is {human_size(int(length))}, above the {human_size(cap)} upload limit.")
                name = _name_from(
                    str(response.url), response.headers.get("content-type"), response.headers.get("content-disposition")
                )
                fd, tmp = tempfile.mkstemp(prefix="download-", suffix=Path(name).suffix, dir=directory)
                size = 0
                with os.fdopen(fd, "wb") as out:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > cap:
                            out.close()
                            os.unlink(tmp)
                            raise InputError(f"{url} is larger than the {human_size(cap)} upload limit.")
                        out.write(chunk)
    except httpx2.UnsupportedProtocol:
        raise InputError(
            f"{url} redirected to a URL that is not http(s); only http(s) downloads are followed."
        ) from None
    except httpx2.TooManyRedirects:
        raise InputError(f"{url} redirected too many times (more than 5). Pass the final URL of the file.") from None
    except httpx2.HTTPError as exc:
        raise InputError(
            f"Downloading {url} failed ({type(exc).__name__}). Check that the URL is reachable from this machine, or "
            "download the file yourself and pass its local path."
        ) from None
    except TimeoutError:
        raise InputError(
            f"Downloading {url} took longer than {rt.settings.download_timeout:.0f} s. Download it yourself and "
            "pass the local path, or raise MAVI_MCP_DOWNLOAD_TIMEOUT."
        ) from None
    if size == 0:
        os.unlink(tmp)
        raise InputError(f"{url} returned an empty body; it has no audio to transcribe.")
    return Path(tmp), name, size


def _upload_answer(record: TaskRecord, *, waited: float) -> CallToolResult:
    result = record.result or {}
    elapsed = round(((record.completed_at or record.updated_at) - record.created_at).total_seconds(), 3)
    if record.status == "failed":
        raise ToolError(f"upload_media failed (task {record.task_id}): {record.error}")
    if record.status == "pending":
        text = (
            f"Still uploading after {waited:.0f} s (task {record.task_id}). The upload continues on the server; "
            f'call get_task(task_id="{record.task_id}") in a minute to get the asset_id.'
        )
        data = UploadResult(status="pending", task_id=record.task_id, elapsed_seconds=elapsed)
    else:
        asset_id = result.get("asset_id")
        text = (
            f"Uploaded {result.get('filename')} ({human_size(int(result.get('size_bytes', 0)))}): asset_id "
            f"{asset_id}, ready (upload_status SUCCESS). Next: identify_speakers, transcribe_whisper, "
            f'transcribe_assemblyai or transcribe_elevenlabs with asset_id="{asset_id}".'
        )
        data = UploadResult(
            status="completed",
            task_id=record.task_id,
            asset_id=asset_id,
            filename=result.get("filename"),
            size_bytes=result.get("size_bytes"),
            upload_status=result.get("upload_status"),
            source=result.get("source"),
            elapsed_seconds=elapsed,
        )
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=data.model_dump(mode="json", exclude_none=True),
    )


@agent_errors
async def upload_media(
    path: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4096,
            description="Absolute path of a local audio/video file (inside the server's allowed folders), or an "
            "http(s) URL of one.",
        ),
    ],
    ctx: Context[Runtime, Any],
    wait_seconds: WaitSeconds = None,
) -> Annotated[CallToolResult, UploadResult]:
    """Upload a recording to MAVI and get its asset_id, the input of every transcription tool.

    Accepts audio (mp3, wav, aac, flac, ogg, m4a) and video (mp4, mov, avi, webm, mkv, flv, wmv, mpeg) up to
    3 GB. A local path must be absolute and inside the folders the user allowed (MAVI_MCP_ALLOWED_DIRS);
    a URL is downloaded by the server, then uploaded. The tool waits until MAVI has processed the file.
    Cost: free (MAVI bills storage at $0.001 per GB per day).
    Returns: asset_id, file name and size. Next: identify_speakers or transcribe_* with that asset_id.
    """
    rt = runtime_of(ctx)
    key = request_key(ctx)
    target = path.strip()
    is_url = urlsplit(target).scheme.lower() in ("http", "https")
    if not is_url and "://" in target:
        raise InputError(f"{target!r}: only local paths and http(s) URLs can be uploaded.")
    if is_url:
        local: Path | None = None
        size = 0
    else:
        local, size = resolve_local_file(target, rt.settings.resolved_allowed_dirs, rt.settings.max_upload_bytes)

    async def work() -> Outcome:
        if local is not None:
            asset_id = await rt.client.upload(local, api_key=key)
            result = {"filename": local.name, "size_bytes": size, "source": str(local)}
        else:
            downloads = rt.data_dir / "downloads"
            downloads.mkdir(parents=True, exist_ok=True)
            file, name, got = await _download(rt, target, downloads)
            try:
                asset_id = await rt.client.upload(file, filename=name, api_key=key)
            finally:
                file.unlink(missing_ok=True)
            result = {"filename": name, "size_bytes": got, "source": target}
        status = await _wait_until_ready(rt, asset_id, key)
        return Outcome(result={**result, "asset_id": asset_id, "upload_status": status})

    task_id = await rt.jobs.start(work, tool="upload_media", endpoint="upload", asset_id=None, params={})
    bound = rt.settings.wait_seconds if wait_seconds is None else wait_seconds

    async def progress(elapsed: float) -> None:
        await ctx.report_progress(elapsed, None, f"upload_media: uploading ({elapsed:.0f} s, task {task_id})")

    record = await rt.jobs.wait(task_id, bound, on_tick=progress)
    return _upload_answer(record, waited=bound)
