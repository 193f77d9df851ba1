"""`python -m hack.cluster up|down|status|logs|tools` (run from the repository root).

`up` starts a detached control plane in --workdir (default .cache/cluster) and
ends with one line, `export KUBECONFIG=<path>`; `down` stops it and removes the
folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import tools
from .launcher import STATE_FILE, ClusterError, LocalCluster, NodeSpec, port_open
from .tools import ToolsMissingError

DEFAULT_WORKDIR = tools.REPO / ".cache" / "cluster"


def _up(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    if (workdir / STATE_FILE).exists():
        existing = LocalCluster.attach(workdir)
        if port_open(existing.ports.apiserver):
            print(f"cluster: already running in {workdir}", file=sys.stderr)
            print(f"export KUBECONFIG={existing.kubeconfig}")
            return 0
        print(f"cluster: stale state in {workdir}, cleaning it up", file=sys.stderr)
        existing.stop()
    cluster = LocalCluster(
        workdir=workdir,
        nodes=NodeSpec(count=args.nodes),
        metrics=not args.no_metrics,
        remove_workdir=True,
    )
    print(f"cluster: starting in {workdir} (logs in {workdir / 'logs'})", file=sys.stderr)
    cluster.start(detach=True)
    print(
        f"cluster: ready in {cluster.started_in:.1f}s, API server {cluster.server}, "
        f"{args.nodes} kwok nodes; `make cluster-down` stops it",
        file=sys.stderr,
    )
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


def _down(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    if not (workdir / STATE_FILE).exists():
        print(f"cluster: nothing running in {workdir}", file=sys.stderr)
        return 0
    LocalCluster.attach(workdir).stop()
    print(f"cluster: stopped, {workdir} removed", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    if not (workdir / STATE_FILE).exists():
        print("down")
        return 1
    cluster = LocalCluster.attach(workdir)
    up = port_open(cluster.ports.apiserver)
    print(f"{'up' if up else 'stale'}: {cluster.server} KUBECONFIG={cluster.kubeconfig}")
    for p in cluster.processes:
        print(f"  {p.name:<24} pid {p.pid}")
    return 0 if up else 1


def _logs(args: argparse.Namespace) -> int:
    cluster = LocalCluster(workdir=Path(args.workdir).resolve())
    print(cluster.tail_logs(args.lines))
    return 0


def _tools(args: argparse.Namespace) -> int:
    tools.ensure()
    for c in tools.COMPONENTS:
        for b in c.binaries:
            print(tools.path(b))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hack.cluster", description=__doc__)
    parser.add_argument("--workdir", default=str(DEFAULT_WORKDIR), help="%(default)s")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a detached control plane")
    up.add_argument("--nodes", type=int, default=3, help="fake kwok nodes (%(default)s)")
    up.add_argument("--no-metrics", action="store_true", help="without metrics-server")
    up.set_defaults(func=_up)
    sub.add_parser("down", help="stop it and remove the work folder").set_defaults(func=_down)
    sub.add_parser("status", help="whether it runs").set_defaults(func=_status)
    logs = sub.add_parser("logs", help="tail every component's log")
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.set_defaults(func=_logs)
    sub.add_parser("tools", help="build missing binaries, print their paths").set_defaults(
        func=_tools
    )
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ClusterError, ToolsMissingError) as e:
        print(f"cluster: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
