"""``modeldeploy up``, ``serve`` and ``down``: registration only.

Imported by the CLI on every invocation, so it imports nothing heavy; each
handler imports its implementation when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modeldeploy_local.errors import LocalModeError

DEFAULT_WORKDIR = ".modeldeploy"


def _workdir(args: argparse.Namespace) -> Path:
    return Path(args.workdir or os.environ.get("MODELDEPLOY_WORKDIR") or DEFAULT_WORKDIR)


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Errors the user can act on become one ``error:`` message, not a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except LocalModeError as error:
            print(f"error: {error}", file=sys.stderr)
            return error.exit_code
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return run


def run_options(args: argparse.Namespace) -> Any:
    from modeldeploy_local.ports import (
        DEFAULT_GRPC_PORT,
        DEFAULT_HTTP_PORT,
        DEFAULT_METRICS_PORT,
        Ports,
    )
    from modeldeploy_local.runner import RunOptions

    ports = None
    if not args.free_ports:
        ports = Ports(
            http=args.http_port or DEFAULT_HTTP_PORT,
            grpc=args.grpc_port or DEFAULT_GRPC_PORT,
            metrics=args.metrics_port or DEFAULT_METRICS_PORT,
        )
    return RunOptions(
        workdir=_workdir(args),
        host=args.host,
        ports=ports,
        once=args.once,
        detach=args.detach,
        ready_timeout_s=args.timeout,
    )


def _serving_arguments(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--once", action="store_true", help="stop the server after the check (scripts, CI)"
    )
    mode.add_argument(
        "--detach",
        action="store_true",
        help="leave the server running; `modeldeploy down` stops it",
    )
    parser.add_argument(
        "--workdir",
        help=f"working folder for repositories, logs and state "
        f"(default $MODELDEPLOY_WORKDIR or {DEFAULT_WORKDIR})",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)"
    )
    parser.add_argument("--http-port", type=int, help="default 8000")
    parser.add_argument("--grpc-port", type=int, help="default 8001")
    parser.add_argument("--metrics-port", type=int, help="default 8002")
    parser.add_argument(
        "--free-ports", action="store_true", help="pick three free ports instead of 8000-8002"
    )
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds to wait for the models to be ready"
    )


def _up(args: argparse.Namespace) -> int:
    from modeldeploy_local.pipeline import up

    code: int = up(Path(args.file), run_options(args), reoptimize=args.reoptimize)
    return code


def _serve(args: argparse.Namespace) -> int:
    from modeldeploy_local.serve import serve

    code: int = serve(Path(args.repository), run_options(args), name=args.name)
    return code


def _down(args: argparse.Namespace) -> int:
    from modeldeploy_local.state import stop_detached

    stopped = stop_detached(_workdir(args), args.name)
    print(f"stopped: {', '.join(stopped)}" if stopped else "no detached server was running")
    return 0


def register(subparsers: Any) -> None:
    up = subparsers.add_parser(
        "up",
        help="optimize a ModelDeployment's model and serve it with a local tritonserver",
        description="Read a ModelDeployment manifest, run the optimizer on this machine, serve "
        "the result with a real tritonserver (CPU), check HTTP and gRPC answers against ONNX "
        "Runtime and print a summary. Serves until Ctrl-C unless --once or --detach.",
    )
    up.add_argument("file", help="ModelDeployment manifest (model.uri may be a local path)")
    up.add_argument(
        "--reoptimize",
        action="store_true",
        help="run the optimizer even if this revision was optimized before",
    )
    _serving_arguments(up)
    up.set_defaults(handler=_guarded(_up))

    serve = subparsers.add_parser(
        "serve",
        help="serve an existing model repository with a local tritonserver",
        description="Serve a Triton model repository (the optimizer's onnxruntime_onnx output, "
        "or Python-backend models) with a local tritonserver and check every model.",
    )
    serve.add_argument("repository", help="model repository folder (<model>/config.pbtxt)")
    serve.add_argument("--name", help="name of this server for `down` (default: folder name)")
    _serving_arguments(serve)
    serve.set_defaults(handler=_guarded(_serve))

    down = subparsers.add_parser("down", help="stop a server started with --detach")
    down.add_argument("name", nargs="?", help="server to stop (default: every detached server)")
    down.add_argument("--workdir", help=f"working folder (default {DEFAULT_WORKDIR})")
    down.set_defaults(handler=_guarded(_down))
