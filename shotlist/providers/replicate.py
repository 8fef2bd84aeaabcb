"""Replicate's predictions API for Seedance 2.0 (``REPLICATE_API_TOKEN``, ``REPLICATE_BASE_URL``).

Wire protocol (replicate.com/docs/reference/http; replicate.com/bytedance/seedance-2.0)::

    POST {base}/models/{owner}/{name}/predictions   Authorization: Bearer TOKEN, Cancel-After: 30m
         {"input": {"prompt", "duration", "aspect_ratio", "resolution", "generate_audio", "seed",
                    "reference_images", "reference_videos", "reference_audios"}}
         -> 201 {"id", "status": "starting", "urls": {"get", "cancel"}, ...}
    GET  {base}/predictions/{id}       -> {"id", "status", "output", "error", "completed_at", "data_removed"}
    POST {base}/predictions/{id}/cancel
    POST {base}/files                  multipart "content" -> {"id", "urls": {"get"}}

Statuses: starting, processing, succeeded, failed, canceled, aborted. Errors are
problem documents ``{"title", "detail", "status"}``; a rate limit answers 429 with a
``detail`` text ("Expected available in 7 seconds") that stands in for Retry-After.

- ``Cancel-After`` is the prediction's deadline: a stuck one is stopped, not billed
  forever. ``CANCEL_AFTER`` matches the engine's default wait for one job.
- Outputs are deleted an hour after the prediction ends: the engine downloads at
  once; a prediction found later with its data removed is ``expired``, so the engine
  submits the shot afresh (and says why) instead of failing on a dead URL.
- References go as ``reference_images``/``reference_videos``/``reference_audios``, named
  ``[Image1]`` in the prompt. A first frame goes as ``image`` and a last one as
  ``last_frame_image``; ``image`` cannot be combined with ``reference_images`` (the plan
  refuses that, and ``params`` may not set either field: see ``named_params``).
- Local files up to ``DATA_URI_MAX`` travel as data URIs; larger ones are uploaded
  through the files API, once per session and content.
- Replicate takes no idempotency key. After a submit whose answer was lost the engine
  submits again, which may create a second, billed prediction: the error (and the
  engine's notice) says so and how to check.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shotlist.errors import ProviderError
from shotlist.providers.base import JobState, JobStatus
from shotlist.providers.capabilities import REPLICATE, resolve_model
from shotlist.providers.http import ApiRoute, CallContext, mime_type, reference_uri
from shotlist.providers.registry import ProviderEntry
from shotlist.request import NAMED_FIELDS, MediaKind, MediaRef, ShotRequest

if TYPE_CHECKING:
    from shotlist.store.cache import Store

NAME = "replicate"
MB = 1_000_000
DATA_URI_MAX = 256_000  # Replicate takes data URIs for small files; larger ones are uploaded
UPLOAD_LIMITS: Mapping[MediaKind, int] = {"image": 30 * MB, "video": 50 * MB, "audio": 15 * MB}
CANCEL_AFTER = "30m"
OUTPUT_TTL = 3600.0
DUPLICATE_CHECK = "see https://replicate.com/predictions for a second prediction of this shot"
_THROTTLED = re.compile(r"available in (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)
_SENSITIVE = re.compile(r"\bE005\b|sensitive|content polic|nsfw|safety", re.IGNORECASE)

STATES: Mapping[str, JobState] = {
    "starting": JobState.QUEUED,
    "processing": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "canceled": JobState.CANCELLED,
    "aborted": JobState.CANCELLED,
}

_FIELDS: Mapping[MediaKind, str] = {
    "image": "reference_images",
    "video": "reference_videos",
    "audio": "reference_audios",
}


def check_request(request: ShotRequest) -> None:
    """Refuse what Replicate would refuse, before anything is encoded or sent."""
    ctx = CallContext(NAME, request.id)
    if not request.prompt.strip():
        raise ctx.error("the prompt is empty; replicate requires one", kind="invalid", retryable=False)
    if request.first_frame is not None and request.images:
        raise ctx.error(
            "replicate cannot combine a first frame (image) with reference_images",
            kind="invalid",
            retryable=False,
        )
    clashes = sorted((NAMED_FIELDS | REPLICATE.named_params).intersection(key for key, _ in request.params))
    if clashes:
        raise ctx.error(
            f"params may not set {', '.join(clashes)}: the storyboard names these fields",
            kind="invalid",
            retryable=False,
        )


def model_path(request: ShotRequest) -> str:
    """``bytedance/seedance-2.0``: the model's owner and name, as its predictions URL takes them."""
    return resolve_model(REPLICATE, request.model).wire_id


