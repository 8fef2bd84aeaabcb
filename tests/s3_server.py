"""A real S3 API on 127.0.0.1 for tests: moto's server mode, started in a thread.

moto checks a conditional write's condition and then stores the object as two steps,
so two simultaneous ``If-None-Match: *`` writes of one key could both succeed, which
real S3 never allows. The server here serializes requests (one at a time, as moto's
in-memory backend is anyway), which makes each conditional write atomic as S3's are::

    with S3Server() as s3:
        s3.env()                  # AWS_* variables and SHOTLIST_CACHE_URL for a shotlist process
        s3.objects()              # key -> bytes of everything in the bucket
        s3.client.put_object(...) # tamper with it
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

BUCKET = "team-cache"
PREFIX = "films"
ACCESS_KEY = "AKIATESTSHOTLIST0001"
SECRET_KEY = "s3-secret-never-in-objects-0123456789"


class _Serialized:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            return list(self.app(environ, start_response))


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class S3Server:
    def __init__(self) -> None:
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.client: Any = None

    def __enter__(self) -> S3Server:
        app = _Serialized(DomainDispatcherApplication(create_backend_app))
        self._server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )
        self.client.create_bucket(Bucket=BUCKET)
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()
        # moto keeps its backends per process: empty the bucket for the next server.
        from moto.s3.models import s3_backends

        s3_backends.reset()

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def url(self) -> str:
        return f"s3://{BUCKET}/{PREFIX}"

    def env(self, *, cache_url: bool = True) -> dict[str, str]:
        env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }
        return {**env, "SHOTLIST_CACHE_URL": self.url} if cache_url else env

    def keys(self, under: str = "") -> list[str]:
        listing = self.client.get_paginator("list_objects_v2")
        pages = listing.paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/{under}")
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def objects(self) -> dict[str, tuple[bytes, dict[str, str]]]:
        """Key -> (bytes, metadata) of every object in the bucket."""
        found = {}
        for key in self.keys():
            answer = self.client.get_object(Bucket=BUCKET, Key=key)
            found[key] = (answer["Body"].read(), answer["Metadata"])
        return found
