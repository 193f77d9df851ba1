"""Fetch a model (or calibration samples) from where its URI says, into a local path.

``file://`` and plain paths are read in place; ``pvc://claim/path`` is a claim the
Job's pod mounts under ``$MODELDEPLOY_PVC_ROOT/<claim>`` (default ``/mnt/pvc``);
``https://`` is downloaded (an optional SHA-256 pin is checked, an archive is
unpacked); ``s3://`` is read with boto3 and the standard AWS environment variables
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``), which the
operator fills from the credentials Secret. Credentials are never logged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from modeldeploy_optimizer.errors import OptimizerError

PVC_ROOT_ENV = "MODELDEPLOY_PVC_ROOT"
DEFAULT_PVC_ROOT = "/mnt/pvc"
_ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip")


def as_uri(location: str) -> str:
    """A plain local path as a ``file://`` URI; URIs are returned as they are."""
    if "://" in location:
        return location
    return Path(location).resolve().as_uri()


def fetch(uri: str, workdir: Path, *, sha256: str | None = None) -> Path:
    """A local path holding what ``uri`` points to (a file or a directory)."""
    scheme = urllib.parse.urlparse(uri).scheme
    if scheme == "file" or scheme == "":
        path = Path(urllib.parse.unquote(urllib.parse.urlparse(uri).path)) if scheme else Path(uri)
        local = _existing(path, uri)
    elif scheme == "pvc":
        rest = uri.removeprefix("pvc://")
        claim, _, inner = rest.partition("/")
        root = Path(os.environ.get(PVC_ROOT_ENV, DEFAULT_PVC_ROOT))
        local = _existing(
            root / claim / inner, uri, hint=f"is the claim mounted at {root}/{claim}?"
        )
    elif scheme == "https" or scheme == "http":
        local = _download(uri, workdir)
    elif scheme == "s3":
        local = _from_s3(uri, workdir)
    else:
        raise OptimizerError(
            "InvalidInput", f"unsupported URI scheme {scheme!r} in {safe_uri(uri)}"
        )
    if sha256 is not None:
        _check_digest(local, sha256, uri)
    if scheme in ("https", "http", "s3") and local.is_file() and local.name.endswith(_ARCHIVES):
        local = _unpack(local, workdir / "unpacked")
    return local


def _existing(path: Path, uri: str, hint: str = "") -> Path:
    if not path.exists():
        extra = f" ({hint})" if hint else ""
        raise OptimizerError(
            "SourceUnreachable", f"{safe_uri(uri)}: no such file or directory{extra}"
        )
    return path


def safe_uri(uri: str) -> str:
    """The URI without user info or query string (they may hold credentials)."""
    parts = urllib.parse.urlparse(uri)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunparse((parts.scheme, netloc, parts.path, "", "", ""))


def _download(uri: str, workdir: Path) -> Path:
    name = Path(urllib.parse.urlparse(uri).path).name or "model"
    target = workdir / "download" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(uri, headers={"User-Agent": "modeldeploy-optimizer"})
    token = os.environ.get("TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=60) as response, target.open("wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except urllib.error.HTTPError as error:
        raise OptimizerError(
            "SourceUnreachable", f"{safe_uri(uri)}: HTTP {error.code} {error.reason}"
        ) from None
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        raise OptimizerError("SourceUnreachable", f"{safe_uri(uri)}: {reason}") from None
    return target


def _from_s3(uri: str, workdir: Path) -> Path:
    try:
        import boto3  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ModuleNotFoundError:
        raise OptimizerError(
            "SourceUnreachable",
            f"{safe_uri(uri)}: s3:// needs boto3 in the optimizer image (pip install boto3)",
        ) from None
    parts = urllib.parse.urlparse(uri)
    bucket, prefix = parts.netloc, parts.path.lstrip("/")
    client = boto3.client("s3")
    target = workdir / "s3" / bucket
    try:
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        if not keys:
            raise OptimizerError("SourceUnreachable", f"{safe_uri(uri)}: no objects under this key")
        for key in keys:
            local = target / key
            local.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(local))
    except OptimizerError:
        raise
    except Exception as error:  # botocore raises many types; the message is what matters
        raise OptimizerError("SourceUnreachable", f"{safe_uri(uri)}: {error}") from None
    if keys == [prefix]:
        return target / prefix
    return target / prefix.rstrip("/")


def _check_digest(path: Path, expected: str, uri: str) -> None:
    if not path.is_file():
        raise OptimizerError(
            "InvalidInput", f"sha256 pins a single file; {safe_uri(uri)} is a folder"
        )
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise OptimizerError(
            "ChecksumMismatch",
            f"{safe_uri(uri)}: sha256 is {digest.hexdigest()}, the spec pins {expected}",
        )


def _unpack(archive: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:
                zipped.extractall(target)
        else:
            with tarfile.open(archive) as tarred:
                tarred.extractall(target, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as error:
        raise OptimizerError(
            "UnknownFormat", f"{archive.name}: not a valid archive: {error}"
        ) from None
    entries = list(target.iterdir())
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else target
