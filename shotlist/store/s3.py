"""An S3-compatible bucket as the team cache's object store: the one home of boto3.

Credentials, region and endpoint come the standard AWS way (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, ``AWS_REGION``,
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3`` for MinIO, R2 or GCS), read from the
environment the caller passes. Create-only writes send ``If-None-Match: *`` and
compare-and-swap sends ``If-Match: <etag>``; the store answers 412 when the condition
fails (409 when two conditional writes race), which is "someone else won", not an error.
botocore's exceptions are translated here, into ``SharedCacheError`` or ``ConfigError``;
neither repeats a credential.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from shotlist import files
from shotlist.errors import ConfigError, SharedCacheError
from shotlist.store.backend import Blob, ObjectInfo, ObjectStore

_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_ABSENT = {"NoSuchKey", "404", "NotFound"}


class S3Objects(ObjectStore):
    def __init__(self, bucket: str, prefix: str, env: Mapping[str, str]) -> None:
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.location = f"s3://{bucket}/{prefix}".rstrip("/")
        session = boto3.session.Session(
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
            region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            profile_name=env.get("AWS_PROFILE") or None,
        )
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        try:
            self.client: Any = session.client(
                "s3",
                endpoint_url=endpoint,
                config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10),
            )
        except (BotoCoreError, ValueError) as exc:
            raise ConfigError(f"{self.location}: cannot set up the S3 client: {exc}") from exc

    def _key(self, key: str) -> str:
        return self.prefix + key

    def head(self, key: str) -> ObjectInfo | None:
        answer = self._call("reading", key, "head_object", Key=self._key(key))
        if answer is None:
            return None
        return ObjectInfo(int(answer["ContentLength"]), answer["ETag"], dict(answer.get("Metadata", {})))

    def read(self, key: str) -> Blob | None:
        answer = self._call("reading", key, "get_object", Key=self._key(key))
        if answer is None:
            return None
        try:
            data = answer["Body"].read()
        except (BotoCoreError, OSError) as exc:
            raise SharedCacheError(f"{self.location}: reading {key} failed: {exc}") from exc
        return Blob(data, answer["ETag"], dict(answer.get("Metadata", {})))

    def download(self, key: str, dest: Path) -> Mapping[str, str] | None:
        answer = self._call("reading", key, "get_object", Key=self._key(key))
        if answer is None:
            return None
        try:
            with dest.open("wb") as out:
                shutil.copyfileobj(answer["Body"], out, files.CHUNK)
        except (BotoCoreError, OSError) as exc:
            # A cut-short transfer is caught by the caller's size and sha256 check too.
            raise SharedCacheError(f"{self.location}: reading {key} failed: {exc}") from exc
        return dict(answer.get("Metadata", {}))

    def create(self, key: str, data: bytes | Path, metadata: Mapping[str, str] | None = None) -> str | None:
        extra = {"Metadata": dict(metadata)} if metadata else {}
        if isinstance(data, Path):
            with data.open("rb") as body:
                answer = self._put(key, body, IfNoneMatch="*", **extra)
        else:
            answer = self._put(key, data, IfNoneMatch="*", **extra)
        return None if answer is None else str(answer["ETag"])

    def replace(self, key: str, data: bytes, *, etag: str) -> str | None:
        answer = self._put(key, data, IfMatch=etag)
        return None if answer is None else str(answer["ETag"])

    def delete(self, key: str) -> None:
        self._call("deleting", key, "delete_object", Key=self._key(key))

    def _put(self, key: str, body: Any, **conditions: Any) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=body, **conditions
            )
        except ClientError as exc:
            if _code(exc) in _LOST_RACE or _code(exc) in _ABSENT:
                return None
            raise self._error("writing", key, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise self._error("writing", key, exc) from exc
        return answer

    def _call(self, doing: str, key: str, method: str, **args: Any) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = getattr(self.client, method)(Bucket=self.bucket, **args)
        except ClientError as exc:
            if _code(exc) in _ABSENT:
                return None
            raise self._error(doing, key, exc) from exc
        except (BotoCoreError, OSError) as exc:
            raise self._error(doing, key, exc) from exc
        return answer

    def _error(self, doing: str, key: str, exc: Exception) -> SharedCacheError:
        if isinstance(exc, NoCredentialsError):
            return SharedCacheError(
                f"{self.location}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
            )
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            said = f"{error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
        else:
            said = str(exc)
        return SharedCacheError(f"{self.location}: {doing} {key} failed: {said}")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
