"""Every example parses; every broken manifest is rejected with a message naming its field."""

from __future__ import annotations

from typing import Any

import pytest
from modeldeploy_operator.api import ManifestError, ModelDeployment, load_manifests, parse_manifest

from tests.support.manifests import EXAMPLES, example_documents, invalid_cases

CASES = invalid_cases()


def test_there_are_examples_for_each_documented_use() -> None:
    parsed = [load_manifests(path)[0] for path in EXAMPLES]
    quantizations = {m.spec.optimization.quantization for m in parsed}
    metrics = {m.spec.autoscaling.metric for m in parsed}
    assert {"dynamic-int8", "static-int8", "fp16"} <= quantizations
    assert {"cpu", "queue-latency"} <= metrics
    assert any(m.spec.serving.gpu > 0 for m in parsed)


@pytest.mark.parametrize(("name", "document"), example_documents(), ids=lambda v: str(v)[:40])
def test_example_parses_and_round_trips(name: str, document: dict[str, Any]) -> None:
    parsed = parse_manifest(document, name)
    again = ModelDeployment.model_validate(parsed.to_wire())
    assert again == parsed


def test_defaults_fill_what_a_minimal_manifest_leaves_out() -> None:
    minimal = parse_manifest(
        {
            "apiVersion": "modeldeploy.dev/v1alpha1",
            "kind": "ModelDeployment",
            "metadata": {"name": "m"},
            "spec": {"model": {"uri": "https://example.com/m.onnx"}},
        }
    )
    spec = minimal.spec
    assert spec.model.format == "auto"
    assert spec.optimization.strategy == "auto"
    assert spec.optimization.accuracy_gate.threshold == 0.99
    assert spec.serving.max_batch_size == 32
    assert spec.serving.runtime.image.startswith("nvcr.io/nvidia/tritonserver:")
    assert (spec.autoscaling.min_replicas, spec.autoscaling.max_replicas) == (1, 4)
    assert spec.rollout.max_unavailable == 0


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_manifest_is_rejected_naming_the_field(case: Any) -> None:
    with pytest.raises(ManifestError) as raised:
        parse_manifest(case.manifest, case.name)
    problems = raised.value.problems
    matching = [p for p in problems if p.startswith(f"{case.field}: ")]
    assert matching, f"no problem names {case.field}: {problems}"
    assert any(case.model_message in p for p in matching), problems


def test_yaml_stream_with_other_kinds_keeps_only_model_deployments(tmp_path: Any) -> None:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n---\n" + EXAMPLES[0].read_text()
    )
    assert [m.metadata.name for m in load_manifests(path)] == ["minilm"]
