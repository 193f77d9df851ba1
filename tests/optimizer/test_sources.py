"""Fetching models: local paths, pvc mounts, http(s) with a sha256 pin, s3."""

from __future__ import annotations

import hashlib
import http.server
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from modeldeploy_optimizer.errors import OptimizerError
from modeldeploy_optimizer.sources import as_uri, fetch


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server over a folder (https needs a certificate; the code is the same)."""
    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def test_file_uri_and_plain_path(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"x")
    assert fetch(model.as_uri(), tmp_path) == model
    assert as_uri(str(model)) == model.as_uri()


def test_missing_file_is_source_unreachable(tmp_path: Path) -> None:
    with pytest.raises(OptimizerError) as caught:
        fetch((tmp_path / "nope.onnx").as_uri(), tmp_path)
    assert caught.value.reason == "SourceUnreachable"
    assert "no such file" in caught.value.message


def test_pvc_resolves_under_the_mount_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "claim" / "models").mkdir(parents=True)
    (tmp_path / "claim" / "models" / "m.onnx").write_bytes(b"x")
    monkeypatch.setenv("MODELDEPLOY_PVC_ROOT", str(tmp_path))
    assert fetch("pvc://claim/models/m.onnx", tmp_path) == tmp_path / "claim/models/m.onnx"
    with pytest.raises(OptimizerError, match="is the claim mounted"):
        fetch("pvc://other/m.onnx", tmp_path)


def test_download_checks_the_sha256_pin(served: tuple[str, Path], tmp_path: Path) -> None:
    url, root = served
    (root / "m.onnx").write_bytes(b"model bytes")
    digest = hashlib.sha256(b"model bytes").hexdigest()
    local = fetch(f"{url}/m.onnx", tmp_path / "work", sha256=digest)
    assert local.read_bytes() == b"model bytes"
    with pytest.raises(OptimizerError) as caught:
        fetch(f"{url}/m.onnx", tmp_path / "work2", sha256="0" * 64)
    assert caught.value.reason == "ChecksumMismatch"


def test_download_errors_and_archives(served: tuple[str, Path], tmp_path: Path) -> None:
    url, root = served
    with pytest.raises(OptimizerError) as caught:
        fetch(f"{url}/missing.onnx", tmp_path)
    assert caught.value.reason == "SourceUnreachable"
    assert "HTTP 404" in caught.value.message
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with tarfile.open(root / "model.tar.gz", "w:gz") as archive:
        archive.add(folder, arcname="model")
    unpacked = fetch(f"{url}/model.tar.gz", tmp_path / "work")
    assert (unpacked / "config.json").read_text() == "{}"


def test_credentials_never_appear_in_messages(tmp_path: Path) -> None:
    with pytest.raises(OptimizerError) as caught:
        fetch("https://user:secret@127.0.0.1:1/m.onnx?token=hidden", tmp_path)
    assert "secret" not in caught.value.message
    assert "hidden" not in caught.value.message
    assert caught.value.reason == "SourceUnreachable"


def test_s3_failure_is_source_unreachable_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(OptimizerError) as caught:
        fetch("s3://models/minilm/", tmp_path)
    assert caught.value.reason == "SourceUnreachable"
    assert caught.value.message.startswith("s3://models/minilm/")
    assert "s3cr3t" not in caught.value.message
