"""A real HTTP server on 127.0.0.1 speaking Replicate's predictions API, for tests.

As replicate.com/docs/reference/http documents it::

    POST /v1/models/{owner}/{name}/predictions   Authorization: Bearer TOKEN, Cancel-After
         {"input": {...}}                        -> 201 {"id", "status": "starting", "urls", ...}
    GET  /v1/predictions/{id}                    -> {"id", "status", "output", "error", "completed_at", ...}
    POST /v1/predictions/{id}/cancel
    POST /v1/files                               multipart "content" -> 201 {"id", "urls": {"get"}}

Statuses starting, processing, succeeded, failed, canceled, aborted. Errors are problem
documents ``{"title", "detail", "status"}``; a rate limit answers 429 with only a detail
text ("Request was throttled. Expected available in 1 second."). No idempotency key.
Fault routes: ``submit``, ``poll``, ``upload``, ``download``.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from video_api_server import Handler, Job, VideoApiServer, clip_size

MODELS = {"bytedance/seedance-2.0", "bytedance/seedance-2.0-fast"}
RATIOS = {"21:9", "16:9", "4:3", "1:1", "3:4", "9:16"}
THROTTLED = "Request was throttled. Expected available in 1 second."


def _iso(when: float | None) -> str | None:
    return None if when is None else datetime.fromtimestamp(when, UTC).isoformat().replace("+00:00", "Z")


class ReplicateServer(VideoApiServer):
    def __init__(self, *, api_key: str = "r8_test0123456789abcdefABCDEF", **options: Any) -> None:
        super().__init__(api_key=api_key, **options)
        self.uploads: dict[str, bytes] = {}

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def authorized(self, header: str | None) -> bool:
        return header == f"Bearer {self.api_key}"

    @property
    def submits(self) -> list[Any]:
        return [r for r in self.requests_to("POST", "/v1/models/") if r.path.endswith("/predictions")]

    def handle(self, h: Handler) -> None:
        path = h.path_only.rstrip("/")
        if h.auth != "valid":
            given = (h.headers.get("Authorization") or "").removeprefix("Bearer ")
            # Echoed like a careless server would: clients must redact what they raise.
            self.problem(h, 401, "Unauthenticated", f"Invalid token {given}")
            return
        parts = path.split("/")
        if h.command == "POST" and path.startswith("/v1/models/") and parts[-1] == "predictions":
            self._submit(h, "/".join(parts[3:-1]))
        elif path.startswith("/v1/predictions/"):
            self._prediction(h, parts[3], parts[4] if len(parts) > 4 else "")
        elif h.command == "POST" and path == "/v1/files":
            self._upload(h)
        elif h.command == "GET" and path.startswith("/v1/files/"):
            h.send_json(200, {"id": parts[3]})
        else:
            self.problem(h, 404, "Not found", f"no route {h.command} {path}")

    def problem(self, h: Handler, status: int, title: str, detail: str) -> None:
        h.send_json(status, {"title": title, "detail": detail, "status": status})

    def _fault(self, h: Handler, route: str) -> bool:
        fault = self.take_fault(route)
        if fault is None:
            return False
        if fault.drop == "before" or (fault.drop and route != "submit"):
            h.drop()
        elif fault.non_json and fault.status:
            h.send_html(fault.status)
        elif fault.status == 429:
            self.problem(h, 429, "Too Many Requests", fault.message or THROTTLED)
        elif fault.status:
            self.problem(h, fault.status, "Internal Server Error", fault.message)
        else:
            self._create(h, self._model(h))
            h.drop()
        return True

    def _model(self, h: Handler) -> str:
        return "/".join(h.path_only.rstrip("/").split("/")[3:-1])

    # -- routes ----------------------------------------------------------------------------

    def _submit(self, h: Handler, model: str) -> None:
        if self._fault(h, "submit"):
            return
        if model not in MODELS:
            self.problem(h, 404, "Not found", f"model {model} not found")
            return
        problem = invalid_input(h.body)
        if problem:
            self.problem(h, 422, "Input validation failed", problem)
            return
        job = self._create(h, model)
        h.send_json(201, self.prediction(job, advance=False))

    def _create(self, h: Handler, model: str) -> Job:
        headers = {"cancel-after": h.headers.get("Cancel-After", "")}
        return self.new_job(secrets.token_hex(13), h.body, model, headers=headers)

    def _prediction(self, h: Handler, prediction_id: str, action: str) -> None:
        job = self.jobs.get(prediction_id)
        if h.command == "POST" and action == "cancel" and job is not None:
            job.cancelled = True
            h.send_json(200, self.prediction(job, advance=False))
            return
        if self._fault(h, "poll"):
            return
        if job is None or h.command != "GET":
            self.problem(h, 404, "Not found", f"prediction {prediction_id} not found")
            return
        h.send_json(200, self.prediction(job))

    def _upload(self, h: Handler) -> None:
        if self._fault(h, "upload"):
            return
        file_id = secrets.token_hex(8)
        self.uploads[file_id] = h.raw
        url = f"{self.base_url}/files/{file_id}"
        h.send_json(201, {"id": file_id, "size": len(h.raw), "urls": {"get": url}})

    def prediction(self, job: Job, *, advance: bool = True) -> dict[str, Any]:
        stage = self.advance(job) if advance else "queued"
        fields = job.body.get("input", {})
        status = {"queued": "starting", "running": "processing", "done": "succeeded"}[stage]
        if job.cancelled:
            status = "canceled"
        elif stage == "done" and job.fail is not None:
            status = "failed"
        payload: dict[str, Any] = {
            "id": job.id,
            "model": job.route,
            "version": "hidden",
            "input": fields,
            "logs": "",
            "output": None,
            "error": job.fail[0] if status == "failed" and job.fail else None,
            "status": status,
            "data_removed": False,
            "created_at": _iso(job.created_at),
            "completed_at": _iso(job.finished_at) if status in ("succeeded", "failed") else None,
            "urls": {
                "get": f"{self.base_url}/predictions/{job.id}",
                "cancel": f"{self.base_url}/predictions/{job.id}/cancel",
            },
        }
        if status == "succeeded":
            audio = bool(fields.get("generate_audio", True))
            size = clip_size(fields.get("aspect_ratio"))
            payload["output"] = self.fresh_url(job, float(fields.get("duration", 5)), audio, size)
            payload["metrics"] = {"predict_time": 1.0}
        return payload


def invalid_input(body: Any) -> str:
    """Replicate's validation ``detail`` for an input the model refuses, or ''."""
    if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
        return "- input: input is required"
    fields = body["input"]
    if not isinstance(fields.get("prompt"), str) or not fields["prompt"].strip():
        return "- input: prompt is required"
    if "image" in fields and fields.get("reference_images"):
        return "- input: image cannot be combined with reference_images"
    duration = fields.get("duration", 5)
    if not isinstance(duration, int) or not 4 <= duration <= 15:
        return "- input.duration: Must be an integer from 4 to 15"
    if fields.get("aspect_ratio", "16:9") not in RATIOS:
        return "- input.aspect_ratio: not one of the allowed values"
    counts = [
        len(fields.get(name) or []) for name in ("reference_images", "reference_videos", "reference_audios")
    ]
    if counts[0] > 9 or counts[1] > 3 or counts[2] > 3:
        return "- input: at most 9 reference images, 3 videos and 3 audios"
    if counts[2] and not (counts[0] or counts[1]):
        return "- input.reference_audios: Requires at least one reference image or video"
    return ""
