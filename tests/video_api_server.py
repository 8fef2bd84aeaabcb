"""What the fal, Ark and Replicate test servers share: a real HTTP server on 127.0.0.1,
jobs that finish after a number of polls, real small MP4s made with ffmpeg, download
URLs on another origin (``localhost``), recorded requests and switchable faults.

Each protocol (paths, auth header, status names, answer and error shapes) lives in
its own module (fal_server.py, ark_server.py, replicate_server.py) as a subclass
that implements ``handle``. Faults are switched on per route and consumed in order::

    with FalServer(api_key="key") as server:
        server.fail_next("submit", 429, "slow down", retry_after="0")
        server.drop_next("submit")                 # job created, answer lost
        server.truncate_next_download()
        ...
        assert server.jobs_created == 1

It is built on ``http.server`` (as tests/lumenfall_server.py) because some faults
live below HTTP: closing the socket without an answer, or mid-body.
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from lumenfall_server import PALETTE, _clip_args

from shotlist.media.ffmpeg import run_ffmpeg

Auth = Literal["none", "valid", "invalid"]


@dataclass
class Fault:
    """One switched-on fault; ``times`` answers are affected, then it is spent."""

    route: str
    times: int = 1
    status: int | None = None
    message: str = ""
    code: str = ""
    retry_after: str | None = None
    non_json: bool = False
    drop: Literal["before", "after"] | None = None
    truncate: bool = False
    expire: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; the key is replaced by ``auth``."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    auth: Auth
    body: Any


@dataclass
class Job:
    """One created (billed) job."""

    id: str
    body: dict[str, Any]
    route: str = ""  # the path it was created at (fal's endpoint, Replicate's model)
    headers: dict[str, str] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    fail: tuple[str, str] | None = None  # (message, code) it ends failed with
    polls: int = 0
    clip: Path | None = None
    tokens: list[str] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    cancelled: bool = False
    finished_at: float | None = None


class VideoApiServer:
    """The shared state and life cycle; subclasses speak a protocol in ``handle``."""

    def __init__(
        self,
        *,
        api_key: str,
        polls_to_complete: int = 2,
        clip_seconds_cap: float | None = 1.0,
        download_host: str = "localhost",
    ) -> None:
        self.api_key = api_key
        self.polls_to_complete = polls_to_complete
        self.clip_seconds_cap = clip_seconds_cap
        self.download_host = download_host
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[str, Job] = {}
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self._failing: list[Fault] = []
        self._clips: dict[tuple[str, float, bool, str], Path] = {}
        self.lock = threading.RLock()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what a subclass provides ------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        raise NotImplementedError

    def handle(self, h: Handler) -> None:
        raise NotImplementedError

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> VideoApiServer:
        self._tmp = tempfile.TemporaryDirectory(prefix=f"{type(self).__name__}-")
        self._httpd = _HTTPServer(("127.0.0.1", 0), Handler, self)
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

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the server is not running"
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- assertions ------------------------------------------------------------------------

    @property
    def jobs_created(self) -> int:
        with self.lock:
            return len(self.jobs)

    def requests_to(self, method: str, prefix: str = "") -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    @property
    def downloads(self) -> list[RecordedRequest]:
        return self.requests_to("GET", "/files/")

    # -- faults ----------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def fail_next(
        self,
        route: str,
        status: int,
        message: str = "",
        *,
        code: str = "",
        retry_after: str | None = None,
        times: int = 1,
        non_json: bool = False,
    ) -> None:
        """Answer the next ``times`` requests on ``route`` with an error."""
        message = message or f"injected {status}"
        self.add_fault(Fault(route, times, status, message, code, retry_after, non_json))

    def drop_next(self, route: str, *, after: bool = True, times: int = 1) -> None:
        """Close the connection without an answer; ``after`` the job was created (submit)."""
        self.add_fault(Fault(route, times, drop="after" if after else "before"))

    def truncate_next_download(self, *, times: int = 1) -> None:
        self.add_fault(Fault("download", times, truncate=True))

    def expire_next_download(self, status: int = 403, *, times: int = 1) -> None:
        """The URL being downloaded expires (answers ``status`` from now on)."""
        self.add_fault(Fault("download", times, status=status, expire=True))

    def fail_jobs(self, message: str, code: str = "", *, times: int = 1) -> None:
        """The next ``times`` jobs created end failed with this reason."""
        with self.lock:
            self._failing.append(Fault("job", times, message=message, code=code))

    def take_fault(self, route: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.route == route and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    # -- jobs ------------------------------------------------------------------------------

    def new_job(self, job_id: str, body: dict[str, Any], route: str = "", **extra: Any) -> Job:
        with self.lock:
            job = Job(id=job_id, body=body, route=route, **extra)
            pending = next((f for f in self._failing if f.times > 0), None)
            if pending is not None:
                pending.times -= 1
                job.fail = (pending.message, pending.code)
            self.jobs[job.id] = job
            return job

    def advance(self, job: Job) -> Literal["queued", "running", "done"]:
        """One more poll of ``job``: where it stands now."""
        with self.lock:
            job.polls += 1
            if job.polls >= self.polls_to_complete:
                if job.finished_at is None:
                    job.finished_at = time.time()
                return "done"
            return "queued" if job.polls == 1 else "running"

    def fresh_url(self, job: Job, seconds: float, audio: bool, size: str) -> str:
        """A new download URL for the job's clip (rendered once, on first need)."""
        if job.clip is None:
            job.clip = self._render_clip(job, seconds, audio, size)
        token = secrets.token_urlsafe(12)
        with self.lock:
            job.tokens.append(token)
        return f"http://{self.download_host}:{self.port}/files/{job.id}/{token}.mp4"

    def _render_clip(self, job: Job, seconds: float, audio: bool, size: str) -> Path:
        seed = job.body.get("seed") if isinstance(job.body.get("seed"), int) else 0
        assert isinstance(seed, int)
        colour = PALETTE[seed % len(PALETTE)]
        seconds = min(seconds, self.clip_seconds_cap or seconds, 15.0)
        key = (colour, seconds, audio, size)
        with self.lock:
            if key in self._clips:
                return self._clips[key]
        assert self._tmp is not None
        out = Path(self._tmp.name) / f"clip-{len(self._clips)}-{secrets.token_hex(4)}.mp4"
        run_ffmpeg(_clip_args(colour, seconds, audio, size, seed, out), step="rendering a test clip")
        with self.lock:
            self._clips[key] = out
        return out

    def serve_download(self, h: Handler) -> None:
        parts = h.path_only.removeprefix("/files/").split("/")
        job = self.jobs.get(parts[0]) if len(parts) == 2 else None
        token = parts[1].removesuffix(".mp4") if len(parts) == 2 else ""
        if job is None or job.clip is None or token not in job.tokens:
            h.send_json(404, {"error": "no such file"})
            return
        fault = self.take_fault("download")
        if fault is not None and fault.expire:
            job.expired.add(token)
        if token in job.expired:
            h.send_json(fault.status if fault and fault.status else 403, {"error": "AccessDenied: expired"})
            return
        if fault is not None and fault.status is not None:
            h.send_json(fault.status, {"error": fault.message})
            return
        data = job.clip.read_bytes()
        h.send_response(200)
        h.send_header("Content-Type", "video/mp4")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if fault is not None and fault.truncate:
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            h.drop()
            return
        h.wfile.write(data)


