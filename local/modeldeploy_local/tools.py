"""Where the tritonserver that local mode runs is installed, and how to run it.

``hack/install-tritonserver.sh`` (``make triton``) installs the nvidia-pytriton
wheel's native payload into ``$MODELDEPLOY_CACHE/tritonserver-<version>/`` and a
venv for the Python-backend stub next to it. This module only finds those
files and says how to get them when they are missing; it never installs.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from modeldeploy_local.errors import TritonNotInstalledError

# The server in nvidia-pytriton 0.7.0; NGC release 24.10, whose official image
# runs ONNX Runtime 1.19.2 (max opset 21, IR version 10). The stub venv pins the
# same ONNX Runtime, so what loads locally loads in the cluster's image.
TRITON_SERVER_VERSION = "2.51.0"
TRITON_NGC_RELEASE = "24.10"
ONNXRUNTIME_VERSION = "1.19.2"

INSTALL_HINT = (
    "install it with `make triton` (or `hack/install-tritonserver.sh .venv/bin/python`); "
    "it goes to $MODELDEPLOY_CACHE (default ~/.cache/modeldeploy), outside the clone"
)


def cache_dir() -> Path:
    return Path(os.environ.get("MODELDEPLOY_CACHE") or Path.home() / ".cache" / "modeldeploy")


def default_home() -> Path:
    """The install folder; ``MODELDEPLOY_TRITON_HOME`` points at another one."""
    explicit = os.environ.get("MODELDEPLOY_TRITON_HOME")
    if explicit:
        return Path(explicit)
    return cache_dir() / f"tritonserver-{TRITON_SERVER_VERSION}"


@dataclass(frozen=True)
class TritonInstall:
    """A usable tritonserver: binary, backends, and the stub's Python environment."""

    home: Path
    python_version: str

    @property
    def server_dir(self) -> Path:
        return self.home / "pytriton" / "tritonserver"

    @property
    def binary(self) -> Path:
        return self.server_dir / "bin" / "tritonserver"

    @property
    def backend_dir(self) -> Path:
        return self.server_dir / "backends"

    @property
    def stub_env(self) -> Path:
        return self.home / f"python{self.python_version}"

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for tritonserver, so that its backend stubs find the stub venv.

        The stub's embedded interpreter runs isolated (PYTHONPATH is ignored) and
        locates its prefix from the first ``python3`` on PATH, whose pyvenv.cfg
        brings in the venv's site-packages; its libpython must be the one that
        venv's base interpreter was built with.
        """
        env = dict(os.environ if base is None else base)
        env["PATH"] = os.pathsep.join(filter(None, [str(self.stub_env / "bin"), env.get("PATH")]))
        libdir_file = self.stub_env / "libdir"
        libdir = libdir_file.read_text().strip() if libdir_file.is_file() else ""
        # Only a libdir that has the shared libpython; else the loader's default one.
        if libdir and (Path(libdir) / f"libpython{self.python_version}.so.1.0").exists():
            paths = [libdir, env.get("LD_LIBRARY_PATH", "")]
            env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, paths))
        # The stub venv must not see the project's own packages (numpy 2).
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        return env

    def ensure_stub(self) -> None:
        """Put the backend stub for this Python version where the Python backend looks.

        The backend runs ``backends/python/triton_python_backend_stub``; the wheel
        keeps one per Python version elsewhere. Copied through a temporary file and
        renamed, so servers starting in parallel never see a half-written stub.
        """
        source = self.server_dir / "python_backend_stubs" / self.python_version
        source /= "triton_python_backend_stub"
        target = self.backend_dir / "python" / "triton_python_backend_stub"
        if target.is_file() and filecmp.cmp(source, target, shallow=False):
            return
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        shutil.copy2(source, partial)
        os.replace(partial, target)


def find_tritonserver(home: Path | None = None) -> TritonInstall:
    """The installed tritonserver, or :class:`TritonNotInstalledError` saying how to get it."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    install = TritonInstall(home=home or default_home(), python_version=version)
    if not install.binary.is_file() or not os.access(install.binary, os.X_OK):
        raise TritonNotInstalledError(
            f"tritonserver {TRITON_SERVER_VERSION} is not installed (no {install.binary}): "
            + INSTALL_HINT
        )
    stub = install.server_dir / "python_backend_stubs" / version / "triton_python_backend_stub"
    if not stub.is_file():
        raise TritonNotInstalledError(
            f"the tritonserver in {install.home} has no Python-backend stub for Python "
            f"{version} (it ships 3.8 to 3.13); run modeldeploy with one of those"
        )
    if not (install.stub_env / ".installed").is_file():
        raise TritonNotInstalledError(
            f"the backend stub's Python {version} environment is missing ({install.stub_env}): "
            + INSTALL_HINT
        )
    return install
