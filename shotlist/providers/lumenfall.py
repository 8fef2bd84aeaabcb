"""The Lumenfall gateway's asynchronous video API (Seedance 2.0 and friends).

Wire protocol (DESIGN §3)::

    POST {base}/videos        Authorization: Bearer KEY, Idempotency-Key: KEY
                              -> 200/202 {"id", "status": "queued"}
    GET  {base}/videos/{id}   -> {"id", "status": queued|in_progress|completed|failed,
                                  "progress"?, "output": {"url"}, "error": {"message"},
                                  "expires_at"?, "metadata": {"cost"}?}
    GET  output.url           the MP4; the key goes only to the API's own origin

Errors ``{"error": {"message", "type", "code"}}`` become ``ProviderError``
through ``ERROR_CODES`` and ``shotlist.providers.http`` (the one translation
boundary). This provider never retries: the engine does, with backoff, using
``retryable``/``retry_after``; after ``kind="submit_unknown"`` it resubmits
with the same idempotency key, after a retryable ``fetch`` failure it polls
again for a fresh URL.

Body choices (``request_body``), field by field against the gateway's Seedance 2.0 page
(DESIGN §3, reference/seedance-2.0-lumenfall-api.txt):

- ``prompt`` is required: an empty one is refused here and, earlier, by ``plan``.
- ``seed`` an integer, ``duration`` a number (whole seconds as integers).
- ``size`` ("WxH") when the storyboard gave a pixel size, else ``aspect_ratio`` +
  ``resolution``: the page documents both forms for each of its six 1K sizes, and the
  capability record has already mapped the shot to one of them (plan shows which).
- images -> ``input_reference`` (array, in order); a first frame is sent there too,
  alone (image-to-video; the plan refuses mixing it with references, and refuses a
  last frame: the gateway documents no field for one). One video -> ``video_url``, as the
  page's video-to-video example sends it; the parameter table names ``input_video``
  instead, and where the page disagrees with itself we follow its code example.
  ``keep_audio`` (keep the source video's sound) is a ``params`` field, sent as given.
  Several videos -> ``video_urls`` (the fal route's field: unknown fields pass through).
- audio -> ``audio_urls`` (at most 3, the fal route's passthrough field); so is
  ``end_user_id``, given through ``params``.
- ``n`` is always 1: the gateway emulates ``n`` with parallel jobs, each billed; shotlist
  makes one clip per job and fetches one.
- local files travel as data URIs (``DATA_URI_LIMITS``), https refs as URLs.
- ``params`` are merged in unchanged; they may not replace a named field.

A poll answered 404 does not prove the gateway forgot the job: a replica that
has not seen a new job yet, or a proxy's error page, answers the same. ``poll``
returns ``JobState.MISSING`` and the engine keeps polling; it submits again only
once the job's ``expires_at`` (or the engine's retention bound) has passed.

``cancel`` is a deliberate no-op: the API has no cancel call, and deleting a
running job would make a resumed render submit (and pay for) it again.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shotlist.errors import ProviderError
from shotlist.providers.base import JobState, JobStatus, reported_cost
from shotlist.providers.capabilities import LUMENFALL
from shotlist.providers.http import ApiRoute, CallContext, ErrorClass, reference_uri
from shotlist.providers.registry import ProviderEntry
from shotlist.request import NAMED_FIELDS, MediaKind, MediaRef, ShotRequest

if TYPE_CHECKING:
    from shotlist.store.cache import Store

NAME = "lumenfall"

MAX_IMAGES = 9
MAX_VIDEOS = 3
MAX_AUDIOS = 3
MB = 1_000_000
# Seedance's own input limits; a larger local file must be given as a URL.
DATA_URI_LIMITS: Mapping[MediaKind, int] = {"image": 30 * MB, "video": 50 * MB, "audio": 15 * MB}

ERROR_CODES: Mapping[str, ErrorClass] = {
    "AUTHENTICATION_FAILED": ("auth", False),
    "INSUFFICIENT_BALANCE": ("balance", False),
    "INVALID_REQUEST": ("invalid", False),
    "MODEL_NOT_FOUND": ("model", False),
    "MODEL_DISABLED": ("model", False),
    "RATE_LIMITED": ("rate_limited", True),
    "ALL_PROVIDERS_EXHAUSTED": ("upstream", True),
    # Whatever status it comes with, an upstream fault may pass; the engine's
    # retries are bounded and a refused submit is not billed.
    "UPSTREAM_ERROR": ("upstream", True),
}

STATES: Mapping[str, JobState] = {
    "queued": JobState.QUEUED,
    "pending": JobState.QUEUED,
    "in_progress": JobState.RUNNING,
    "processing": JobState.RUNNING,
    "running": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "cancelled": JobState.CANCELLED,
    "canceled": JobState.CANCELLED,
    "expired": JobState.EXPIRED,
}

MediaUri = Callable[[MediaRef], str]


def size_fields(request: ShotRequest) -> dict[str, str]:
    """The size part of the body: ``size`` ("WxH") when the storyboard gave one, else
    ``aspect_ratio`` + ``resolution`` (the page's two equivalent forms)."""
    if request.sized or not request.aspect_ratio:
        return {"size": request.size}
    fields = {"aspect_ratio": request.aspect_ratio}
    if request.resolution:
        fields["resolution"] = request.resolution
    return fields


def _duration(seconds: float) -> int | float:
    # The gateway takes whole seconds as integers; 5.0 would read as a float.
    return int(seconds) if float(seconds).is_integer() else seconds


def _reference_fields(request: ShotRequest, uri: MediaUri) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    first = (request.first_frame,) if request.first_frame is not None else ()
    if first or request.images:
        fields["input_reference"] = [uri(ref) for ref in (*first, *request.images)]
    if len(request.videos) == 1:
        fields["video_url"] = uri(request.videos[0])
    elif request.videos:
        fields["video_urls"] = [uri(ref) for ref in request.videos]
    if request.audios:
        fields["audio_urls"] = [uri(ref) for ref in request.audios]
    return fields


def check_request(request: ShotRequest) -> None:
    """Refuse what the gateway would refuse, before anything is encoded or sent."""
    ctx = CallContext(NAME, request.id)
    if not request.prompt.strip():
        raise ctx.error("the prompt is empty; lumenfall requires one", kind="invalid", retryable=False)
    limits = (("images", request.images, MAX_IMAGES), ("videos", request.videos, MAX_VIDEOS))
    for label, refs, limit in (*limits, ("audio clips", request.audios, MAX_AUDIOS)):
        if len(refs) > limit:
            raise ctx.error(
                f"{len(refs)} {label} given; {NAME} takes at most {limit}",
                kind="invalid",
                retryable=False,
            )
    if request.last_frame is not None:
        raise ctx.error(
            f"{NAME} documents no field for a last frame; plan refuses it before this point",
            kind="invalid",
            retryable=False,
        )
    clashes = sorted(NAMED_FIELDS.intersection(key for key, _ in request.params))
    if clashes:
        raise ctx.error(
            f"params may not set {', '.join(clashes)}: the storyboard names these fields",
            kind="invalid",
            retryable=False,
        )


def request_body(request: ShotRequest, uri: MediaUri) -> dict[str, Any]:
    """The JSON body of ``POST /videos``; ``uri`` gives each reference's URL or data URI."""
    check_request(request)
    body: dict[str, Any] = {
        "model": request.model,
        "prompt": request.prompt,
        "seed": request.seed,
        "duration": _duration(request.duration),
        **size_fields(request),
        **_reference_fields(request, uri),
        "generate_audio": request.generate_audio,
        "n": 1,
    }
    body.update(request.params)
    return body


def _progress(value: object) -> float | None:
    # Gateways report 0..100 or 0..1; anything above 1 is a percentage.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    fraction = value / 100 if value > 1 else float(value)
    return min(1.0, max(0.0, fraction))


def _cost(payload: Mapping[str, Any]) -> float | None:
    metadata = payload.get("metadata")
    return reported_cost(metadata.get("cost") if isinstance(metadata, dict) else None)


def _job_error(payload: Mapping[str, Any]) -> str:
    error = payload.get("error")
    if isinstance(error, dict):
        message = str(error.get("message") or "no reason given")
        code = error.get("code") or error.get("type")
        return f"{message} ({code})" if code else message
    return str(error) if error else "no reason given"


def job_status(payload: Mapping[str, Any], ctx: CallContext) -> JobStatus:
    """Translate one ``GET /videos/{id}`` answer.

    An unknown status counts as running (the engine's poll deadline bounds it).
    """
    raw = str(payload.get("status", "")).lower()
    state = STATES.get(raw, JobState.RUNNING)
    output = payload.get("output")
    url = output.get("url") if isinstance(output, dict) else None
    error = None
    if state in (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED):
        error = ctx.error(
            f"the job {raw}: {_job_error(payload)}",
            kind="failed" if state is JobState.FAILED else raw,
            retryable=False,
        )
    return JobStatus(
        state=state,
        progress=1.0 if state is JobState.SUCCEEDED else _progress(payload.get("progress")),
        result_url=url if isinstance(url, str) and url else None,
        error=error,
        cost_usd=_cost(payload),
        expires_at=_timestamp(payload.get("expires_at")),
    )


def _timestamp(value: object) -> float | None:
    """Unix seconds from a number or an ISO 8601 text; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) and value > 0 else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment.timestamp() if moment.tzinfo else moment.replace(tzinfo=UTC).timestamp()
    return None


class LumenfallProvider(ApiRoute):
    """A session with the Lumenfall gateway; one ``httpx.AsyncClient``, closed by ``aclose``."""

    name = NAME
    caps = LUMENFALL
    error_codes = ERROR_CODES

    async def _encode(self, request: ShotRequest) -> dict[str, Any]:
        ctx = self._context(request)

        def uri(ref: MediaRef) -> str:
            return reference_uri(ref, DATA_URI_LIMITS, ctx)

        # Reading and base64-encoding files blocks: keep it off the event loop.
        return await asyncio.to_thread(request_body, request, uri)

    async def submit(self, request: ShotRequest, idempotency_key: str) -> str:
        """Create the job; the same ``idempotency_key`` gets the same job back."""
        if not idempotency_key:
            raise ValueError("submit needs an idempotency key")
        ctx = self._context(request)
        body = await self._encode(request)
        headers = {**self._auth(), "Idempotency-Key": idempotency_key}
        url = f"{self.base_url}/videos"
        payload = await self._session.call_object(
            "POST", url, ctx, what="submit", creates_job=True, json=body, headers=headers
        )
        job_id = payload.get("id")
        if not isinstance(job_id, str) or not job_id:
            # The job may exist all the same; the same key finds it again.
            raise ctx.error("submit answer has no job id", kind="submit_unknown", retryable=True)
        return job_id

    async def poll(self, request: ShotRequest, job_id: str) -> JobStatus:
        ctx = self._context(request, job_id)
        # Quoted: a job id is the server's text and must stay one path segment.
        url = f"{self.base_url}/videos/{quote(job_id, safe='')}"
        try:
            payload = await self._session.call_object("GET", url, ctx, what="poll", headers=self._auth())
        except ProviderError as exc:
            if exc.kind != "not_found":
                raise
            # Not proof of expiry (see the module docstring): the engine decides.
            return JobStatus(JobState.MISSING, error=exc)
        return job_status(payload, ctx)

    async def fetch(self, request: ShotRequest, job_id: str, status: JobStatus, dest: Path) -> None:
        """Stream the clip at ``status.result_url`` to ``dest`` (complete, or not at all)."""
        ctx = self._context(request, job_id)
        if not status.result_url:
            raise ctx.error("the job finished without an output URL", kind="download", retryable=True)
        # A gateway may answer with a path on its own origin; the session resolves it.
        await self._session.download(
            status.result_url,
            dest,
            ctx,
            api_base=self.base_url,
            auth=self._auth(),
            max_bytes=self._max_download_bytes,
        )

    async def cancel(self, request: ShotRequest, job_id: str) -> None:
        """No-op by design (see the module docstring): the job stays resumable."""


def open_lumenfall(env: Mapping[str, str], _store: Store) -> LumenfallProvider:
    return LumenfallProvider.from_env(env)


ENTRY = ProviderEntry(LUMENFALL, open_lumenfall)
