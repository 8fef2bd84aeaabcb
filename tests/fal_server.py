"""A real HTTP server on 127.0.0.1 speaking fal's queue API for Seedance 2.0, for tests.

As docs.fal.ai documents it (Queue API; fal.ai/models/bytedance/seedance-2.0/*)::

    POST /{endpoint}                         Authorization: Key KEY; the body is the model input
        -> 200 {"request_id", "status_url", "response_url", "cancel_url", "queue_position"}
    GET  /{app}/requests/{id}/status         -> {"status": IN_QUEUE|IN_PROGRESS|COMPLETED, ...}
    GET  /{app}/requests/{id}                -> {"video": {"url", ...}, "seed"}, or the job's
                                                failure: 422 {"detail": [{"loc", "msg", "type"}]}
    PUT  /{app}/requests/{id}/cancel         -> 202 {"status": "CANCELLATION_REQUESTED"}

``{app}`` is the endpoint without its sub-path (``bytedance/seedance-2.0``). Errors are
``{"detail": ...}``. No idempotency: every accepted submit is a new, billed job. Fault
routes: ``submit``, ``status``, ``result``, ``download``.
"""

from __future__ import annotations

import uuid
from typing import Any

from video_api_server import Handler, Job, VideoApiServer, clip_size

APP = "bytedance/seedance-2.0"
MODES = ("text-to-video", "image-to-video", "reference-to-video")
ENDPOINTS = {f"{APP}/{tier}{mode}" for mode in MODES for tier in ("", "fast/")}
DURATIONS = {"auto", *(str(n) for n in range(4, 16))}
RATIOS = {"auto", "21:9", "16:9", "4:3", "1:1", "3:4", "9:16"}


class FalServer(VideoApiServer):
    def __init__(self, *, api_key: str = "fal-test-key-0123456789:abcdef", **options: Any) -> None:
        super().__init__(api_key=api_key, **options)

    @property
    def base_url(self) -> str:
        return self.origin

    def authorized(self, header: str | None) -> bool:
        return header == f"Key {self.api_key}"

    @property
    def submits(self) -> list[Any]:
        return [r for r in self.requests_to("POST") if r.path.strip("/") in ENDPOINTS]

    def handle(self, h: Handler) -> None:
        path = h.path_only.strip("/")
        if h.auth != "valid":
            given = (h.headers.get("Authorization") or "").removeprefix("Key ")
            # Echoed like a careless server would: clients must redact what they raise.
            h.send_json(401, {"detail": f"Invalid key: {given}"})
            return
        if h.command == "POST" and path in ENDPOINTS:
            self._submit(h, path)
        elif path.startswith(f"{APP}/requests/"):
            self._request(h, path.removeprefix(f"{APP}/requests/"))
        else:
            h.send_json(404, {"detail": f"Path /{path} not found"})

    # -- submit ---------------------------------------------------------------------------

    def _submit(self, h: Handler, endpoint: str) -> None:
        fault = self.take_fault("submit")
        if fault is not None and fault.drop == "before":
            h.drop()
            return
        if fault is not None and fault.status is not None:
            self._fault_answer(h, fault.status, fault.message, fault.retry_after, fault.non_json)
            return
        problems = invalid_input(endpoint, h.body)
        if problems:
            h.send_json(422, {"detail": problems})
            return
        job = self.new_job(str(uuid.uuid4()), h.body, endpoint)
        if fault is not None and fault.drop == "after":
            h.drop()
            return
        root = f"{self.origin}/{APP}/requests/{job.id}"
        h.send_json(
            200,
            {
                "request_id": job.id,
                "response_url": root,
                "status_url": f"{root}/status",
                "cancel_url": f"{root}/cancel",
                "queue_position": 0,
            },
        )

    # -- status, result, cancel --------------------------------------------------------------

    def _request(self, h: Handler, rest: str) -> None:
        job_id, _, action = rest.partition("/")
        job = self.jobs.get(job_id)
        if job is None:
            h.send_json(404, {"detail": f"Request {job_id} not found"})
            return
        if h.command == "GET" and action == "status":
            self._status(h, job)
        elif h.command == "GET" and action == "":
            self._result(h, job)
        elif h.command == "PUT" and action == "cancel":
            job.cancelled = True
            h.send_json(202, {"status": "CANCELLATION_REQUESTED"})
        else:
            h.send_json(405, {"detail": "Method not allowed"})

    def _status(self, h: Handler, job: Job) -> None:
        fault = self.take_fault("status")
        if fault is not None and fault.drop:
            h.drop()
            return
        if fault is not None and fault.status is not None:
            self._fault_answer(h, fault.status, fault.message, fault.retry_after, fault.non_json)
            return
        stage = self.advance(job)
        root = f"{self.origin}/{APP}/requests/{job.id}"
        if stage == "queued":
            h.send_json(202, {"status": "IN_QUEUE", "queue_position": 1, "response_url": root})
        elif stage == "running":
            h.send_json(202, {"status": "IN_PROGRESS", "logs": [], "response_url": root})
        else:
            h.send_json(200, {"status": "COMPLETED", "logs": [], "response_url": root, "metrics": {}})

    def _result(self, h: Handler, job: Job) -> None:
        fault = self.take_fault("result")
        if fault is not None and fault.drop:
            h.drop()
            return
        if fault is not None and fault.status is not None:
            self._fault_answer(h, fault.status, fault.message, fault.retry_after, fault.non_json)
            return
        if job.finished_at is None:
            h.send_json(400, {"detail": "Request is still in progress"})
            return
        if job.fail is not None:
            message, code = job.fail
            # fal reports a refused generation only here, as a validation error.
            detail = [{"loc": ["body", "prompt"], "msg": message, "type": code or "content_policy_violation"}]
            h.send_json(422, {"detail": detail})
            return
        body = job.body
        url = self.fresh_url(
            job,
            float(body.get("duration", "5")) if body.get("duration") != "auto" else 5.0,
            bool(body.get("generate_audio", True)),
            clip_size(body.get("aspect_ratio")),
        )
        video = {"url": url, "content_type": "video/mp4", "file_name": "output.mp4"}
        h.send_json(200, {"video": video, "seed": body.get("seed", 0)})

    def _fault_answer(
        self, h: Handler, status: int, message: str, retry_after: str | None, non_json: bool
    ) -> None:
        if non_json:
            h.send_html(status)
            return
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        h.send_json(status, {"detail": message}, headers)


