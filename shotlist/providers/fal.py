"""fal's queue API for Seedance 2.0 (``FAL_KEY``, ``FAL_BASE_URL``).

Wire protocol (docs.fal.ai, Queue API; fal.ai/models/bytedance/seedance-2.0/*)::

    POST {base}/{endpoint}                 Authorization: Key KEY; the body is the model input
                                           -> {"request_id", "status_url", "response_url", ...}
    GET  {base}/{app}/requests/{id}/status -> {"status": IN_QUEUE | IN_PROGRESS | COMPLETED}
    GET  {base}/{app}/requests/{id}        -> {"video": {"url"}, "seed"}, or the job's failure:
                                              422 {"detail": [{"loc", "msg", "type"}]}
    PUT  {base}/{app}/requests/{id}/cancel

``{endpoint}`` is the model's id plus the mode (``bytedance/seedance-2.0/reference-to-video``);
``{app}`` is its first two segments, which is where fal keeps the queue of every mode. The
job id is fal's ``request_id``; the URLs are rebuilt from it and the request, so a resumed
render (which journalled only the id) polls the same job.

A job that fal refused (content policy) still reaches COMPLETED: the refusal shows only
when the result is fetched. ``poll`` therefore fetches the result as soon as the status
says COMPLETED, and a 4xx there is the job's final failure, with fal's reason.

fal takes no idempotency key. After a submit whose answer was lost the engine submits
again, and that may create a second, billed job: the error (and the engine's notice)
says so and how to check, rather than pretending otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shotlist.errors import ProviderError
from shotlist.providers.base import JobState, JobStatus
from shotlist.providers.capabilities import FAL, resolve_model
from shotlist.providers.http import ApiRoute, CallContext, ErrorClass, reference_uri
from shotlist.providers.registry import ProviderEntry
from shotlist.request import NAMED_FIELDS, MediaKind, ShotRequest

if TYPE_CHECKING:
    from shotlist.store.cache import Store

NAME = "fal"
MB = 1_000_000
DATA_URI_LIMITS: Mapping[MediaKind, int] = {"image": 30 * MB, "video": 50 * MB, "audio": 15 * MB}
DUPLICATE_CHECK = "see https://fal.ai/dashboard/requests for a second request of this shot"

ERROR_CODES: Mapping[str, ErrorClass] = {
    # The ``type`` of fal's first ``detail`` item.
    "CONTENT_POLICY_VIOLATION": ("content_policy", False),
}

STATES: Mapping[str, JobState] = {
    "IN_QUEUE": JobState.QUEUED,
    "IN_PROGRESS": JobState.RUNNING,
    "COMPLETED": JobState.SUCCEEDED,
}


def endpoint(request: ShotRequest) -> str:
    """The model endpoint for the shot's media: image-to-video from a first frame,
    reference-to-video with references, text-to-video otherwise."""
    wire_id = resolve_model(FAL, request.model).wire_id
    if request.first_frame is not None:
        return f"{wire_id}/image-to-video"
    return f"{wire_id}/{'reference-to-video' if request.media else 'text-to-video'}"


def app_path(request: ShotRequest) -> str:
    """Where fal queues every mode of the model: the endpoint's first two segments."""
    return "/".join(endpoint(request).split("/")[:2])


def request_body(request: ShotRequest, uri: Any) -> dict[str, Any]:
    """The model input; ``uri`` gives each reference's URL or data URI.

    fal's schema takes durations and seeds as documented: the duration as a string
    ("5"), references as ``image_urls``/``video_urls``/``audio_urls`` in token order.
    """
    check_request(request)
    body: dict[str, Any] = {
        "prompt": request.prompt,
        "duration": str(int(request.duration)),
        "aspect_ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "generate_audio": request.generate_audio,
        "seed": request.seed,
    }
    if request.first_frame is not None:
        body["image_url"] = uri(request.first_frame)
    if request.last_frame is not None:
        body["end_image_url"] = uri(request.last_frame)
    for field, refs in (("image_urls", request.images), ("video_urls", request.videos)):
        if refs:
            body[field] = [uri(ref) for ref in refs]
    if request.audios:
        body["audio_urls"] = [uri(ref) for ref in request.audios]
    body.update(request.params)
    return body


