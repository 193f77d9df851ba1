"""Fixtures of the real control plane (see hack/cluster/pytest_plugin.py).

`cluster` (session), `namespace` and `restricted_namespace` (function) come from
the plugin; the cluster is one per session, whichever conftest re-exports them.
"""

import sys
from pathlib import Path

_REPO = str(Path(__file__).resolve().parents[2])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from hack.cluster.pytest_plugin import (  # noqa: E402
    cluster,
    namespace,
    pytest_configure,
    pytest_runtest_makereport,
    restricted_namespace,
)

__all__ = [
    "cluster",
    "namespace",
    "pytest_configure",
    "pytest_runtest_makereport",
    "restricted_namespace",
]