def prediction_input(request: ShotRequest, uris: Mapping[str, str]) -> dict[str, Any]:
    """The prediction's ``input``; ``uris`` maps each reference's sha256 to its URL."""
    check_request(request)
    fields: dict[str, Any] = {
        "prompt": request.prompt,
        "duration": int(request.duration),
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "generate_audio": request.generate_audio,
        "seed": request.seed,
    }
    if request.first_frame is not None:
        fields["image"] = uris[request.first_frame.sha256]
    if request.last_frame is not None:
        fields["last_frame_image"] = uris[request.last_frame.sha256]
    for ref in request.media:
        fields.setdefault(_FIELDS[ref.kind], []).append(uris[ref.sha256])
    fields.update(request.params)
    return fields


def _size(path: Path) -> int:
    # A file that cannot be read is reported by reference_uri, naming the reference.
    try:
        return path.stat().st_size
    except OSError:
        return 0


def retry_hint(exc: ProviderError) -> ProviderError:
    """A 429 without Retry-After: the wait Replicate's ``detail`` text names."""
    if exc.kind == "rate_limited" and exc.retry_after is None:
        match = _THROTTLED.search(exc.message)
        if match:
            exc.retry_after = float(match[1])
    return exc


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _output_url(output: object) -> str | None:
    # A file output is a URL; some models answer a list of them.
    if isinstance(output, list) and output:
        output = output[-1]
    return output if isinstance(output, str) and output else None


def prediction_status(payload: Mapping[str, Any], ctx: CallContext, *, now: float | None = None) -> JobStatus:
    """Translate one prediction. An unknown status counts as running (the poll deadline bounds it)."""
    raw = str(payload.get("status", "")).lower()
    state = STATES.get(raw, JobState.RUNNING)
    if state in (JobState.FAILED, JobState.CANCELLED):
        reason = str(payload.get("error") or "no reason given")
        kind = "content_policy" if _SENSITIVE.search(reason) else ("failed" if raw == "failed" else raw)
        return JobStatus(
            state, error=ctx.error(f"the prediction {raw}: {reason}", kind=kind, retryable=False)
        )
    if state is not JobState.SUCCEEDED:
        return JobStatus(state)
    ended = _timestamp(payload.get("completed_at"))
    current = time.time() if now is None else now
    if payload.get("data_removed") or (ended is not None and current - ended > OUTPUT_TTL):
        message = "the prediction's output was deleted (Replicate keeps outputs for an hour)"
        return JobStatus(JobState.EXPIRED, error=ctx.error(message, kind="expired", retryable=False))
    return JobStatus(JobState.SUCCEEDED, progress=1.0, result_url=_output_url(payload.get("output")))


