"""The preview page's server: the standard library's ``http.server`` in a thread, on 127.0.0.1.

Routes::

    GET /                  the page (preview.html: inline CSS and JS, nothing external)
    GET /state             what the page shows, as JSON
    GET /events            the same, pushed as server-sent events whenever it changes
    GET /cut/<v>.mp4       a snapshot of the cut, with Range support (players seek with it)
    GET /cut/<v>.vtt       its subtitles as WebVTT (read from the cut's SRT when it was built)
    GET /thumb/<hash>.jpg  a shot's (a take's) thumbnail, named by its request hash
    GET /favicon.svg       the page's icon (also as /favicon.ico, which browsers ask for)
    POST /pick             {"shot": ID, "take": K}: what ``shotlist pick`` does (JSON only)

The server knows only what the watch loop's events tell it (``PreviewState.apply``);
it never plans, renders or reads a storyboard: a pick is handed to the ``pick``
callback it was given (the CLI's: edit the storyboard in place), and the watch loop
sees the saved file like any other edit. A pick must be a same-origin JSON POST (a
form on another site can send neither that content type nor this Origin). The page writes user text (prompts,
ids, error messages) with ``textContent`` only, and a Content-Security-Policy with a
per-response nonce forbids any other script; requests naming another host are refused
(a web page cannot reach this server through DNS rebinding).
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from shotlist.errors import ConfigError, ShotlistError
from shotlist.events import (
    Event,
    Notice,
    ShotCached,
    ShotDownloaded,
    ShotFailed,
    ShotProgress,
    ShotQueued,
    ShotRetrying,
    ShotSubmitted,
    StitchFinished,
    StitchStarted,
    StitchStep,
)
from shotlist.watchmode.session import (
    BudgetRefused,
    CutReady,
    CycleFinished,
    CyclePlanned,
    CycleStarted,
    ThumbnailReady,
    WatchStarted,
)

HOST = "127.0.0.1"
KEEPALIVE_SECONDS = 15.0
NOTICES_KEPT = 8
CHUNK = 256 * 1024
_CUT_PATH = re.compile(r"^/cut/([0-9a-f]{1,64})\.mp4$")
_SUBTITLES_PATH = re.compile(r"^/cut/([0-9a-f]{1,64})\.vtt$")
_SRT_TIME = re.compile(r"(\d{2}:\d{2}:\d{2}),(\d{3})")
# A clapperboard: the page's icon, drawn inline so the page loads nothing from elsewhere.
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect x="3" y="12" width="26" height="17" rx="2" fill="#6cb6ff"/>'
    '<path d="M3 6l25-4 1 6-25 4z" fill="#e6e8eb"/>'
    '<path d="M8 5l4 5M15 4l4 5M22 3l4 5" stroke="#121417" stroke-width="2"/></svg>'
)
_THUMB_PATH = re.compile(r"^/thumb/([0-9a-f]{64})\.jpg$")
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
PICK_BODY_LIMIT = 4096
Pick = Callable[[str, int], object]
"""Sets a shot's pick (``shotlist pick``); raises ShotlistError with a message for the page."""