def invalid_input(endpoint: str, body: Any) -> list[dict[str, Any]]:
    """fal's 422 ``detail`` items for an input the endpoint refuses; [] when it is valid."""
    if not isinstance(body, dict):
        return [_problem([], "Input should be a valid dictionary", "dict_type")]
    problems = []
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        problems.append(_problem(["prompt"], "Field required", "missing"))
    if "duration" in body and body["duration"] not in DURATIONS:
        problems.append(_problem(["duration"], "Input should be 'auto', '4', ... or '15'", "literal_error"))
    if "aspect_ratio" in body and body["aspect_ratio"] not in RATIOS:
        problems.append(_problem(["aspect_ratio"], "Input should be a listed ratio", "literal_error"))
    mode = endpoint.rsplit("/", 1)[-1]
    counts = {name: len(body.get(name) or []) for name in ("image_urls", "video_urls", "audio_urls")}
    if mode == "image-to-video" and not isinstance(body.get("image_url"), str):
        problems.append(_problem(["image_url"], "Field required", "missing"))
    if mode != "reference-to-video" and any(counts.values()):
        problems.append(_problem(["image_urls"], "Extra inputs are not permitted", "extra_forbidden"))
    for name, limit in (("image_urls", 9), ("video_urls", 3), ("audio_urls", 3)):
        if counts[name] > limit:
            problems.append(_problem([name], f"List should have at most {limit} items", "too_long"))
    if sum(counts.values()) > 12:
        problems.append(_problem([], "Total files across all modalities must not exceed 12", "value_error"))
    if counts["audio_urls"] and not (counts["image_urls"] or counts["video_urls"]):
        problems.append(_problem(["audio_urls"], "Audio requires at least one image or video", "value_error"))
    return problems


def _problem(loc: list[str], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}
