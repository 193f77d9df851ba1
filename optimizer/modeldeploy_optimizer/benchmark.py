"""Latency and throughput of several models, measured interleaved in one process.

Every round runs each model once on the same batch, in a rotating order, so that
noise from other processes (a shared CI machine) hits all models alike; ratios
between models are what the optimizer decides on.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modeldeploy_optimizer.onnxutil import session
from modeldeploy_optimizer.samples import Feed

WARMUP_RUNS = 3
MIN_ROUNDS = 10


@dataclass(frozen=True)
class Stats:
    """Latency of one model at one batch size."""

    batch_size: int
    p50_ms: float
    p99_ms: float
    throughput: float
    runs: int


def threads() -> int:
    """Threads ONNX Runtime uses: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def measure(
    models: dict[str, Path],
    batches: dict[int, Feed],
    *,
    seconds_per_batch: float,
    max_rounds: int = 200,
) -> dict[str, list[Stats]]:
    """Stats for each model at each batch size; rounds interleave the models."""
    sessions: dict[str, Any] = {name: session(path, threads()) for name, path in models.items()}
    names = list(sessions)
    results: dict[str, list[Stats]] = {name: [] for name in names}
    for size, feed in batches.items():
        timings: dict[str, list[float]] = {name: [] for name in names}
        for name in names:
            for _ in range(WARMUP_RUNS):
                sessions[name].run(None, feed)
        started = time.perf_counter()
        rounds = 0
        while rounds < max_rounds and (
            rounds < MIN_ROUNDS or time.perf_counter() - started < seconds_per_batch
        ):
            shift = rounds % len(names)
            for name in names[shift:] + names[:shift]:
                begin = time.perf_counter()
                sessions[name].run(None, feed)
                timings[name].append(time.perf_counter() - begin)
            rounds += 1
        for name in names:
            values = np.asarray(timings[name]) * 1000.0
            p50 = float(np.percentile(values, 50))
            results[name].append(
                Stats(
                    batch_size=size,
                    p50_ms=round(p50, 3),
                    p99_ms=round(float(np.percentile(values, 99)), 3),
                    throughput=round(size * 1000.0 / p50, 2),
                    runs=len(values),
                )
            )
    return results


def peak_memory_bytes() -> int:
    """The optimizer process's peak resident memory."""
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
