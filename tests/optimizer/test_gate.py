"""The accuracy gate's metrics and decisions."""

from __future__ import annotations

import numpy as np
from modeldeploy_optimizer.gate import decide, metrics
from modeldeploy_optimizer.spec import AccuracyGate


def test_identical_outputs_pass_every_metric() -> None:
    ref = np.random.default_rng(0).standard_normal((32, 10)).astype(np.float32)
    values = metrics(ref, ref.copy())
    assert values["cosine_mean"] > 0.999999
    assert values["max_abs"] == 0.0
    assert values["top1_agreement"] == 1.0
    for metric, threshold in (("cosine", 0.99), ("max-abs", 1e-6), ("top1-agreement", 1.0)):
        verdict = decide(values, AccuracyGate(metric=metric, threshold=threshold), 32)
        assert verdict.passed, metric


def test_noisy_outputs_fail_a_strict_gate_and_pass_a_loose_one() -> None:
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((64, 100)).astype(np.float32)
    noisy = ref + 0.3 * rng.standard_normal(ref.shape).astype(np.float32)
    values = metrics(ref, noisy)
    assert 0.9 < values["cosine_mean"] < 0.99
    assert not decide(values, AccuracyGate(metric="cosine", threshold=0.99), 64).passed
    assert decide(values, AccuracyGate(metric="cosine", threshold=0.9), 64).passed
    assert not decide(values, AccuracyGate(metric="relative-l2", threshold=0.1), 64).passed
    assert decide(values, AccuracyGate(metric="relative-l2", threshold=0.5), 64).passed


def test_nan_outputs_fail() -> None:
    ref = np.ones((4, 3), dtype=np.float32)
    bad = ref.copy()
    bad[0, 0] = np.nan
    values = metrics(ref, bad)
    assert not decide(values, AccuracyGate(metric="max-abs", threshold=10.0), 4).passed


def test_top1_agreement_needs_class_scores() -> None:
    embeddings = np.ones((4, 1), dtype=np.float32)
    values = metrics(embeddings, embeddings)
    verdict = decide(values, AccuracyGate(metric="top1-agreement", threshold=0.5), 4)
    assert not verdict.passed
