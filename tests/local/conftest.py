"""Fixtures for local mode: a real tritonserver serving the tiny models of models.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from modeldeploy_local import runner
from modeldeploy_local.errors import TritonNotInstalledError
from modeldeploy_local.tools import TritonInstall, find_tritonserver

from tests.local.models import write_onnx_repository

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def triton_install() -> TritonInstall:
    """The real tritonserver; installed on first use (the Makefile's `make triton`)."""
    try:
        return find_tritonserver()
    except TritonNotInstalledError:
        script = REPO_ROOT / "hack" / "install-tritonserver.sh"
        done = subprocess.run([str(script), sys.executable], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(
                f"tritonserver is missing and {script} failed (run `make triton`):\n"
                + done.stdout[-2000:]
                + done.stderr[-2000:]
            )
        return find_tritonserver()


@pytest.fixture(scope="session")
def onnx_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_onnx_repository(tmp_path_factory.mktemp("onnx-repository"))


@pytest.fixture(scope="session")
def served(
    triton_install: TritonInstall, onnx_repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[runner.Running]:
    """One server for the read-only end-to-end tests: both models, free loopback ports."""
    options = runner.RunOptions(workdir=tmp_path_factory.mktemp("workdir"), once=True)
    running = runner.start("fixtures", onnx_repository, options)
    try:
        yield running
    finally:
        running.server.stop()
