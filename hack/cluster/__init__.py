"""A real Kubernetes control plane on 127.0.0.1 for tests and demos.

Binaries are built from their Go modules by hack/build-tools.sh (`make tools`);
see hack/README.md.
"""

from .launcher import ClusterError, LocalCluster, NodeSpec, local_cluster
from .tools import ToolsMissingError

__all__ = ["ClusterError", "LocalCluster", "NodeSpec", "ToolsMissingError", "local_cluster"]