def clip_size(ratio: object) -> str:
    """Small, but with the requested shape: 320 wide."""
    text = str(ratio or "16:9")
    for sep in ("x", ":"):
        if sep in text:
            w, _, h = text.partition(sep)
            if w.isdigit() and h.isdigit() and int(w) and int(h):
                return f"320x{max(2, round(320 * int(h) / int(w) / 2) * 2)}"
    return "320x180"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[Handler], state: VideoApiServer) -> None:
        self.state = state
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that left before the answer: expected under faults, not noise.
        self.state.errors.append(repr(sys.exc_info()[1]))


class Handler(BaseHTTPRequestHandler):
    """One request: parsed, recorded, then handed to the protocol's ``handle``."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    body: Any = None
    raw: bytes = b""
    auth: Auth = "none"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests read ``server.requests`` instead."""

    @property
    def state(self) -> VideoApiServer:
        return self.server.state

    @property
    def path_only(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)

    def _dispatch(self) -> None:
        self.body = self._read_body()
        given = self.headers.get("Authorization")
        self.auth = "none" if given is None else ("valid" if self.state.authorized(given) else "invalid")
        headers = {k.lower(): v for k, v in self.headers.items() if k.lower() != "authorization"}
        with self.state.lock:
            self.state.requests.append(
                RecordedRequest(self.command, self.path_only, self.query, headers, self.auth, self.body)
            )
        if self.path_only.startswith("/files/"):
            self.state.serve_download(self)
        else:
            self.state.handle(self)

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.raw = raw
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return {"_unparsed": raw[:200].decode("latin-1")}

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_html(self, status: int) -> None:
        data = f"<html><body>{status} Bad Gateway</body></html>".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def drop(self) -> None:
        """Close the connection without a word."""
        self.close_connection = True
        with suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
