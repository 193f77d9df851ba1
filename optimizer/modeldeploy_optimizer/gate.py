"""The accuracy gate: a candidate against the FP32 export, on held-out inputs.

Metrics are computed per sample on the first output (the served one) and summarised:
cosine (mean and min), max-abs, relative L2, and top-1 agreement for classifiers.
cosine and top1-agreement must reach the threshold; max-abs and relative-l2 must stay
at or below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modeldeploy_optimizer.onnxutil import session
from modeldeploy_optimizer.samples import Feed, split
from modeldeploy_optimizer.spec import AccuracyGate

GATE_BATCH = 16
HIGHER_IS_BETTER = {"cosine": True, "top1-agreement": True, "max-abs": False, "relative-l2": False}
_METRIC_KEY = {
    "cosine": "cosine_mean",
    "top1-agreement": "top1_agreement",
    "max-abs": "max_abs",
    "relative-l2": "relative_l2",
}


@dataclass(frozen=True)
class Verdict:
    """The gate's decision on one candidate."""

    metric: str
    value: float
    threshold: float
    passed: bool
    samples: int
    metrics: dict[str, float]


def run(model: Path, feed: Feed, threads: int | None = None) -> np.ndarray:
    """The first output of ``model`` over a stacked feed, in batches."""
    sess = session(model, threads)
    name = sess.get_outputs()[0].name
    parts = [np.asarray(sess.run([name], chunk)[0]) for chunk in split(feed, GATE_BATCH)]
    return np.concatenate(parts).astype(np.float32)


def metrics(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """All metrics of ``candidate`` against ``reference`` (batch on axis 0)."""
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    got = candidate.reshape(len(candidate), -1).astype(np.float64)
    finite = bool(np.isfinite(got).all())
    got = np.nan_to_num(got, nan=0.0, posinf=0.0, neginf=0.0)
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
    cosine = np.where(norms > 0, (ref * got).sum(axis=1) / np.maximum(norms, 1e-30), 0.0)
    rel = np.linalg.norm(got - ref, axis=1) / np.maximum(np.linalg.norm(ref, axis=1), 1e-12)
    result = {
        "cosine_mean": float(cosine.mean()),
        "cosine_min": float(cosine.min()),
        "max_abs": float(np.abs(got - ref).max()) if finite else float("inf"),
        "relative_l2": float(rel.mean()),
    }
    if reference.ndim == 2 and reference.shape[1] > 1:
        agree = reference.argmax(axis=1) == candidate.argmax(axis=1)
        result["top1_agreement"] = float(agree.mean())
    return result


def decide(values: dict[str, float], gate: AccuracyGate, samples: int) -> Verdict:
    """Whether the metrics pass ``gate``."""
    key = _METRIC_KEY[gate.metric]
    if key not in values:
        value, passed = float("nan"), False
    else:
        value = values[key]
        if HIGHER_IS_BETTER[gate.metric]:
            passed = value >= gate.threshold
        else:
            passed = value <= gate.threshold
    return Verdict(gate.metric, value, gate.threshold, bool(passed), samples, values)
