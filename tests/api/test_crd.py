"""The generated CRD: up to date, byte-stable, structural, and its CEL rules agree
with the models on every example and every broken manifest."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import yaml
from modeldeploy_operator.api import crdgen

from tests.support.crdcheck import apply_defaults, cel_failures, structural_problems
from tests.support.manifests import ROOT, example_documents, invalid_cases

CRD_FILE = ROOT / "crds" / "modeldeployment.yaml"


@pytest.fixture(scope="module")
def crd() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CRD_FILE.read_text())
    return document


@pytest.fixture(scope="module")
def schema(crd: dict[str, Any]) -> dict[str, Any]:
    root: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return root


def test_checked_in_crd_is_what_the_models_generate() -> None:
    assert CRD_FILE.read_text() == crdgen.render(), "crds/ is stale: run `make crds`"


def test_generation_is_byte_stable_across_processes() -> None:
    command = [sys.executable, "-m", "modeldeploy_operator.api.crdgen"]
    first = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    second = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert first == second == crdgen.render()


def test_schema_is_structural_and_described(schema: dict[str, Any]) -> None:
    assert structural_problems(schema) == []


def test_structural_check_catches_what_it_should() -> None:
    broken = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "a": {"$ref": "#/x", "description": "d"},
                    "b": {"type": "string", "enum": ["x"], "default": "y", "description": "d"},
                    "c": {"type": "array"},
                },
            }
        },
    }
    problems = structural_problems(broken)
    assert any("spec.a: uses $ref" in p for p in problems)
    assert any("spec.a: no type" in p for p in problems)
    assert any("spec.b default" in p for p in problems)
    assert any("spec.c: array without items" in p for p in problems)
    assert any("spec.c: no description" in p for p in problems)


def test_names_columns_and_subresources(crd: dict[str, Any]) -> None:
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "modeldeployments.modeldeploy.dev"
    assert spec["names"]["shortNames"] == ["mdep"]
    assert spec["names"]["categories"] == ["all"]
    version = spec["versions"][0]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert columns == ["Phase", "Ready", "Revision", "Speedup", "Size", "Age"]


def test_conditions_are_a_list_map_keyed_by_type(schema: dict[str, Any]) -> None:
    conditions = schema["properties"]["status"]["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    fields = set(conditions["items"]["properties"])
    assert {"type", "status", "reason", "message", "lastTransitionTime"} <= fields
    assert {"observedGeneration"} <= fields


def test_schema_carries_enums_ranges_patterns_and_defaults(schema: dict[str, Any]) -> None:
    spec = schema["properties"]["spec"]["properties"]
    optimization = spec["optimization"]["properties"]
    assert optimization["quantization"]["enum"] == ["none", "dynamic-int8", "static-int8", "fp16"]
    assert optimization["pruning"]["properties"]["sparsity"]["maximum"] == 0.9
    assert spec["model"]["properties"]["uri"]["pattern"] == "^(s3|pvc|https|file)://.+$"
    behavior = {
        "scaleUpStabilizationSeconds": 0,
        "scaleDownStabilizationSeconds": 300,
        "scaleDownPercentPerMinute": 50,
    }
    assert spec["autoscaling"]["default"] == {
        "minReplicas": 1,
        "maxReplicas": 4,
        "metric": "cpu",
        "behavior": behavior,
    }
    defaulted = apply_defaults(schema, {"spec": {"model": {"uri": "pvc://m/x"}}})["spec"]
    assert defaulted["autoscaling"] == spec["autoscaling"]["default"]
    assert defaulted["optimization"]["accuracyGate"] == {
        "metric": "cosine",
        "threshold": 0.99,
        "samples": 64,
    }


@pytest.mark.parametrize(("name", "document"), example_documents(), ids=lambda v: str(v)[:40])
def test_examples_pass_every_cel_rule(
    schema: dict[str, Any], name: str, document: dict[str, Any]
) -> None:
    assert cel_failures(schema, apply_defaults(schema, document)) == []


@pytest.mark.parametrize("case", invalid_cases(), ids=lambda c: c.name)
def test_cel_rules_reject_what_the_models_reject(schema: dict[str, Any], case: Any) -> None:
    rule_messages = [
        rule["message"] for rule in _all_rules(schema) if case.apiserver_message in rule["message"]
    ]
    failures = cel_failures(schema, apply_defaults(schema, case.manifest))
    if rule_messages:
        # A rule case: CEL must fail on the same field with the same words (a root
        # rule cannot point into metadata, so its message names the field).
        assert any(
            (path == case.field or msg.startswith(f"{case.field}:"))
            and case.apiserver_message in msg
            for path, msg in failures
        ), failures
    else:
        # A schema case (enum, pattern, range, unknown field): no rule fires by mistake.
        assert failures == []


def _all_rules(schema: dict[str, Any]) -> list[dict[str, Any]]:
    rules = list(schema.get("x-kubernetes-validations", []))
    for sub in schema.get("properties", {}).values():
        rules += _all_rules(sub)
    if isinstance(schema.get("items"), dict):
        rules += _all_rules(schema["items"])
    return rules
