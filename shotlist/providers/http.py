"""HTTP plumbing shared by the paid providers (lumenfall, fal, ark, replicate).

This module is the one boundary where httpx exceptions and HTTP error answers
become ``ProviderError``; providers add only their own table of error codes::

    httpx.TransportError
    ├── ConnectError, ConnectTimeout   kind "connect", retryable: the request never left
    ├── any other, on a job-creating request
    │                                  kind "submit_unknown", retryable: the job may exist;
    │                                  resubmit with the same idempotency key
    └── any other                      kind "network", retryable
    an HTTP answer >= 400              kind and retryable from the provider's error code,
                                       else from the status (STATUS_CLASSES)
    a 2xx answer that is not JSON      kind "bad_answer" (or "submit_unknown"), retryable

Every message is one line with the secrets of the session redacted, so an API
key echoed by a server never reaches an exception, a log or an event. The
module also encodes local files as data URIs and streams results to disk, and
holds ``ApiRoute``, the session half every paid route shares.
"""

from __future__ import annotations

import asyncio
import base64
import json
import mimetypes
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import httpx

from shotlist import __version__
from shotlist.errors import ConfigError, ProviderError
from shotlist.request import MediaKind, MediaRef

if TYPE_CHECKING:
    from shotlist.providers.base import JobStatus
    from shotlist.providers.capabilities import Capabilities
    from shotlist.request import ShotRequest

# (kind, retryable): how a caller recovers from an error class.
ErrorClass = tuple[str, bool]

STATUS_CLASSES: Mapping[int, ErrorClass] = {
    400: ("invalid", False),
    401: ("auth", False),
    402: ("balance", False),
    403: ("auth", False),
    404: ("not_found", False),
    408: ("timeout", True),
    # A request with the same idempotency key is still being processed.
    409: ("conflict", True),
    413: ("invalid", False),
    422: ("invalid", False),
    425: ("conflict", True),
    429: ("rate_limited", True),
}

# A download URL that answers one of these has expired or was revoked; a fresh
# poll of the job gives a new one.
EXPIRED_DOWNLOAD_STATUSES = frozenset({401, 403, 404, 410})

MESSAGE_LIMIT = 300
DOWNLOAD_CHUNK = 1 << 20
MAX_DOWNLOAD_BYTES = 2_000_000_000
# Long writes: a request can carry up to ~190 MB of data URIs.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0, write=120.0)

# Extensions the platform mimetypes table may lack or get wrong.
_MIME_TYPES: Mapping[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".flac": "audio/flac",
}


