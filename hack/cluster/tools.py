"""Where the Go-built binaries live, and building the missing ones.

The versions come from the components' go.mod files under hack/tools/, so
there is one place to change a version: the go.mod (for Kubernetes, re-run
hack/tools/kubernetes/gen-gomod.sh).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO / "hack" / "tools"
BUILD_SCRIPT = REPO / "hack" / "build-tools.sh"


class ToolsMissingError(RuntimeError):
    """A binary is not built and could not be built here."""


@dataclass(frozen=True)
class Component:
    """One Go module under hack/tools/ and the binaries it builds."""

    name: str
    module: str
    binaries: tuple[str, ...]


COMPONENTS = (
    Component(
        "kubernetes",
        "k8s.io/kubernetes",
        ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
    ),
    Component("etcd", "go.etcd.io/etcd/server/v3", ("etcd",)),
    Component("kwok", "sigs.k8s.io/kwok", ("kwok",)),
    Component("helm", "helm.sh/helm/v3", ("helm",)),
    Component("metrics-server", "sigs.k8s.io/metrics-server", ("metrics-server",)),
)


def cache_dir() -> Path:
    """`$MODELDEPLOY_CACHE`, or ~/.cache/modeldeploy: outside the clone, shared by clones."""
    env = os.environ.get("MODELDEPLOY_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "modeldeploy"


def bin_dir() -> Path:
    return cache_dir() / "bin"


def version(component: Component) -> str:
    """The version of the component's module that its go.mod requires."""
    gomod = (TOOLS_DIR / component.name / "go.mod").read_text()
    match = re.search(
        rf"^\s*(?:require\s+)?{re.escape(component.module)}\s+(v\S+)", gomod, re.MULTILINE
    )
    if not match:
        raise ToolsMissingError(
            f"{component.module} is not required in hack/tools/{component.name}/go.mod"
        )
    return match.group(1)


def _component(binary: str) -> Component:
    for c in COMPONENTS:
        if binary in c.binaries:
            return c
    raise KeyError(binary)


def path(binary: str) -> Path:
    """`<cache>/bin/<binary>-<version>` (it may not exist yet)."""
    return bin_dir() / f"{binary}-{version(_component(binary))}"


def versions() -> dict[str, str]:
    return {c.name: version(c) for c in COMPONENTS}


def kwok_kustomize_dir() -> Path:
    """The kwok module's kustomize/ folder (stage files, metrics), copied by the build."""
    kwok = next(c for c in COMPONENTS if c.name == "kwok")
    return cache_dir() / "share" / f"kwok-{version(kwok)}" / "kustomize"


def missing(binaries: tuple[str, ...] | None = None) -> list[str]:
    names = binaries or tuple(b for c in COMPONENTS for b in c.binaries)
    absent = [b for b in names if not os.access(path(b), os.X_OK)]
    if "kwok" in names and not kwok_kustomize_dir().is_dir():
        absent.append("kwok")
    return sorted(set(absent))


def ensure(binaries: tuple[str, ...] | None = None, *, build: bool = True) -> None:
    """Builds what is missing with hack/build-tools.sh (the same as `make tools`).

    Raises ToolsMissingError with a message that says how to get the binaries
    when they are missing and cannot be built.
    """
    absent = missing(binaries)
    if not absent:
        return
    hint = "`make tools` (hack/build-tools.sh) builds them from their Go modules"
    if not build:
        raise ToolsMissingError(f"missing binaries {absent} in {bin_dir()}: {hint}")
    components = sorted({_component(b).name for b in absent})
    print(
        f"cluster: building {components} with {BUILD_SCRIPT} (a cold Kubernetes build "
        "takes tens of minutes)",
        file=sys.stderr,
        flush=True,
    )
    # stdout goes to stderr: `up` keeps its stdout for the one `export` line.
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), *components], stdout=sys.stderr, check=False
    )
    if result.returncode != 0 or missing(binaries):
        raise ToolsMissingError(
            f"building {components} failed (exit {result.returncode}); {hint}. "
            "Go 1.26 and the Go module proxy are needed."
        )
