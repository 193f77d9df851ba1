"""The ``modeldeploy`` command.

Each subcommand lives in the package that owns it and is registered through a
light module (no torch, onnx or kopf at import time), so ``modeldeploy --help``
stays fast and the operator image needs no ML stack.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

# Modules that define ``register(subparsers)``; a missing one is skipped so that a
# deployable unit installed on its own still gets a working command.
_COMMAND_MODULES = (
    "modeldeploy_operator.api.commands",
    "modeldeploy_optimizer.commands",
    "modeldeploy_local.commands",
    "modeldeploy_operator.commands",
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modeldeploy",
        description="Take a trained model to an optimized, validated Triton endpoint.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        try:
            module: Any = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