class ReplicateProvider(ApiRoute):
    """A session with Replicate; one ``httpx.AsyncClient``, closed by ``aclose``.

    ``options`` are ``ApiRoute``'s (timeout, transport, max_download_bytes).
    """

    name = NAME
    caps = REPLICATE
    idempotent = False
    duplicate_check = DUPLICATE_CHECK
    no_result_url = "the prediction succeeded without an output URL"

    def __init__(self, api_token: str, base_url: str | None = None, **options: Any) -> None:
        super().__init__(api_token, base_url, **options)
        self._uploaded: dict[str, str] = {}

    async def _call(
        self,
        method: str,
        url: str,
        ctx: CallContext,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        try:
            return await self._session.call_object(
                method, url, ctx, headers={**self._auth(), **(headers or {})}, **kwargs
            )
        except ProviderError as exc:
            retry_hint(exc)
            raise

    # -- references

    async def _uris(self, request: ShotRequest, ctx: CallContext) -> dict[str, str]:
        frames = tuple(ref for ref in (request.first_frame, request.last_frame) if ref is not None)
        return {ref.sha256: await self._uri(ref, ctx) for ref in (*frames, *request.media)}

    async def _uri(self, ref: MediaRef, ctx: CallContext) -> str:
        size = await asyncio.to_thread(_size, ref.path) if ref.path and not ref.url else 0
        if size <= DATA_URI_MAX:
            return await asyncio.to_thread(reference_uri, ref, {ref.kind: DATA_URI_MAX}, ctx)
        if ref.sha256 not in self._uploaded:
            assert ref.path is not None
            self._uploaded[ref.sha256] = await self._upload(ref, ref.path, size, ctx)
        return self._uploaded[ref.sha256]

    async def _upload(self, ref: MediaRef, path: Path, size: int, ctx: CallContext) -> str:
        """A larger local file through the files API; the URL its prediction reads it from."""
        if size > UPLOAD_LIMITS[ref.kind]:
            raise ctx.error(
                f"{ref.kind} reference {ref.name!r} ({path}) is {size / 1e6:.1f} MB; replicate takes "
                f"{ref.kind} files up to {UPLOAD_LIMITS[ref.kind] / 1e6:.0f} MB",
                kind="invalid",
                retryable=False,
            )
        data = await asyncio.to_thread(path.read_bytes)
        files = {"content": (path.name, data, mime_type(path))}
        payload = await self._call("POST", f"{self.base_url}/files", ctx, what="upload", files=files)
        urls = payload.get("urls")
        url = urls.get("get") if isinstance(urls, dict) else None
        if not isinstance(url, str) or not url:
            raise ctx.error("the upload answer has no URL", kind="bad_answer", retryable=True)
        return url

    # -- the prediction

    async def submit(self, request: ShotRequest, idempotency_key: str) -> str:
        """Create the prediction. ``idempotency_key`` is unused: Replicate has none."""
        ctx = self._context(request)
        fields = prediction_input(request, await self._uris(request, ctx))
        url = f"{self.base_url}/models/{model_path(request)}/predictions"
        payload = await self._call(
            "POST", url, ctx, what="submit", creates_job=True,
            json={"input": fields}, headers={"Cancel-After": CANCEL_AFTER},
        )  # fmt: skip
        job_id = payload.get("id")
        if not isinstance(job_id, str) or not job_id:
            # The job may exist all the same; the engine says so before submitting again.
            raise ctx.error("submit answer has no prediction id", kind="submit_unknown", retryable=True)
        return job_id

    async def poll(self, request: ShotRequest, job_id: str) -> JobStatus:
        ctx = self._context(request, job_id)
        # Quoted: a prediction id is the server's text and must stay one path segment.
        url = f"{self.base_url}/predictions/{quote(job_id, safe='')}"
        try:
            payload = await self._call("GET", url, ctx, what="poll")
        except ProviderError as exc:
            if exc.kind != "not_found":
                raise
            # Not proof that the prediction is gone (see base.py, "missing"): the engine decides.
            return JobStatus(JobState.MISSING, error=exc)
        return prediction_status(payload, ctx)

    async def cancel(self, request: ShotRequest, job_id: str) -> None:
        """Stop the prediction; best effort."""
        ctx = self._context(request, job_id)
        await self._call(
            "POST", f"{self.base_url}/predictions/{quote(job_id, safe='')}/cancel", ctx, what="cancel"
        )


def open_replicate(env: Mapping[str, str], _store: Store) -> ReplicateProvider:
    return ReplicateProvider.from_env(env)


ENTRY = ProviderEntry(REPLICATE, open_replicate)
