"""A real HTTP server on 127.0.0.1 speaking the Lumenfall video protocol, for tests.

It creates jobs, moves them queued -> in_progress -> completed over a number
of polls, renders real small MP4s with ffmpeg and serves them from download
URLs on the same port (by default under the host name ``localhost``, a
different origin from the API's ``127.0.0.1``, so a client that leaks its key
to the download host is caught). It honours ``Idempotency-Key`` and counts
the jobs it creates. Faults are switched on per route and consumed in order::

    with LumenfallServer(api_key="sk-test") as server:
        server.fail_next("submit", 429, "RATE_LIMITED", retry_after="0")
        server.drop_next("submit")                 # job created, answer lost
        server.truncate_next_download()
        server.truncate_next_download(length=False)  # no Content-Length: only the media tells
        server.garble_next_download()              # a valid MP4 header, then noise
        server.unknown_first_polls = 2             # every job 404s its first polls (a lagging replica)
        ...
        assert server.jobs_created == 1

It is built on ``http.server`` rather than an ASGI app because some faults
live below HTTP: closing the socket without an answer, or mid-body.
"""

from __future__ import annotations

import json
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from shotlist.media.ffmpeg import run_ffmpeg

Route = Literal["submit", "poll", "download"]

PALETTE = ("0x3366aa", "0xaa3344", "0x33aa66", "0xaaaa33", "0x8844aa", "0x33aaaa", "0xdd7722")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass
class Fault:
    """One switched-on fault; ``times`` answers are affected, then it is spent."""

    route: Route
    times: int = 1
    status: int | None = None
    code: str = ""
    message: str = ""
    retry_after: str | None = None
    non_json: bool = False
    drop: Literal["before", "after"] | None = None
    delay: float = 0.0
    truncate: bool = False
    expire: bool = False
    without_length: bool = False
    garble: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; the key is replaced by ``auth``."""

    method: str
    path: str
    headers: dict[str, str]
    auth: Literal["none", "valid", "invalid"]
    body: Any


@dataclass
class Job:
    id: str
    key: str
    body: dict[str, Any]
    fail: tuple[str, str] | None = None
    polls: int = 0
    clip: Path | None = None
    tokens: list[str] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    unknown_polls: int = 0
    created: float = field(default_factory=time.monotonic)


class LumenfallServer:
    """The server and its state; usable as a context manager."""

    def __init__(
        self,
        *,
        api_key: str = "sk-test-lumenfall-0123456789",
        polls_to_complete: int = 3,
        clip_seconds_cap: float | None = None,
        download_host: str = "localhost",
        cost_per_second: float = 0.181,
        url_ttl: float = 3600.0,
        latency: float | None = None,
    ) -> None:
        self.api_key = api_key
        self.polls_to_complete = polls_to_complete
        self.clip_seconds_cap = clip_seconds_cap
        self.download_host = download_host
        self.cost_per_second = cost_per_second
        self.url_ttl = url_ttl
        self.unknown_first_polls = 0
        """Each job's first N polls answer 404, as a replica that has not seen it yet."""
        self.unknown_as_html = False
        """Those 404s come as a proxy's HTML page instead of the gateway's JSON error."""
        self.latency = latency
        """With a latency, a job completes that many seconds after it was created (progress
        reported linearly) instead of after ``polls_to_complete`` polls."""
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[str, Job] = {}
        self.faults: list[Fault] = []
        self._failing_jobs: list[Fault] = []
        self.errors: list[str] = []
        self._by_key: dict[str, str] = {}
        self._clips: dict[tuple[str, float, bool, str], Path] = {}
        self._lock = threading.RLock()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> LumenfallServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="lumenfall-server-")
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler, self)
        httpd = self._httpd
        self._thread = threading.Thread(target=lambda: httpd.serve_forever(poll_interval=0.05), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LumenfallServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- assertions ------------------------------------------------------------

    @property
    def jobs_created(self) -> int:
        with self._lock:
            return len(self.jobs)

    def requests_to(self, method: str, prefix: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    @property
    def submits(self) -> list[RecordedRequest]:
        return self.requests_to("POST", "/v1/videos")

    @property
    def downloads(self) -> list[RecordedRequest]:
        return self.requests_to("GET", "/files/")

    # -- faults ----------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def fail_next(
        self,
        route: Route,
        status: int,
        code: str = "",
        message: str = "",
        *,
        retry_after: str | None = None,
        times: int = 1,
        non_json: bool = False,
    ) -> None:
        """Answer the next ``times`` requests on ``route`` with an error."""
        message = message or f"injected {status}"
        self.add_fault(Fault(route, times, status, code, message, retry_after, non_json))

    def drop_next(self, route: Route, *, after: bool = True, times: int = 1, delay: float = 0.0) -> None:
        """Close the connection without an answer; ``after`` the job was created (submit)."""
        self.add_fault(Fault(route, times, drop="after" if after else "before", delay=delay))

    def slow_next(self, route: Route, delay: float, *, times: int = 1) -> None:
        """Answer late (a submit is accepted first, then the answer waits)."""
        self.add_fault(Fault(route, times, delay=delay))

    def truncate_next_download(self, *, times: int = 1, length: bool = True) -> None:
        """Send half the clip and close; ``length=False`` sends no Content-Length (the body
        ends with the connection), so only the media itself shows it is cut short."""
        self.add_fault(Fault("download", times, truncate=True, without_length=not length))

    def garble_next_download(self, *, times: int = 1) -> None:
        """Send the clip's first bytes (a valid MP4 header) and noise for the rest, with a
        correct Content-Length."""
        self.add_fault(Fault("download", times, garble=True))

    def expire_next_download(self, status: int = 410, *, times: int = 1) -> None:
        """The URL being downloaded expires (answers ``status`` from now on)."""
        self.add_fault(Fault("download", times, status=status, expire=True))

    def fail_jobs(self, message: str, code: str = "CONTENT_POLICY", *, times: int = 1) -> None:
        """The next ``times`` jobs created end failed with this error."""
        fault = Fault("submit", times, code=code, message=message)
        with self._lock:
            self._failing_jobs.append(fault)

    def take_fault(self, route: Route) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.route == route and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    # -- the protocol ------------------------------------------------------------

    def create_job(self, key: str, body: dict[str, Any]) -> tuple[Job, bool]:
        """The job for ``key``: (job, created). Same key, same job."""
        with self._lock:
            if key and key in self._by_key:
                return self.jobs[self._by_key[key]], False
            job = Job(id=f"vid_{secrets.token_hex(8)}", key=key, body=body)
            pending = next((f for f in self._failing_jobs if f.times > 0), None)
            if pending is not None:
                pending.times -= 1
                job.fail = (pending.message, pending.code)
            self.jobs[job.id] = job
            if key:
                self._by_key[key] = job.id
            return job, True

    def job_payload(self, job: Job) -> dict[str, Any]:
        """The GET answer after one more poll."""
        with self._lock:
            job.polls += 1
            polls = job.polls
        base: dict[str, Any] = {"id": job.id, "object": "video", "model": job.body.get("model")}
        if self.latency is not None:
            elapsed = time.monotonic() - job.created
            if elapsed < self.latency:
                return {**base, "status": "in_progress", "progress": round(100 * elapsed / self.latency)}
        elif polls < self.polls_to_complete:
            progress = round(100 * polls / self.polls_to_complete)
            status = "queued" if polls == 1 else "in_progress"
            return {**base, "status": status, "progress": 0 if polls == 1 else progress}
        if job.fail is not None:
            message, code = job.fail
            return {
                **base,
                "status": "failed",
                "error": {"message": message, "type": "generation_error", "code": code},
            }
        return {
            **base,
            "status": "completed",
            "progress": 100,
            "output": {"url": self._fresh_url(job)},
            "expires_at": int(time.time() + self.url_ttl),
            "metadata": {"cost": round(self.cost_per_second * self._duration(job), 4)},
        }

    def _fresh_url(self, job: Job) -> str:
        if job.clip is None:
            job.clip = self._render_clip(job.body)
        token = secrets.token_urlsafe(12)
        with self._lock:
            job.tokens.append(token)
        return f"http://{self.download_host}:{self.port}/files/{job.id}/{token}.mp4"

    def _duration(self, job: Job) -> float:
        value = job.body.get("duration", 5)
        seconds = float(value) if isinstance(value, int | float) else 5.0
        return min(seconds, self.clip_seconds_cap or seconds, 15.0)

    def _render_clip(self, body: dict[str, Any]) -> Path:
        raw_seed = body.get("seed")
        seed = raw_seed if isinstance(raw_seed, int) else 0
        colour = PALETTE[seed % len(PALETTE)]
        seconds = self._duration(Job("", "", body))
        audio = bool(body.get("generate_audio", True))
        size = _clip_size(body)
        key = (colour, seconds, audio, size)
        with self._lock:
            if key in self._clips:
                return self._clips[key]
        assert self._tmp is not None
        out = Path(self._tmp.name) / f"clip-{len(self._clips)}-{secrets.token_hex(4)}.mp4"
        run_ffmpeg(_clip_args(colour, seconds, audio, size, seed, out), step="rendering a test clip")
        with self._lock:
            self._clips[key] = out
        return out


def _clip_size(body: dict[str, Any]) -> str:
    # Small, but with the requested shape, so a stitcher sees realistic aspect ratios.
    text = str(body.get("size") or body.get("aspect_ratio") or "16:9")
    for sep in ("x", ":"):
        if sep in text:
            w, _, h = text.partition(sep)
            if w.isdigit() and h.isdigit() and int(w) and int(h):
                height = round(320 * int(h) / int(w) / 2) * 2
                return f"320x{max(2, height)}"
    return "320x180"


def _clip_args(colour: str, seconds: float, audio: bool, size: str, seed: int, out: Path) -> list[str]:
    video = ["-f", "lavfi", "-i", f"color=c={colour}:s={size}:r=24:d={seconds}"]
    sound = [
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency={220 + seed % 440}:sample_rate=48000:duration={seconds}",
    ]
    codecs = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        return [
            *video,
            *sound,
            *codecs,
            "-c:a",
            "aac",
            "-shortest",
            "-movflags",
            "+faststart",
            str(out),
        ]
    return [*video, *codecs, "-movflags", "+faststart", str(out)]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[_Handler], state: LumenfallServer) -> None:
        self.state = state
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and left makes the late answer fail: expected, not noise.
        import sys

        self.state.errors.append(repr(sys.exc_info()[1]))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read ``server.requests`` instead."""

    @property
    def state(self) -> LumenfallServer:
        return self.server.state

    # -- plumbing ----------------------------------------------------------------

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return {"_unparsed": raw[:200].decode("latin-1")}

    def _record(self, body: Any) -> Literal["none", "valid", "invalid"]:
        given = self.headers.get("Authorization")
        auth: Literal["none", "valid", "invalid"] = "none"
        if given is not None:
            auth = "valid" if given == f"Bearer {self.state.api_key}" else "invalid"
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}
        path = urlsplit(self.path).path
        with self.state._lock:
            self.state.requests.append(RecordedRequest(self.command, path, headers, auth, body))
        return auth

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, code: str, message: str, **headers: str) -> None:
        error = {"message": message, "type": ERROR_TYPES.get(status, "api_error"), "code": code}
        self._send_json(status, {"error": error}, headers)

    def _send_fault(self, fault: Fault) -> None:
        assert fault.status is not None
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.non_json:
            data = b"<html><body>502 Bad Gateway</body></html>"
            self.send_response(fault.status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._send_error(fault.status, fault.code, fault.message, **headers)

    def _drop(self) -> None:
        """Close the connection without a word."""
        self.close_connection = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- routes ------------------------------------------------------------------

    def do_POST(self) -> None:
        body = self._read_body()
        auth = self._record(body)
        if urlsplit(self.path).path.rstrip("/") != "/v1/videos":
            self._send_error(404, "NOT_FOUND", f"no route POST {self.path}")
            return
        if not self._authorized(auth):
            return
        fault = self.state.take_fault("submit")
        if fault is not None and fault.drop == "before":
            self._drop()
            return
        if fault is not None and fault.status is not None:
            self._send_fault(fault)
            return
        problem = _invalid_body(body)
        if problem:
            self._send_error(400, "INVALID_REQUEST", problem)
            return
        key = self.headers.get("Idempotency-Key", "")
        job, created = self.state.create_job(key, body)
        if not created and job.body != body:
            self._send_error(422, "INVALID_REQUEST", "Idempotency-Key reused with another body")
            return
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.drop == "after":
            self._drop()
            return
        answer = {"id": job.id, "object": "video", "status": "queued", "model": body.get("model")}
        self._send_json(202 if created else 200, answer)

    def do_GET(self) -> None:
        auth = self._record(None)
        path = urlsplit(self.path).path
        if path.startswith("/files/"):
            self._download(path)
            return
        if path == "/loop":  # a result URL that redirects to itself, forever
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not path.startswith("/v1/videos/"):
            self._send_error(404, "NOT_FOUND", f"no route GET {path}")
            return
        if not self._authorized(auth):
            return
        fault = self.state.take_fault("poll")
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.drop:
            self._drop()
            return
        if fault is not None and fault.status is not None:
            self._send_fault(fault)
            return
        job = self.state.jobs.get(path.removeprefix("/v1/videos/"))
        if job is not None and job.unknown_polls < self.state.unknown_first_polls:
            job.unknown_polls += 1
            if self.state.unknown_as_html:
                self._send_html(404, b"<html><body><h1>404 Not Found</h1>nginx</body></html>")
                return
            job = None
        if job is None:
            self._send_error(404, "NOT_FOUND", f"no video {path.rsplit('/', 1)[-1]}")
            return
        self._send_json(200, self.state.job_payload(job))

    def _send_html(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_DELETE(self) -> None:
        self._record(None)
        self._send_error(405, "METHOD_NOT_ALLOWED", "jobs cannot be deleted")

    def _authorized(self, auth: str) -> bool:
        if auth == "valid":
            return True
        given = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        # Echo the key like careless gateways do: clients must redact what they raise.
        self._send_error(401, "AUTHENTICATION_FAILED", f"Invalid API key provided: {given}")
        return False

    def _download(self, path: str) -> None:
        parts = path.removeprefix("/files/").split("/")
        job = self.state.jobs.get(parts[0]) if len(parts) == 2 else None
        token = parts[1].removesuffix(".mp4") if len(parts) == 2 else ""
        if job is None or job.clip is None or token not in job.tokens:
            self._send_error(404, "NOT_FOUND", "no such file")
            return
        fault = self.state.take_fault("download")
        if fault is not None and fault.expire:
            job.expired.add(token)
        if token in job.expired:
            status = fault.status if fault is not None and fault.status else 410
            self._send_error(status, "EXPIRED", "this URL has expired; fetch the job again")
            return
        if fault is not None and fault.status is not None:
            self._send_fault(fault)
            return
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        data = job.clip.read_bytes()
        if fault is not None and fault.garble:
            # Everything up to the media data stays valid (ftyp, and moov: the clips are
            # faststart), so the file opens and declares its full length.
            keep = data.find(b"mdat") + 4
            data = data[:keep] + secrets.token_bytes(len(data) - keep)
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        if fault is not None and fault.without_length:
            # HTTP/1.1 without a length: the body ends when the connection closes.
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault is not None and fault.truncate:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self._drop()
            return
        self.wfile.write(data)


def _invalid_body(body: Any) -> str:
    """Why a submit body is refused, or ''."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    for name in ("model", "prompt"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"'{name}' is required"
    refs = body.get("input_reference", [])
    if not isinstance(refs, list) or len(refs) > 9:
        return "'input_reference' must be an array of at most 9 images"
    for ref in refs:
        if not isinstance(ref, str) or not ref.startswith(("https://", "http://", "data:image/")):
            return "'input_reference' items must be image URLs or data URIs"
    audios = body.get("audio_urls", [])
    if not isinstance(audios, list) or len(audios) > 3:
        return "'audio_urls' must be an array of at most 3 URLs"
    return ""


@contextmanager
def lumenfall_server(**options: Any) -> Iterator[LumenfallServer]:
    """Run a ``LumenfallServer`` for the block."""
    server = LumenfallServer(**options)
    with server:
        yield server