class PreviewState:
    """What the page shows, kept up to date from watch events. Thread-safe: events arrive
    on the event loop, readers are the server's threads. Every change bumps ``version``."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self.version = 0
        self.closed = False
        self.title = ""
        self.file = ""
        self.phase = "starting"
        self.step = ""
        self.cycle = 0
        self.preview = False
        self.spent_usd = 0.0
        self.budget_usd: float | None = None
        self.errors: list[str] = []
        self.error_kind = ""
        self.notices: list[str] = []
        self.shots: list[dict[str, Any]] = []
        self.cut: dict[str, Any] | None = None
        self.thumbs: dict[str, Path] = {}
        self.cuts: dict[str, Path] = {}
        self.subtitles: dict[str, str] = {}

    # -- writing (event loop)

    def apply(self, event: Event) -> None:
        with self._changed:
            if self._update(event):
                self.version += 1
                self._changed.notify_all()

    def _update(self, event: Event) -> bool:
        if isinstance(event, WatchStarted):
            self.file = event.file
            return True
        if isinstance(event, CycleStarted):
            self.cycle, self.phase, self.step = event.number, "planning", ""
            # A new save is being tried: the last one's errors no longer describe it.
            self.errors, self.error_kind = [], ""
            return True
        if isinstance(event, CyclePlanned):
            self._planned(event)
            return True
        if isinstance(event, BudgetRefused):
            self.phase = "refused"
            return True
        if isinstance(event, ThumbnailReady):
            self.thumbs[event.hash] = Path(event.file)
            for shot in self._shots(event.shot_id.partition("#")[0]):
                for part in [shot, *shot["takes"]]:
                    if part["hash"] == event.hash:
                        part["thumb"] = f"/thumb/{event.hash}.jpg"
            return True
        if isinstance(event, CutReady):
            self.cuts = {event.version: Path(event.snapshot), **dict(list(self.cuts.items())[:3])}
            vtt = subtitles_of(Path(event.file))
            kept = {v: t for v, t in self.subtitles.items() if v in self.cuts}
            self.subtitles = {**kept, event.version: vtt} if vtt is not None else kept
            self.cut = {
                "url": f"/cut/{event.version}.mp4",
                "subtitles": f"/cut/{event.version}.vtt" if vtt is not None else None,
                "version": event.version,
                "file": event.file,
                "updated": time.strftime("%H:%M:%S"),
            }
            return True
        if isinstance(event, CycleFinished):
            cycle = event.cycle
            self.phase = "idle" if cycle.ok else cycle.outcome
            self.step = ""
            self.errors = list(cycle.errors)
            self.error_kind = "" if cycle.ok else cycle.outcome
            self.spent_usd = cycle.spent_usd
            return True
        if isinstance(event, StitchStarted | StitchStep | StitchFinished):
            self.phase = "stitching" if not isinstance(event, StitchFinished) else self.phase
            self.step = event.step if isinstance(event, StitchStep) else ""
            return True
        if isinstance(event, Notice):
            where = f"{event.shot_id}: " if event.shot_id else ""
            self.notices = [*self.notices, where + event.message][-NOTICES_KEPT:]
            return True
        return self._shot_event(event)

    def _planned(self, event: CyclePlanned) -> None:
        self.title, self.preview, self.phase = event.title, event.preview, "rendering"
        self.spent_usd, self.budget_usd = event.spent_usd, event.budget_usd
        self.shots = [
            {
                "id": view.id,
                "hash": view.hash,
                "status": view.status,
                "state": "cached" if view.status == "cached" else "queued",
                "progress": None,
                "prompt": view.prompt,
                "seed": view.seed,
                "provider": view.provider,
                "model": view.model,
                "duration": view.duration,
                "price_usd": round(view.price_usd, 4),
                "to_pay_usd": round(view.to_pay_usd, 4),
                "previewed": view.previewed,
                "thumb": f"/thumb/{view.hash}.jpg" if view.hash in self.thumbs else None,
                "error": None,
                "pick": view.pick,
                "takes": [
                    {
                        "take": take.take,
                        "hash": take.hash,
                        "seed": take.seed,
                        "status": take.status,
                        "state": "cached" if take.status == "cached" else "queued",
                        "thumb": f"/thumb/{take.hash}.jpg" if take.hash in self.thumbs else None,
                    }
                    for take in view.takes
                ],
            }
            for view in event.shots
        ]

    def _shot_event(self, event: Event) -> bool:
        """Engine events name a request (``id`` or ``id#k``): they move that take, and the
        shot itself when it is the picked take."""
        shot_id, _, number = event.shot_id.partition("#")
        take = int(number) if number.isdigit() else 1
        shots = self._shots(shot_id)
        if not shots:
            return False
        for shot in shots:
            if isinstance(event, ShotQueued):
                continue
            for part in shot["takes"]:
                if part["take"] == take:
                    _take_state(part, event)
            if take != shot["pick"]:
                continue
            if isinstance(event, ShotCached):
                shot["state"], shot["progress"] = "cached", None
            elif isinstance(event, ShotSubmitted):
                shot["state"], shot["progress"] = "rendering", 0.0
            elif isinstance(event, ShotProgress):
                shot["state"], shot["progress"] = "rendering", event.progress
            elif isinstance(event, ShotRetrying):
                shot["state"] = "retrying"
            elif isinstance(event, ShotDownloaded):
                shot["state"], shot["progress"] = "rendered", 1.0
            elif isinstance(event, ShotFailed):
                shot["state"], shot["error"] = "failed", event.error
            else:
                return False
        return not isinstance(event, ShotQueued)

    def _shots(self, shot_id: str) -> list[dict[str, Any]]:
        return [s for s in self.shots if s["id"] == shot_id] if shot_id else []

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    # -- reading (server threads)

    def snapshot(self) -> tuple[int, str]:
        with self._changed:
            return self.version, json.dumps(self._as_json(), ensure_ascii=False)

    def wait_newer(self, seen: int, timeout: float) -> tuple[int, str] | None:
        """The state once it is newer than ``seen``; None on timeout or when closed."""
        with self._changed:
            self._changed.wait_for(lambda: self.closed or self.version > seen, timeout)
            if self.closed or self.version <= seen:
                return None
            return self.version, json.dumps(self._as_json(), ensure_ascii=False)

    def _as_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "title": self.title,
            "file": self.file,
            "cycle": self.cycle,
            "phase": self.phase,
            "step": self.step,
            "preview": self.preview,
            "spent_usd": round(self.spent_usd, 4),
            "budget_usd": self.budget_usd,
            "errors": self.errors,
            "error_kind": self.error_kind,
            "notices": self.notices,
            "cut": self.cut,
            "shots": self.shots,
        }

    def cut_file(self, version: str) -> Path | None:
        with self._changed:
            return self.cuts.get(version)

    def thumb_file(self, request_hash: str) -> Path | None:
        with self._changed:
            return self.thumbs.get(request_hash)

    def subtitles_text(self, version: str) -> str | None:
        with self._changed:
            return self.subtitles.get(version)


def subtitles_of(cut: Path) -> str | None:
    """The cut's SRT (beside it) as WebVTT, read now: the next cut may replace the file."""
    try:
        srt = cut.with_suffix(".srt").read_text(encoding="utf-8")
    except OSError:
        return None
    return webvtt(srt)


def webvtt(srt: str) -> str:
    """SRT cues as a WebVTT document: a header, a dot before the milliseconds, and the text
    escaped (in WebVTT ``<`` starts a tag and ``&`` an entity; dialogue is plain text)."""
    blocks = []
    for block in srt.replace("\r\n", "\n").strip().split("\n\n"):
        lines = block.split("\n")
        timing = [i for i, line in enumerate(lines) if "-->" in line][:1]
        if not timing:
            continue
        at = timing[0]
        text = [html.escape(line, quote=False) for line in lines[at + 1 :]]
        blocks.append("\n".join([*lines[:at], _SRT_TIME.sub(r"\1.\2", lines[at]), *text]))
    return "WEBVTT\n\n" + "".join(block + "\n\n" for block in blocks)


def _take_state(take: dict[str, Any], event: Event) -> None:
    if isinstance(event, ShotCached):
        take["state"] = "cached"
    elif isinstance(event, ShotSubmitted | ShotProgress):
        take["state"] = "rendering"
    elif isinstance(event, ShotDownloaded):
        take["state"] = "rendered"
    elif isinstance(event, ShotFailed):
        take["state"] = "failed"


class PreviewServer:
    """The page on ``http://127.0.0.1:PORT/``; ``hook`` takes the watch loop's events.

    Use as a context manager: serving starts on entry (``ConfigError`` if the port is
    taken) and on exit every connection is closed and every thread joined.
    """

    def __init__(self, port: int = 0, *, pick: Pick | None = None) -> None:
        self.state = PreviewState()
        self.requested_port = port
        self.pick = pick
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def hook(self, event: Event) -> None:
        self.state.apply(event)

    @property
    def port(self) -> int:
        assert self._httpd is not None, "the preview server is not running"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self) -> PreviewServer:
        try:
            httpd = _Server((HOST, self.requested_port), _Handler, self.state, self.pick)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve the preview on {HOST}:{self.requested_port}: {exc.strerror or exc}; "
                "choose another port with --serve PORT (0 picks a free one)"
            ) from exc
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="shotlist-preview", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        self.state.close()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.drop_connections()
        httpd.server_close()  # joins the request threads
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> PreviewServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(
        self, address: tuple[str, int], handler: Any, state: PreviewState, pick: Pick | None = None
    ) -> None:
        self.pick = pick
        self.state = state
        self._live: set[socket.socket] = set()
        self._live_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._live_lock:
            self._live.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._live_lock:
            self._live.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Wake every thread blocked on a connection (an idle browser socket, a stream)."""
        with self._live_lock:
            live = list(self._live)
        for connection in live:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser dropping a connection mid-answer is routine; anything else is a bug
        # worth the standard traceback.
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the library never prints."""

    @property
    def state(self) -> PreviewState:
        return self.server.state

    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def do_POST(self) -> None:
        if not self._host_allowed():
            self._plain(HTTPStatus.MISDIRECTED_REQUEST, "this server answers to 127.0.0.1 and localhost only")
            return
        if self.path.split("?", 1)[0] != "/pick":
            self._plain(HTTPStatus.NOT_FOUND, "not found")
            return
        origin = self.headers.get("Origin")
        if origin is not None and origin.lower() not in (f"http://{h}" for h in self._hosts()):
            self._plain(HTTPStatus.FORBIDDEN, "a pick comes from this page only")
            return
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            self._plain(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send the pick as application/json")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= PICK_BODY_LIMIT:
            self._plain(HTTPStatus.BAD_REQUEST, 'send {"shot": ID, "take": K}')
            return
        self._pick(self.rfile.read(length))

    def _pick(self, body: bytes) -> None:
        try:
            data = json.loads(body)
            shot, take = data["shot"], data["take"]
            if not isinstance(shot, str) or not isinstance(take, int) or isinstance(take, bool):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            self._plain(HTTPStatus.BAD_REQUEST, 'send {"shot": ID, "take": K}')
            return
        if self.server.pick is None:
            self._plain(HTTPStatus.NOT_IMPLEMENTED, "this preview cannot edit the storyboard")
            return
        try:
            self.server.pick(shot, take)
        except ShotlistError as exc:
            self._json(HTTPStatus.UNPROCESSABLE_ENTITY, {"ok": False, "error": str(exc)})
            return
        self._json(HTTPStatus.OK, {"ok": True, "shot": shot, "take": take})

    def _json(self, status: HTTPStatus, value: dict[str, Any]) -> None:
        body = json.dumps(value, ensure_ascii=False).encode()
        self._send(status, "application/json; charset=utf-8", body, False, {"Cache-Control": "no-store"})

    def _route(self, *, head: bool) -> None:
        if not self._host_allowed():
            self._plain(HTTPStatus.MISDIRECTED_REQUEST, "this server answers to 127.0.0.1 and localhost only")
            return
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            self._page(head)
        elif path == "/state":
            state = self.state.snapshot()[1].encode()
            self._send(HTTPStatus.OK, "application/json; charset=utf-8", state, head)
        elif path == "/events" and not head:
            self._events()
        elif match := _CUT_PATH.match(path):
            self._file(self.state.cut_file(match.group(1)), "video/mp4", head, immutable=True)
        elif match := _THUMB_PATH.match(path):
            self._file(self.state.thumb_file(match.group(1)), "image/jpeg", head, immutable=True)
        elif match := _SUBTITLES_PATH.match(path):
            self._subtitles(self.state.subtitles_text(match.group(1)), head)
        elif path in ("/favicon.svg", "/favicon.ico"):
            self._send(HTTPStatus.OK, "image/svg+xml", FAVICON.encode(), head, _IMMUTABLE)
        else:
            self._plain(HTTPStatus.NOT_FOUND, "not found")

    def _host_allowed(self) -> bool:
        return (self.headers.get("Host") or "").lower() in self._hosts()

    def _hosts(self) -> tuple[str, str]:
        port = self.server.server_address[1]
        return f"127.0.0.1:{port}", f"localhost:{port}"

    # -- answers

    def _page(self, head: bool) -> None:
        nonce = secrets.token_urlsafe(16)
        html = page_html().replace("__NONCE__", nonce)
        policy = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "img-src 'self'; media-src 'self'; connect-src 'self'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'"
        )
        self._send(
            HTTPStatus.OK,
            "text/html; charset=utf-8",
            html.encode(),
            head,
            {"Content-Security-Policy": policy, "Cache-Control": "no-store"},
        )

    def _subtitles(self, vtt: str | None, head: bool) -> None:
        if vtt is None:
            self._plain(HTTPStatus.NOT_FOUND, "not found")
            return
        self._send(HTTPStatus.OK, "text/vtt; charset=utf-8", vtt.encode(), head, _IMMUTABLE)

    def _events(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seen, data = self.state.snapshot()
        with contextlib.suppress(OSError):
            self._event(data)
            while not self.state.closed:
                newer = self.state.wait_newer(seen, KEEPALIVE_SECONDS)
                if newer is None:
                    if self.state.closed:
                        break
                    self.wfile.write(b": keepalive\n\n")
                    self.wfile.flush()
                    continue
                seen, data = newer
                self._event(data)

    def _event(self, data: str) -> None:
        # JSON has no raw newlines, so one data line carries the whole state.
        self.wfile.write(f"event: state\ndata: {data}\n\n".encode())
        self.wfile.flush()

    def _file(self, path: Path | None, kind: str, head: bool, *, immutable: bool) -> None:
        if path is None:
            self._plain(HTTPStatus.NOT_FOUND, "not found")
            return
        try:
            handle = path.open("rb")
        except OSError:
            self._plain(HTTPStatus.NOT_FOUND, "not found")
            return
        with handle:
            size = path.stat().st_size
            span = byte_range(self.headers.get("Range"), size)
            if isinstance(span, str):
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end = span or (0, size - 1)
            self.send_response(HTTPStatus.PARTIAL_CONTENT if span else HTTPStatus.OK)
            self.send_header("Content-Type", kind)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(max(0, end - start + 1)))
            if span:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            if immutable:
                self.send_header("Cache-Control", "public, max-age=31536000, immutable")
            self.end_headers()
            if head:
                return
            handle.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                block = handle.read(min(CHUNK, remaining))
                if not block:
                    break
                self.wfile.write(block)
                remaining -= len(block)

    def _plain(self, status: HTTPStatus, text: str) -> None:
        self._send(status, "text/plain; charset=utf-8", (text + "\n").encode(), False)

    def _send(
        self,
        status: HTTPStatus,
        kind: str,
        body: bytes,
        head: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)


def byte_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """The inclusive byte span a ``Range`` header asks of a ``size``-byte file.

    None means the whole file (no header, several ranges, or one not in bytes: a server
    may answer those in full); ``"unsatisfiable"`` means answer 416.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return "unsatisfiable"
    return start, end


def page_html() -> str:
    """The page, read from the package (it works offline: nothing is fetched from elsewhere)."""
    return resources.files("shotlist.watchmode").joinpath("preview.html").read_text(encoding="utf-8")