@dataclass(frozen=True)
class CallContext:
    """Who is calling and about what: every ProviderError raised here carries it.

    ``secrets`` are redacted from every message (and left out of the repr).
    """

    provider: str
    shot_id: str
    job_id: str = ""
    secrets: tuple[str, ...] = field(default=(), repr=False)
    key_env: str = ""  # the variable holding the key, named when the key is refused

    def error(
        self,
        message: str,
        *,
        kind: str,
        retryable: bool,
        retry_after: float | None = None,
    ) -> ProviderError:
        return ProviderError(
            one_line(redact(message, self.secrets)),
            provider=self.provider,
            shot_id=self.shot_id,
            job_id=self.job_id,
            kind=kind,
            retryable=retryable,
            retry_after=retry_after,
        )


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """Collapse whitespace and cut to ``limit`` characters: errors are one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def classify_status(status: int) -> ErrorClass:
    """The error class of an HTTP status without a (known) provider error code."""
    if status in STATUS_CLASSES:
        return STATUS_CLASSES[status]
    if status >= 500:
        return ("upstream", True)
    return ("invalid", False)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _error_fields(response: httpx.Response) -> tuple[str, str]:
    """(message, code) from ``{"error": {"message", "type", "code"}}`` or a bare body."""
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = response.text.strip()
        return (text or response.reason_phrase or "no details", "")
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or error.get("type") or "no details")
        return (message, str(error.get("code") or error.get("type") or ""))
    if isinstance(error, str):
        return (error, "")
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        return (payload["message"], str(payload.get("code") or ""))
    if isinstance(payload, dict) and "detail" in payload:
        return _detail_fields(payload["detail"])
    return (one_line(response.text) or "no details", "")


def _detail_fields(detail: object) -> tuple[str, str]:
    """(message, code) from a ``detail`` answer: fal's and FastAPI's list of
    ``{"loc", "msg", "type"}`` (the first item's type is the code) or Replicate's text."""
    if isinstance(detail, list) and detail:
        items = [item for item in detail if isinstance(item, dict)]
        messages = [str(item.get("msg") or item.get("message") or "") for item in items]
        code = str(items[0].get("type") or "") if items else ""
        return ("; ".join(m for m in messages if m) or str(detail), code)
    return (str(detail) if detail else "no details", "")


def error_from_response(
    response: httpx.Response,
    ctx: CallContext,
    *,
    what: str,
    codes: Mapping[str, ErrorClass] | None = None,
) -> ProviderError:
    """Translate an HTTP error answer. ``what`` names the call ("submit", "poll")."""
    message, code = _error_fields(response)
    known = (codes or {}).get(code.upper()) if code else None
    kind, retryable = known or classify_status(response.status_code)
    retry_after = parse_retry_after(response.headers.get("retry-after")) if retryable else None
    label = f"{code} " if code else ""
    hint = f" (check {ctx.key_env})" if kind == "auth" and ctx.key_env else ""
    return ctx.error(
        f"{what} failed: HTTP {response.status_code} {label}- {message}{hint}",
        kind=kind,
        retryable=retryable,
        retry_after=retry_after,
    )


def error_from_transport(
    exc: httpx.TransportError, ctx: CallContext, *, what: str, creates_job: bool = False
) -> ProviderError:
    """Translate a transport failure; ``creates_job`` marks a submit (see module doc)."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return ctx.error(f"{what} failed: cannot connect ({detail})", kind="connect", retryable=True)
    if creates_job:
        return ctx.error(
            f"{what}: the answer was lost ({detail}); the job may exist",
            kind="submit_unknown",
            retryable=True,
        )
    if isinstance(exc, httpx.TimeoutException):
        return ctx.error(f"{what} timed out ({detail})", kind="timeout", retryable=True)
    return ctx.error(f"{what} failed: network error ({detail})", kind="network", retryable=True)


def mime_type(path: Path) -> str:
    """The MIME type of a local file from its extension."""
    suffix = path.suffix.lower()
    if suffix in _MIME_TYPES:
        return _MIME_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def data_uri(path: Path, *, max_bytes: int, label: str, ctx: CallContext) -> str:
    """``path`` as a base64 data URI; a missing or too large file is a clear error.

    ``label`` names the file for the user (the reference name, say). Blocking:
    call it in a thread from async code.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ctx.error(
                f"{label} ({path}) is {size / 1e6:.1f} MB; {ctx.provider} takes local files"
                f" of this kind up to {max_bytes / 1e6:.0f} MB as data URIs"
                " — make it smaller or give an https URL",
                kind="invalid",
                retryable=False,
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise ctx.error(
            f"{label} ({path}) cannot be read: {exc.strerror or exc}",
            kind="invalid",
            retryable=False,
        ) from exc
    return f"data:{mime_type(path)};base64,{base64.b64encode(raw).decode('ascii')}"


def same_origin(a: str, b: str) -> bool:
    """Whether two URLs share scheme, host and port (credentials may go to both)."""
    ua, ub = httpx.URL(a), httpx.URL(b)
    return (ua.scheme, ua.host, ua.port) == (ub.scheme, ub.host, ub.port)


def looks_like_mp4(head: bytes) -> bool:
    """Whether a file starts with an ISO-BMFF ``ftyp`` box (MP4, MOV)."""
    return len(head) >= 8 and head[4:8] == b"ftyp"


async def download_mp4(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    ctx: CallContext,
    *,
    headers: Mapping[str, str] | None = None,
    max_bytes: int,
) -> int:
    """Stream ``url`` to ``dest``; return the bytes written. On failure ``dest`` is removed.

    Checks the Content-Length when the server sends one and that the file is
    an MP4. A truncated or unreadable download is ``kind="download"``, an
    expired URL ``kind="expired"``; both retryable: poll again for a fresh URL.
    """
    try:
        return await _stream_to(client, url, dest, ctx, headers or {}, max_bytes)
    except BaseException:
        # Complete or not at all: the engine must never cache half a clip. A
        # plain call, not a thread: it must also run when the task is cancelled.
        dest.unlink(missing_ok=True)  # noqa: ASYNC240 -- see the comment above
        raise


async def _stream_to(
    client: httpx.AsyncClient,
    url: str,
    dest: Path,
    ctx: CallContext,
    headers: Mapping[str, str],
    max_bytes: int,
) -> int:
    try:
        async with client.stream("GET", url, headers=headers, follow_redirects=True) as response:
            _check_download_answer(response, ctx)
            expected = _content_length(response)
            written = await _write_body(response, dest, ctx, max_bytes)
    except httpx.TooManyRedirects as exc:
        # Retryable: the next poll may hand out a URL that works.
        raise ctx.error("the result URL redirects in a loop", kind="download", retryable=True) from exc
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise ctx.error(
            f"the result URL is not a usable http(s) URL ({exc})", kind="download", retryable=True
        ) from exc
    except httpx.TransportError as exc:
        raise ctx.error(
            f"download interrupted ({str(exc) or type(exc).__name__})",
            kind="download",
            retryable=True,
        ) from exc
    if expected is not None and written != expected:
        raise ctx.error(
            f"download truncated: got {written} of {expected} bytes",
            kind="download",
            retryable=True,
        )
    return written


def _check_download_answer(response: httpx.Response, ctx: CallContext) -> None:
    if response.status_code in EXPIRED_DOWNLOAD_STATUSES:
        raise ctx.error(
            f"the result URL answered HTTP {response.status_code}; it has expired",
            kind="expired",
            retryable=True,
        )
    if response.status_code >= 400:
        kind, retryable = classify_status(response.status_code)
        raise ctx.error(
            f"download failed: HTTP {response.status_code}",
            kind="download" if retryable else kind,
            retryable=retryable,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length")
    # A compressed body's length says nothing about the decoded bytes we count.
    if value is None or response.headers.get("content-encoding", "identity") != "identity":
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def _write_body(response: httpx.Response, dest: Path, ctx: CallContext, max_bytes: int) -> int:
    written = 0
    head = b""
    handle = await asyncio.to_thread(dest.open, "wb")
    try:
        async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK):
            if len(head) < 8:
                head = (head + chunk)[:8]
                if len(head) == 8 and not looks_like_mp4(head):
                    raise _not_mp4(ctx, response)
            written += len(chunk)
            if written > max_bytes:
                raise ctx.error(
                    f"download exceeds {max_bytes / 1e6:.0f} MB; refusing the rest",
                    kind="download",
                    retryable=False,
                )
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)
    if not looks_like_mp4(head):
        raise _not_mp4(ctx, response)
    return written


def _not_mp4(ctx: CallContext, response: httpx.Response) -> ProviderError:
    content_type = response.headers.get("content-type", "no content type")
    return ctx.error(f"the result is not an MP4 file ({content_type})", kind="download", retryable=True)


# Sessions ----------------------------------------------------------------------------------


def api_settings(env: Mapping[str, str], caps: Capabilities) -> tuple[str, str]:
    """(API key, base URL) of a paid route from the environment, under the variables its
    capability record names; a missing key or a bad URL is a ConfigError.

    The one place where a paid provider's settings are read: argument (the
    caller's ``env``) beats nothing else, since keys never come from files.
    """
    key_env, base_url_env = caps.api_key_env or "", caps.base_url_env or ""
    key = env.get(key_env, "").strip()
    if not key:
        raise ConfigError(
            f"{key_env} is not set: the {caps.name} provider needs an API key "
            f"in the environment (export {key_env}=...)"
        )
    base_url = env.get(base_url_env, "").strip() or caps.default_base_url or ""
    if httpx.URL(base_url).scheme not in ("http", "https"):
        raise ConfigError(f"{base_url_env} must be an http(s) URL, got {base_url!r}")
    return key, base_url.rstrip("/")


def reference_uri(ref: MediaRef, limits: Mapping[MediaKind, int], ctx: CallContext) -> str:
    """A reference as the provider receives it: its https URL, or its local file as a data URI.

    Blocking (reads the file): call it in a thread from async code.
    """
    if ref.url:
        return ref.url
    if ref.path is None:
        raise ValueError(f"reference {ref.name!r} has neither a path nor a URL")
    label = f"{ref.kind} reference {ref.name!r}"
    return data_uri(ref.path, max_bytes=limits[ref.kind], label=label, ctx=ctx)


class ApiSession:
    """One ``httpx.AsyncClient`` for one provider session, created on first use (a provider
    built only to plan holds no sockets), and the JSON calls made through it.

    ``codes`` is the provider's table of error codes (see ``error_from_response``).
    """

    def __init__(
        self,
        *,
        timeout: httpx.Timeout | float,
        transport: httpx.AsyncBaseTransport | None = None,
        codes: Mapping[str, ErrorClass] | None = None,
        user_agent: str = "shotlist",
    ) -> None:
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._transport = transport
        self._codes = codes or {}
        self._user_agent = user_agent
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                transport=self._transport,
                headers={"User-Agent": self._user_agent},
            )
        return self._client

    async def call(
        self,
        method: str,
        url: str,
        ctx: CallContext,
        *,
        what: str,
        creates_job: bool = False,
        **kwargs: Any,
    ) -> Any:
        """One API call: the answer's JSON (object or list), or the translated ProviderError.

        ``creates_job`` marks a call after which a lost answer may hide a new job.
        """
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise error_from_transport(exc, ctx, what=what, creates_job=creates_job) from exc
        if response.status_code >= 400:
            raise error_from_response(response, ctx, what=what, codes=self._codes)
        kind = "submit_unknown" if creates_job else "bad_answer"
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ctx.error(
                f"{what}: HTTP {response.status_code} answer is not JSON: {response.text[:80]!r}",
                kind=kind,
                retryable=True,
            ) from exc

    async def call_object(
        self, method: str, url: str, ctx: CallContext, *, what: str, creates_job: bool = False, **kwargs: Any
    ) -> dict[str, Any]:
        """Like ``call``, for answers that must be a JSON object."""
        payload = await self.call(method, url, ctx, what=what, creates_job=creates_job, **kwargs)
        if not isinstance(payload, dict):
            raise ctx.error(
                f"{what}: expected a JSON object, got {type(payload).__name__}",
                kind="submit_unknown" if creates_job else "bad_answer",
                retryable=True,
            )
        return payload

    async def download(
        self,
        url: str,
        dest: Path,
        ctx: CallContext,
        *,
        api_base: str,
        auth: Mapping[str, str],
        max_bytes: int,
    ) -> int:
        """Stream a result to ``dest``; ``auth`` goes along only to ``api_base``'s own origin.
        A relative ``url`` (a path on the API's own origin) is resolved against ``api_base``;
        one that is no URL at all is a retryable download error (the next poll may send a
        good one), never a crash."""
        try:
            absolute = str(httpx.URL(api_base).join(url))
        except httpx.InvalidURL as exc:
            raise ctx.error(
                f"the result URL is not a usable URL ({exc})", kind="download", retryable=True
            ) from exc
        headers = auth if same_origin(absolute, api_base) else {}
        return await download_mp4(self.client, absolute, dest, ctx, headers=headers, max_bytes=max_bytes)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class ApiRoute:
    """What every paid route's session shares, so that a route writes only its protocol
    (``submit``, ``poll``, ``cancel``: paths, bodies, answers)::

        class FalProvider(ApiRoute):
            name = "fal"
            caps = FAL                    # the key and base-URL variables, spelled there once
            auth_scheme = "Key"           # Authorization: Key KEY
            error_codes = ERROR_CODES     # the route's table for error_from_response

    The key comes from the environment (``from_env``) or the caller; it travels per
    request (``_auth``), never on the client, and every error raised through the call
    context (``_context``) has it redacted. One ``ApiSession``, closed by ``aclose``.
    """

    name: str
    caps: ClassVar[Capabilities]
    auth_scheme: ClassVar[str] = "Bearer"
    error_codes: ClassVar[Mapping[str, ErrorClass]] = {}
    no_result_url: ClassVar[str] = "the job finished without a video URL"
    """The error when a job succeeded without a result URL, in the route's own words."""

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        max_download_bytes: int = MAX_DOWNLOAD_BYTES,
    ) -> None:
        if not api_key.strip():
            raise ConfigError(f"{self.caps.api_key_env} is empty: the {self.name} provider needs an API key")
        self._api_key = api_key.strip()
        self.base_url = (self.caps.default_base_url or "" if base_url is None else base_url).rstrip("/")
        self._max_download_bytes = max_download_bytes
        self._session = ApiSession(
            timeout=timeout, transport=transport, codes=self.error_codes, user_agent=f"shotlist/{__version__}"
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str], **options: Any) -> Self:
        """Settings from the environment, under the variables ``caps`` names."""
        return cls(*api_settings(env, cls.caps), **options)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    def _context(self, request: ShotRequest, job_id: str = "") -> CallContext:
        return CallContext(
            self.name, request.id, job_id, secrets=(self._api_key,), key_env=self.caps.api_key_env or ""
        )

    def _auth(self) -> dict[str, str]:
        # Per request, never on the client, so no other host can receive it.
        return {"Authorization": f"{self.auth_scheme} {self._api_key}"}

    async def fetch(self, request: ShotRequest, job_id: str, status: JobStatus, dest: Path) -> None:
        """Stream the result to ``dest`` (complete, or not at all)."""
        ctx = self._context(request, job_id)
        if not status.result_url:
            raise ctx.error(self.no_result_url, kind="download", retryable=True)
        await self._session.download(
            status.result_url,
            dest,
            ctx,
            api_base=self.base_url,
            auth=self._auth(),
            max_bytes=self._max_download_bytes,
        )

    async def aclose(self) -> None:
        await self._session.aclose()