def check_request(request: ShotRequest) -> None:
    """Refuse what fal would refuse, before anything is encoded or sent."""
    ctx = CallContext(NAME, request.id)
    if not request.prompt.strip():
        raise ctx.error("the prompt is empty; fal requires one", kind="invalid", retryable=False)
    if request.last_frame is not None and request.first_frame is None:
        raise ctx.error(
            "fal's image-to-video takes a last frame only with a first frame", kind="invalid", retryable=False
        )
    clashes = sorted((NAMED_FIELDS | FAL.named_params).intersection(key for key, _ in request.params))
    if clashes:
        raise ctx.error(
            f"params may not set {', '.join(clashes)}: the storyboard names these fields",
            kind="invalid",
            retryable=False,
        )


def job_state(payload: Mapping[str, Any]) -> JobState:
    # An unknown status counts as running; the engine's poll deadline bounds it.
    return STATES.get(str(payload.get("status", "")).upper(), JobState.RUNNING)


def result_status(payload: Mapping[str, Any], ctx: CallContext) -> JobStatus:
    """A finished job's result: the video URL, or a failure if there is none."""
    video = payload.get("video")
    url = video.get("url") if isinstance(video, dict) else None
    if not isinstance(url, str) or not url:
        return JobStatus(
            JobState.FAILED, error=ctx.error("fal's result has no video", kind="failed", retryable=False)
        )
    return JobStatus(JobState.SUCCEEDED, progress=1.0, result_url=url)


class FalProvider(ApiRoute):
    """A session with fal's queue; one ``httpx.AsyncClient``, closed by ``aclose``."""

    name = NAME
    caps = FAL
    auth_scheme = "Key"
    error_codes = ERROR_CODES
    idempotent = False
    duplicate_check = DUPLICATE_CHECK

    def _request_url(self, request: ShotRequest, job_id: str, action: str = "") -> str:
        # Quoted: a job id is the server's text and must stay one path segment.
        root = f"{self.base_url}/{app_path(request)}/requests/{quote(job_id, safe='')}"
        return f"{root}/{action}" if action else root

    async def submit(self, request: ShotRequest, idempotency_key: str) -> str:
        """Create the job. ``idempotency_key`` is unused: fal has none (see the module doc)."""
        ctx = self._context(request)

        def uri(ref: Any) -> str:
            return reference_uri(ref, DATA_URI_LIMITS, ctx)

        body = await asyncio.to_thread(request_body, request, uri)
        url = f"{self.base_url}/{endpoint(request)}"
        payload = await self._session.call_object(
            "POST", url, ctx, what="submit", creates_job=True, json=body, headers=self._auth()
        )
        job_id = payload.get("request_id")
        if not isinstance(job_id, str) or not job_id:
            # The job may exist all the same; the engine says so before submitting again.
            raise ctx.error("submit answer has no request_id", kind="submit_unknown", retryable=True)
        return job_id

    async def poll(self, request: ShotRequest, job_id: str) -> JobStatus:
        ctx = self._context(request, job_id)
        try:
            payload = await self._session.call_object(
                "GET", self._request_url(request, job_id, "status"), ctx, what="poll", headers=self._auth()
            )
        except ProviderError as exc:
            return _forgotten(exc)
        state = job_state(payload)
        if state is not JobState.SUCCEEDED:
            return JobStatus(state)
        return await self._result(request, job_id, ctx)

    async def _result(self, request: ShotRequest, job_id: str, ctx: CallContext) -> JobStatus:
        try:
            payload = await self._session.call_object(
                "GET", self._request_url(request, job_id), ctx, what="result", headers=self._auth()
            )
        except ProviderError as exc:
            if exc.retryable:
                raise
            if exc.kind == "not_found":
                return _forgotten(exc)
            # A refused generation (content policy, invalid input): final for this shot.
            return JobStatus(JobState.FAILED, error=exc)
        return result_status(payload, ctx)

    async def cancel(self, request: ShotRequest, job_id: str) -> None:
        """Ask fal to drop a queued job; best effort."""
        ctx = self._context(request, job_id)
        url = self._request_url(request, job_id, "cancel")
        await self._session.call("PUT", url, ctx, what="cancel", headers=self._auth())


def _forgotten(exc: ProviderError) -> JobStatus:
    """fal does not know the request right now: not proof that it is gone (a replica may not
    have seen it yet), so the engine keeps polling until the job's retention has passed."""
    if exc.kind != "not_found":
        raise exc
    return JobStatus(JobState.MISSING, error=exc)


def open_fal(env: Mapping[str, str], _store: Store) -> FalProvider:
    return FalProvider.from_env(env)


ENTRY = ProviderEntry(FAL, open_fal)
