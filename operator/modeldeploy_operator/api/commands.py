"""``modeldeploy validate`` and ``modeldeploy crd``: the API on a terminal, no cluster needed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from modeldeploy_optimizer.spec import revision_of

from modeldeploy_operator.api import crdgen
from modeldeploy_operator.api.manifest import ManifestError, load_manifests


def _validate(args: argparse.Namespace) -> int:
    failed = False
    for path in args.files:
        try:
            deployments = load_manifests(path)
        except ManifestError as error:
            failed = True
            for problem in error.problems:
                print(f"{path}: {problem}", file=sys.stderr)
            continue
        except (OSError, ValueError) as error:
            failed = True
            print(f"{path}: {error}", file=sys.stderr)
            continue
        for deployment in deployments:
            spec = deployment.spec
            revision = revision_of(spec.model, spec.optimization, spec.serving.runtime)
            print(f"{path}: {deployment.metadata.name} is valid (revision {revision})")
    return 1 if failed else 0


def _crd(args: argparse.Namespace) -> int:
    sys.stdout.write(crdgen.render())
    return 0


def register(subparsers: Any) -> None:
    validate = subparsers.add_parser(
        "validate",
        help="check ModelDeployment manifests as the API server would",
        description="Parse each file's ModelDeployments and name every invalid field.",
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")
    validate.set_defaults(handler=_validate)
    crd = subparsers.add_parser("crd", help="print the ModelDeployment CRD")
    crd.set_defaults(handler=_crd)
