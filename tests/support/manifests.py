"""The example and broken manifests, shared by the model tests and the API-server tests."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
INVALID = ROOT / "tests" / "manifests" / "invalid.yaml"


@dataclass(frozen=True)
class InvalidCase:
    name: str
    field: str
    model_message: str
    apiserver_message: str
    manifest: dict[str, Any]


def invalid_cases() -> list[InvalidCase]:
    cases = []
    for raw in yaml.safe_load(INVALID.read_text()):
        manifest: dict[str, Any] = {
            "apiVersion": "modeldeploy.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": raw["name"]},
        }
        manifest.update(copy.deepcopy(raw["manifest"]))
        cases.append(
            InvalidCase(
                name=raw["name"],
                field=raw["field"],
                model_message=raw.get("model", raw.get("message", "")),
                apiserver_message=raw.get("apiserver", raw.get("message", "")),
                manifest=manifest,
            )
        )
    return cases


def example_documents() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, yaml.safe_load(path.read_text())) for path in EXAMPLES]
