"""A real HTTP server on 127.0.0.1 speaking BytePlus ModelArk's video generation API, for tests.

As ModelArk documents it (docs.byteplus.com, "Video Generation API")::

    POST   /api/v3/contents/generations/tasks       Authorization: Bearer KEY  -> 200 {"id"}
    GET    /api/v3/contents/generations/tasks/{id}  -> {"id", "model", "status", "content": {"video_url"},
                                                       "error", "seed", "ratio", "resolution",
                                                       "duration", "usage", "created_at", "updated_at"}
    GET    /api/v3/contents/generations/tasks?page_num&page_size&filter.status&filter.model
                                                    -> {"items": [...newest first], "total"}
    DELETE /api/v3/contents/generations/tasks/{id}  cancels a queued task

Statuses queued, running, succeeded, failed, expired, cancelled; errors
``{"error": {"code", "message", "param", "type"}}``. No idempotency key. Fault routes:
``submit``, ``poll``, ``list``, ``download``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from video_api_server import Handler, Job, VideoApiServer, clip_size

MODELS = {"dreamina-seedance-2-0-260128", "dreamina-seedance-2-0-fast-260128"}
RATIOS = {"21:9", "16:9", "4:3", "1:1", "3:4", "9:16", "adaptive"}
RESOLUTIONS = {"480p", "720p", "1080p"}
ROLES = {
    "image_url": {"first_frame", "last_frame", "reference_image"},
    "video_url": {"reference_video"},
    "audio_url": {"reference_audio"},
}
TASKS = "/api/v3/contents/generations/tasks"
ERROR_TYPES = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 429: "TooManyRequests"}


class ArkServer(VideoApiServer):
    def __init__(self, *, api_key: str = "ark-test-0123456789abcdef", **options: Any) -> None:
        super().__init__(api_key=api_key, **options)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v3"

    def authorized(self, header: str | None) -> bool:
        return header == f"Bearer {self.api_key}"

    @property
    def submits(self) -> list[Any]:
        return self.requests_to("POST", TASKS)

    @property
    def lists(self) -> list[Any]:
        return [r for r in self.requests_to("GET", TASKS) if r.path.rstrip("/") == TASKS]

    def handle(self, h: Handler) -> None:
        path = h.path_only.rstrip("/")
        if h.auth != "valid":
            given = (h.headers.get("Authorization") or "").removeprefix("Bearer ")
            # Echoed like a careless server would: clients must redact what they raise.
            self.error(h, 401, "AuthenticationError", f"the API key {given} is invalid")
        elif path == TASKS and h.command == "POST":
            self._submit(h)
        elif path == TASKS and h.command == "GET":
            self._list(h)
        elif path.startswith(f"{TASKS}/"):
            self._task(h, path.removeprefix(f"{TASKS}/"))
        else:
            self.error(h, 404, "NotFound", f"no route {h.command} {path}")

    def error(self, h: Handler, status: int, code: str, message: str, retry_after: str | None = None) -> None:
        error = {
            "code": code,
            "message": message,
            "param": "",
            "type": ERROR_TYPES.get(status, "InternalError"),
        }
        h.send_json(status, {"error": error}, {"Retry-After": retry_after} if retry_after else None)

    def _fault(self, h: Handler, route: str) -> bool:
        """Answer with the next fault on ``route``, if one is set (True: answered)."""
        fault = self.take_fault(route)
        if fault is None:
            return False
        if fault.drop == "before" or (fault.drop and route != "submit"):
            h.drop()
        elif fault.non_json and fault.status:
            h.send_html(fault.status)
        elif fault.status:
            code = fault.code or ("RateLimitExceeded" if fault.status == 429 else "InternalServiceError")
            self.error(h, fault.status, code, fault.message, fault.retry_after)
        else:
            # drop "after": the task is created, then the answer is lost.
            self._create(h)
            h.drop()
        return True

    # -- routes ----------------------------------------------------------------------------

    def _submit(self, h: Handler) -> None:
        if self._fault(h, "submit"):
            return
        problem = invalid_task(h.body)
        if problem:
            self.error(h, 400, "InvalidParameter", problem)
            return
        job = self._create(h)
        h.send_json(200, {"id": job.id})

    def _create(self, h: Handler) -> Job:
        return self.new_job(f"cgt-{time.strftime('%Y%m%d%H%M%S')}-{secrets.token_hex(4)}", h.body)

    def _task(self, h: Handler, task_id: str) -> None:
        job = self.jobs.get(task_id)
        if h.command == "DELETE":
            if job is None:
                self.error(h, 404, "NotFound", f"task {task_id} not found")
            else:
                job.cancelled = True
                h.send_json(200, {})
            return
        if self._fault(h, "poll"):
            return
        if job is None:
            self.error(h, 404, "NotFound", f"The specified task {task_id} is not found")
            return
        self.advance(job)
        h.send_json(200, self.task_payload(job))

    def _list(self, h: Handler) -> None:
        if self._fault(h, "list"):
            return
        query = {key: values[0] for key, values in h.query.items()}
        page, size = int(query.get("page_num", 1)), int(query.get("page_size", 10))
        with self.lock:
            tasks = sorted(self.jobs.values(), key=lambda j: j.created_at, reverse=True)
        if "filter.model" in query:
            tasks = [j for j in tasks if j.body.get("model") == query["filter.model"]]
        items = [self.task_payload(j) for j in tasks]
        if "filter.status" in query:
            items = [i for i in items if i["status"] == query["filter.status"]]
        h.send_json(200, {"items": items[(page - 1) * size : page * size], "total": len(items)})

    def task_payload(self, job: Job) -> dict[str, Any]:
        """A task as GET shows it, in the state its polls so far put it in."""
        body = job.body
        payload: dict[str, Any] = {
            "id": job.id,
            "model": body.get("model"),
            "status": self._status(job),
            "error": None,
            "seed": body.get("seed"),
            "ratio": body.get("ratio", "16:9"),
            "resolution": body.get("resolution", "720p"),
            "duration": body.get("duration", 5),
            "framespersecond": 24,
            "generate_audio": body.get("generate_audio", True),
            "created_at": int(job.created_at),
            "updated_at": int(job.finished_at or job.created_at),
        }
        if payload["status"] == "failed" and job.fail is not None:
            message, code = job.fail
            payload["error"] = {"code": code or "OutputVideoSensitiveContentDetected", "message": message}
        if payload["status"] == "succeeded":
            seconds = float(body.get("duration", 5))
            url = self.fresh_url(
                job, seconds, bool(body.get("generate_audio", True)), clip_size(payload["ratio"])
            )
            payload["content"] = {"video_url": url}
            payload["usage"] = {"completion_tokens": 108900, "total_tokens": 108900}
        return payload

    def _status(self, job: Job) -> str:
        if job.cancelled:
            return "cancelled"
        if job.finished_at is None:
            return "queued" if job.polls <= 1 else "running"
        return "failed" if job.fail is not None else "succeeded"


def invalid_task(body: Any) -> str:
    """Why Ark refuses a task body, or ''."""
    if not isinstance(body, dict):
        return "the request body must be a JSON object"
    if body.get("model") not in MODELS:
        return f"The model {body.get('model')} does not exist or you do not have access to it"
    content = body.get("content")
    if not isinstance(content, list):
        return "content is required"
    texts = [item for item in content if item.get("type") == "text"]
    if len(texts) != 1 or not str(texts[0].get("text", "")).strip():
        return "content must hold one non-empty text item"
    counts = {"image_url": 0, "video_url": 0, "audio_url": 0}
    for item in content:
        kind = item.get("type")
        if kind == "text":
            continue
        if kind not in ROLES or item.get("role") not in ROLES[kind] or "url" not in (item.get(kind) or {}):
            return f"content item {item!r:.80} has an unknown type or role"
        counts[kind] += 1
    if counts["image_url"] > 9 or counts["video_url"] > 3 or counts["audio_url"] > 3:
        return "reference images (0-9) + videos (0-3) + audio (0-3)"
    if counts["audio_url"] and not (counts["image_url"] or counts["video_url"]):
        return "You cannot input audio alone"
    duration = body.get("duration", 5)
    if not isinstance(duration, int) or not 4 <= duration <= 15:
        return "duration must be an integer from 4 to 15"
    if body.get("ratio", "16:9") not in RATIOS or body.get("resolution", "720p") not in RESOLUTIONS:
        return "ratio or resolution is not supported"
    return ""
