"""``modeldeploy operator``: run the operator (what the chart's Deployment runs)."""

from __future__ import annotations

import argparse
import logging
from typing import Any


def _run(args: argparse.Namespace) -> int:
    # Imported here so that `modeldeploy --help` does not load Kopf.
    import kopf

    from modeldeploy_operator import handlers, metrics
    from modeldeploy_operator.settings import OperatorSettings

    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN,
        log_refkey="object",
    )
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    handlers.configure(
        OperatorSettings(
            optimizer_image=args.optimizer_image,
            default_artifacts_uri=args.default_artifacts,
            prometheus_url=args.prometheus_url,
        )
    )
    if args.metrics_port:
        metrics.serve(args.metrics_port)
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace or (),
        liveness_endpoint=f"http://0.0.0.0:{args.health_port}/healthz"
        if args.health_port
        else None,
        # With a peering name, replicas elect one active operator through Kopf's
        # peering objects; without one, a single replica runs alone.
        standalone=not args.peering,
        peering_name=args.peering,
    )
    return 0


def register(subparsers: Any) -> None:
    from modeldeploy_operator.settings import OperatorSettings

    defaults = OperatorSettings()
    parser = subparsers.add_parser("operator", help="run the Kubernetes operator")
    parser.add_argument(
        "--namespace", action="append", help="watch only this namespace (repeatable)"
    )
    parser.add_argument("--optimizer-image", default=defaults.optimizer_image)
    parser.add_argument("--default-artifacts", default=defaults.default_artifacts_uri)
    parser.add_argument(
        "--prometheus-url", default=defaults.prometheus_url, help="for KEDA's triggers"
    )
    parser.add_argument("--health-port", type=int, default=8080, help="0 disables /healthz")
    parser.add_argument("--metrics-port", type=int, default=9090, help="0 disables /metrics")
    parser.add_argument(
        "--peering", help="Kopf peering name, for more than one replica (the chart sets it)"
    )
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--log-format", choices=("json", "plain"), default="json", help="json for log collectors"
    )
    parser.set_defaults(handler=_run)
