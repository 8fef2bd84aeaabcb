"""BytePlus ModelArk's video generation tasks for Seedance 2.0 (``ARK_API_KEY``, ``ARK_BASE_URL``).

Wire protocol (docs.byteplus.com, ModelArk "Video Generation API")::

    POST   {base}/contents/generations/tasks        Authorization: Bearer KEY
           {"model", "content": [{"type": "text", "text"},
                                 {"type": "image_url", "image_url": {"url"}, "role": "reference_image"},
                                 {"type": "video_url", "video_url": {"url"}, "role": "reference_video"},
                                 {"type": "audio_url", "audio_url": {"url"}, "role": "reference_audio"}],
            "ratio", "resolution", "duration", "seed", "generate_audio"}     -> {"id"}
    GET    {base}/contents/generations/tasks/{id}   -> {"id", "model", "status", "content": {"video_url"},
                                                       "error": {"code", "message"}, "seed", "ratio",
                                                       "resolution", "duration", "created_at", "updated_at"}
    GET    {base}/contents/generations/tasks?page_num&page_size&filter.model  -> {"items", "total"}
    DELETE {base}/contents/generations/tasks/{id}   cancels a queued task

Statuses: queued, running, succeeded, failed, expired, cancelled. Errors are
``{"error": {"code", "message", "type"}}``. The result URL is valid for 24 hours.
A shot's first and last frames go as image items with the roles ``first_frame`` and
``last_frame``; the plan never mixes them with references (Seedance does not).

Ark takes no idempotency key, but it lists an account's tasks. After a submit whose
answer was lost (in this process, or in a render killed while submitting: the journal
record is older than this session), ``submit`` first looks for the task in that list:
a task of this model created since the journal record was written, whose seed,
duration, ratio and resolution are the shot's, and which no other shot of this session
holds. One such task is the shot's job: nothing is paid twice. None: the submit never
arrived, so it is sent. Several: shotlist cannot tell them apart and says so (naming
them) rather than guess or pay again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shotlist.errors import ProviderError
from shotlist.providers.base import JobState, JobStatus
from shotlist.providers.capabilities import ARK, resolve_model
from shotlist.providers.http import ApiRoute, CallContext, ErrorClass, reference_uri
from shotlist.providers.registry import ProviderEntry
from shotlist.request import NAMED_FIELDS, MediaKind, MediaRef, ShotRequest

if TYPE_CHECKING:
    from shotlist.store.cache import Store

NAME = "ark"
MB = 1_000_000
DATA_URI_LIMITS: Mapping[MediaKind, int] = {"image": 30 * MB, "video": 50 * MB, "audio": 15 * MB}
RESULT_TTL = 24 * 3600.0  # Ark keeps a finished task's video URL this long
CLOCK_SLACK = 120.0  # our clock against Ark's, when comparing creation times
LIST_PAGE_SIZE = 100
LIST_PAGES = 10
TASKS = "contents/generations/tasks"

_SENSITIVE = (
    "InputTextSensitiveContentDetected",
    "InputImageSensitiveContentDetected",
    "InputVideoSensitiveContentDetected",
    "InputAudioSensitiveContentDetected",
    "OutputVideoSensitiveContentDetected",
    "OutputAudioSensitiveContentDetected",
    "SensitiveContentDetected",
)
ERROR_CODES: Mapping[str, ErrorClass] = {
    **{code.upper(): ("content_policy", False) for code in _SENSITIVE},
    "AUTHENTICATIONERROR": ("auth", False),
    "ACCESSDENIED": ("auth", False),
    "ACCOUNTOVERDUEERROR": ("balance", False),
    "INVALIDPARAMETER": ("invalid", False),
    "MODELNOTOPEN": ("model", False),
    "RATELIMITEXCEEDED": ("rate_limited", True),
    "RATELIMITEXCEEDED.ENDPOINTRPMEXCEEDED": ("rate_limited", True),
    "QUOTAEXCEEDED": ("rate_limited", True),
    "SERVEROVERLOADED": ("upstream", True),
    "INTERNALSERVICEERROR": ("upstream", True),
}

STATES: Mapping[str, JobState] = {
    "queued": JobState.QUEUED,
    "running": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "expired": JobState.EXPIRED,
    "cancelled": JobState.CANCELLED,
}

_ROLES: Mapping[MediaKind, str] = {
    "image": "reference_image",
    "video": "reference_video",
    "audio": "reference_audio",
}


def check_request(request: ShotRequest) -> None:
    """Refuse what Ark would refuse, before anything is encoded or sent."""
    ctx = CallContext(NAME, request.id)
    if not request.prompt.strip():
        raise ctx.error("the prompt is empty; ark requires one", kind="invalid", retryable=False)
    if request.last_frame is not None and request.first_frame is None:
        raise ctx.error("ark takes a last frame only with a first frame", kind="invalid", retryable=False)
    clashes = sorted((NAMED_FIELDS | ARK.named_params).intersection(key for key, _ in request.params))
    if clashes:
        raise ctx.error(
            f"params may not set {', '.join(clashes)}: the storyboard names these fields",
            kind="invalid",
            retryable=False,
        )


def media_item(ref: MediaRef, url: str, role: str | None = None) -> dict[str, Any]:
    """One medium as a ``content`` item: ``{"type": "image_url", "image_url": {"url"}, "role"}``."""
    kind = f"{ref.kind}_url"
    return {"type": kind, kind: {"url": url}, "role": role or _ROLES[ref.kind]}


def request_body(request: ShotRequest, uri: Any) -> dict[str, Any]:
    """The task body; ``uri`` gives each reference's URL or data URI.

    The prompt names references in plain words ("Image 1"), counted per kind in the
    order of the content items, as Ark's documentation does.
    """
    check_request(request)
    content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
    frames = (("first_frame", request.first_frame), ("last_frame", request.last_frame))
    content += [media_item(ref, uri(ref), role) for role, ref in frames if ref is not None]
    content += [media_item(ref, uri(ref)) for ref in request.media]
    body: dict[str, Any] = {
        "model": resolve_model(ARK, request.model).wire_id,
        "content": content,
        "ratio": request.aspect_ratio,
        "resolution": request.resolution,
        "duration": int(request.duration),
        "seed": request.seed,
        "generate_audio": request.generate_audio,
    }
    body.update(request.params)
    return body


def _error_text(payload: Mapping[str, Any]) -> tuple[str, str]:
    error = payload.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "no reason given"), str(error.get("code") or "")
    return (str(error) if error else "no reason given"), ""


def task_status(payload: Mapping[str, Any], ctx: CallContext, *, now: float | None = None) -> JobStatus:
    """Translate one task answer. An unknown status counts as running (the poll deadline bounds it)."""
    raw = str(payload.get("status", "")).lower()
    state = STATES.get(raw, JobState.RUNNING)
    if state in (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED):
        message, code = _error_text(payload)
        kind = ERROR_CODES.get(code.upper(), ("failed", False))[0] if code else raw
        detail = f"{message} ({code})" if code else message
        return JobStatus(state, error=ctx.error(f"the task {raw}: {detail}", kind=kind, retryable=False))
    if state is not JobState.SUCCEEDED:
        return JobStatus(state)
    finished = payload.get("updated_at")
    current = time.time() if now is None else now
    if isinstance(finished, int | float) and current - finished > RESULT_TTL:
        # The video is gone: only a new task can make it (the engine submits one).
        message = "the task's video URL expired (Ark keeps results for 24 hours)"
        return JobStatus(JobState.EXPIRED, error=ctx.error(message, kind="expired", retryable=False))
    content = payload.get("content")
    url = content.get("video_url") if isinstance(content, dict) else None
    return JobStatus(
        JobState.SUCCEEDED, progress=1.0, result_url=url if isinstance(url, str) and url else None
    )


def matches(item: Mapping[str, Any], body: Mapping[str, Any], since: float) -> bool:
    """Whether a listed task can be the one ``body`` created at or after ``since``."""
    created = item.get("created_at")
    if not isinstance(created, int | float) or created < since - CLOCK_SLACK:
        return False
    if item.get("model") != body["model"]:
        return False
    # Fields a listed task carries; any it leaves out cannot tell tasks apart.
    return all(
        item.get(name, body[name]) == body[name] for name in ("seed", "duration", "ratio", "resolution")
    )


class ArkProvider(ApiRoute):
    """A session with ModelArk; one ``httpx.AsyncClient``, closed by ``aclose``.

    ``store`` gives ``submit`` the journal record of a shot, whose creation time bounds
    the search for a task whose submit answer was lost (see the module docstring).
    ``options`` are ``ApiRoute``'s (timeout, transport, max_download_bytes).
    """

    name = NAME
    caps = ARK
    error_codes = ERROR_CODES
    no_result_url = "the task finished without a video URL"

    def __init__(
        self, api_key: str, base_url: str | None = None, *, store: Store | None = None, **options: Any
    ) -> None:
        super().__init__(api_key, base_url, **options)
        self._store = store
        self._opened_at = time.time()
        self._first_attempt: dict[str, float] = {}
        self._lost: set[str] = set()
        self._claimed: set[str] = set()  # task ids that belong to a shot of this session
        self._sending = 0
        self._idle = asyncio.Condition()

    def _task_url(self, job_id: str) -> str:
        # Quoted: a task id is the server's text and must stay one path segment.
        return f"{self.base_url}/{TASKS}/{quote(job_id, safe='')}"

    # -- submit, or find the task a lost answer hid

    async def submit(self, request: ShotRequest, idempotency_key: str) -> str:
        """Create the task, unless a lost answer's task is found first (module docstring)."""
        ctx = self._context(request)

        def uri(ref: MediaRef) -> str:
            return reference_uri(ref, DATA_URI_LIMITS, ctx)

        body = await asyncio.to_thread(request_body, request, uri)
        since = await self._since(request, idempotency_key)
        if idempotency_key in self._lost or since < self._opened_at:
            found = await self._reconcile(body, since, ctx)
            if found is not None:
                self._lost.discard(idempotency_key)
                return found
        self._lost.discard(idempotency_key)
        return await self._create(body, idempotency_key, ctx)

    async def _since(self, request: ShotRequest, key: str) -> float:
        """When this shot's first submit may have been sent: its journal record's time."""
        record = None
        if self._store is not None:
            record = await asyncio.to_thread(self._store.journal_get, request.hash)
        if record is not None and record.idempotency_key == key:
            return record.created_at
        return self._first_attempt.setdefault(key, time.time())

    async def _create(self, body: dict[str, Any], key: str, ctx: CallContext) -> str:
        self._sending += 1
        try:
            payload = await self._session.call_object(
                "POST", f"{self.base_url}/{TASKS}", ctx, what="submit", creates_job=True,
                json=body, headers=self._auth(),
            )  # fmt: skip
        except ProviderError as exc:
            if exc.kind == "submit_unknown":
                self._lost.add(key)
                raise ctx.error(
                    f"{exc.message}; the next attempt looks for the task in Ark's task list first",
                    kind="submit_unknown",
                    retryable=True,
                ) from exc
            raise
        finally:
            await self._done_sending()
        job_id = payload.get("id")
        if not isinstance(job_id, str) or not job_id:
            self._lost.add(key)
            raise ctx.error("submit answer has no task id", kind="submit_unknown", retryable=True)
        self._claimed.add(job_id)
        return job_id

    async def _done_sending(self) -> None:
        async with self._idle:
            self._sending -= 1
            self._idle.notify_all()

    async def _reconcile(self, body: dict[str, Any], since: float, ctx: CallContext) -> str | None:
        """The task a lost submit answer created, if the list shows exactly one."""
        # A submit of another shot still on the wire could be mistaken for this one.
        async with self._idle:
            await self._idle.wait_for(lambda: self._sending == 0)
        candidates = [
            str(item["id"])
            for item in await self._list(body["model"], ctx)
            if matches(item, body, since) and str(item.get("id")) not in self._claimed
        ]
        if len(candidates) > 1:
            raise ctx.error(
                f"a submit answer was lost and Ark lists {len(candidates)} tasks that could be this "
                f"shot's ({', '.join(candidates)}); shotlist cannot tell which, so it submits nothing. "
                "Check them in the ModelArk console; rendering again retries the search",
                kind="ambiguous",
                retryable=False,
            )
        if candidates:
            self._claimed.add(candidates[0])
            return candidates[0]
        return None

    async def _list(self, model: str, ctx: CallContext) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(1, LIST_PAGES + 1):
            params = {"page_num": page, "page_size": LIST_PAGE_SIZE, "filter.model": model}
            payload = await self._session.call_object(
                "GET", f"{self.base_url}/{TASKS}", ctx, what="list tasks", params=params, headers=self._auth()
            )
            found = [item for item in payload.get("items") or [] if isinstance(item, dict) and item.get("id")]
            items += found
            total = payload.get("total")
            if len(found) < LIST_PAGE_SIZE or (isinstance(total, int) and len(items) >= total):
                break
        return items

    # -- poll, fetch, cancel

    async def poll(self, request: ShotRequest, job_id: str) -> JobStatus:
        ctx = self._context(request, job_id)
        self._claimed.add(job_id)
        try:
            payload = await self._session.call_object(
                "GET", self._task_url(job_id), ctx, what="poll", headers=self._auth()
            )
        except ProviderError as exc:
            if exc.kind != "not_found":
                raise
            # Not proof that the task is gone (see base.py, "missing"): the engine decides.
            return JobStatus(JobState.MISSING, error=exc)
        return task_status(payload, ctx)

    async def cancel(self, request: ShotRequest, job_id: str) -> None:
        """Cancel a queued task; best effort (Ark cancels only queued ones)."""
        ctx = self._context(request, job_id)
        await self._session.call("DELETE", self._task_url(job_id), ctx, what="cancel", headers=self._auth())


def open_ark(env: Mapping[str, str], store: Store) -> ArkProvider:
    return ArkProvider.from_env(env, store=store)


ENTRY = ProviderEntry(ARK, open_ark)
