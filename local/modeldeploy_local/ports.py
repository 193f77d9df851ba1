"""The three ports tritonserver listens on: chosen free, or checked before the start."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass

from modeldeploy_local.errors import PortInUseError

DEFAULT_HTTP_PORT = 8000
DEFAULT_GRPC_PORT = 8001
DEFAULT_METRICS_PORT = 8002


@dataclass(frozen=True)
class Ports:
    http: int
    grpc: int
    metrics: int

    def named(self) -> dict[str, int]:
        return {"HTTP": self.http, "gRPC": self.grpc, "metrics": self.metrics}


def _bindable(host: str, port: int) -> bool:
    # SO_REUSEADDR as tritonserver sets it, so a port in TIME_WAIT counts as free.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(host: str = "127.0.0.1") -> Ports:
    """Three ports that the kernel says are free now (bound together, then released)."""
    with contextlib.ExitStack() as stack:
        numbers = []
        for _ in range(3):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            numbers.append(int(sock.getsockname()[1]))
    return Ports(*numbers)


def check_free(ports: Ports, host: str) -> None:
    """Raise :class:`PortInUseError` naming the first taken port and how to avoid it."""
    bind_host = "0.0.0.0" if host in ("", "0.0.0.0") else host
    for name, port in ports.named().items():
        if not _bindable(bind_host, port):
            flag = {"HTTP": "--http-port", "gRPC": "--grpc-port", "metrics": "--metrics-port"}
            raise PortInUseError(
                f"port {port} ({name}) on {bind_host} is already in use: stop what listens "
                f"there (`modeldeploy down` if it is an earlier server), choose another "
                f"port with {flag[name]}, or pass --free-ports to pick free ones"
            )
