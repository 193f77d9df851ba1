"""Autoscaling simulation: CPU vs Triton queue latency vs inference rate, on measured capacity.

What it models. Three deterministic 2-hour load traces (ramp, spike, diurnal; requests per
second, Poisson noise at 1 s resolution) are replayed against a Triton Deployment whose
per-replica capacity comes from the serving benchmark (bench/results/serving.json: Triton
with dynamic batching, MiniLM INT8, throughput at concurrency 32 = saturated capacity ``mu``;
throughput at concurrency 1 = work one core does per request without batching, used for CPU).
The replica count is decided by a re-implementation of the Kubernetes HPA controller
(kube-controller-manager, pkg/controller/podautoscaler), written from its documented
behaviour, not copied:

- replica_calculator: desired = ceil(readyPods * metric / target), no change while
  |ratio - 1| <= 0.1 (--horizontal-pod-autoscaler-tolerance); starting pods and pods
  without a full metric window count as 0 when scaling up (damping it), and pods without a
  full window count as at-target when scaling down; if that flips the direction or lands
  within tolerance, no change;
- horizontal.go: sync every 15 s (--horizontal-pod-autoscaler-sync-period); default
  behavior: scale-up stabilization 0 s, scale-up policies +100% or +4 pods per 15 s
  (selectPolicy Max), scale-down stabilization 300 s (the highest recommendation in the
  window wins), scale-down policy 100% per 15 s; minReplicas/maxReplicas clamp;
- a new pod serves only after ``--startup`` seconds (image pull + Triton model load);
  removed pods stop at once (unready pods are removed first, as a ReplicaSet does).

Each second the ready replicas share the load evenly. Each replica is an M/M/1 queue with
service time S = 1/mu: mean queue time rho/(1-rho)*S (rho capped at 0.98), plus a fluid
backlog that builds when arrivals exceed capacity and drains at capacity; requests that
would wait more than 30 s time out (dropped, counted as SLO-violating seconds).
Every run starts warm: ready pods for the first minute's load at 50% utilisation.

Policies (the metric each one sees lags as it does in a cluster):

- ``cpu-70``: CPU utilisation target 70% of the request (one core per replica busy
  serving; batching makes a saturated replica serve ``mu`` > single-request throughput at
  100% CPU, so CPU saturates at 1.0 and under overload the ratio tops out at 1/0.7).
  metrics-server scrapes every 15 s and reports the mean over the previous 15 s.
- ``queue-latency``: Triton's mean queue time per request,
  rate(nv_inference_queue_duration_us[30s]) / rate(nv_inference_request_success[30s]),
  Prometheus scraping every 15 s, target 20 ms (a Pods metric, averageValue).
- ``inference-rate``: rate(nv_inference_request_success[30s]) per pod, target 70% of the
  measured per-replica throughput (the operator's derived target). Completed requests
  saturate at ``mu`` under overload, as CPU does.

SLO: per-second mean request latency (queue + service) <= 100 ms (primary; all three
setpoints meet it in steady state, so violations measure the dynamics), and the tight SLO
queue target + service time (~42 ms) as a second column. Seconds with timeouts violate both.

What it does not model: request-level randomness beyond the M/M/1 formula (the p99 of the
real server is worse), uneven load balancing, per-pod metric noise, Prometheus-adapter or
KEDA polling delays beyond the scrape/rate window, node provisioning (cluster autoscaler),
scale to zero, readiness probes' own periods, and the cpu-initialization-period subtleties.

    .venv/bin/python bench/autoscaling.py

Output: a table on stdout, bench/results/autoscaling.json and bench/results/autoscaling.png.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
FloatArray = npt.NDArray[np.float64]

DURATION_S = 2 * 3600
TIMEOUT_S = 30.0
RHO_CAP = 0.98


@dataclass(frozen=True)
class Params:
    mu: float  # saturated per-replica throughput (req/s), Triton dynamic batching, conc 32
    mu1: float  # single-request throughput (req/s) = 100% of one core's work without batching
    startup_s: int = 30
    min_replicas: int = 1
    max_replicas: int = 60
    sync_period_s: int = 15
    tolerance: float = 0.1
    scale_up_percent: float = 100.0
    scale_up_pods: int = 4
    scale_up_period_s: int = 15
    scale_down_window_s: int = 300
    cpu_target: float = 0.70
    cpu_window_s: int = 15
    queue_target_ms: float = 20.0
    prom_window_s: int = 30
    scrape_interval_s: int = 15
    rate_target_fraction: float = 0.70
    slo_ms: float = 100.0
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def service_ms(self) -> float:
        return 1000.0 / self.mu

    @property
    def tight_slo_ms(self) -> float:
        return self.queue_target_ms + self.service_ms


def load_params(startup_s: int) -> Params:
    rows = json.loads((RESULTS / "serving.json").read_text())
    dyn = {r["concurrency"]: r for r in rows if r["server"] == "triton-dynamic"}
    mu, mu1 = float(dyn[32]["throughput"]), float(dyn[1]["throughput"])
    source = {
        "file": "bench/results/serving.json",
        "capacity": "triton-dynamic, concurrency 32, throughput (req/s per replica)",
        "cpu_work": "triton-dynamic, concurrency 1, throughput (req/s at 100% of one core)",
        "model": dyn[32].get("model"),
    }
    opt = RESULTS / "optimizer.json"
    if opt.exists():
        res = json.loads(opt.read_text()).get("results", [])
        if res:
            source["optimized_variant"] = res[0].get("chosen")
    return Params(mu=mu, mu1=mu1, startup_s=startup_s, source=source)


# --- load traces (req/s, one value per second) ----------------------------------------


def trace_ramp(rng: np.random.Generator) -> FloatArray:
    t = np.arange(DURATION_S, dtype=np.float64)
    base = 20.0
    rate = np.interp(t, [0, 600, 4200, 6000, 7200], [base, base, 600.0, 600.0, base])
    return rng.poisson(rate).astype(np.float64)


def trace_spike(rng: np.random.Generator) -> FloatArray:
    t = np.arange(DURATION_S, dtype=np.float64)
    rate = np.full(DURATION_S, 100.0)
    rate[(t >= 1800) & (t < 2100)] = 500.0  # 5 min at 5x
    rate[(t >= 4200) & (t < 4320)] = 900.0  # 2 min at 9x
    rate[(t >= 5400) & (t < 5460)] = 400.0  # 1 min at 4x
    return rng.poisson(rate).astype(np.float64)


def trace_diurnal(rng: np.random.Generator) -> FloatArray:
    t = np.arange(DURATION_S, dtype=np.float64)
    day = 0.5 - 0.5 * np.cos(2 * math.pi * t / DURATION_S)  # one "day" compressed to 2 h
    wobble = 1.0 + 0.1 * np.sin(2 * math.pi * t / 600.0)
    rate = (30.0 + 450.0 * day**1.5) * wobble
    return rng.poisson(rate).astype(np.float64)


TRACES: dict[str, tuple[Callable[[np.random.Generator], FloatArray], int]] = {
    "ramp": (trace_ramp, 1),
    "spike": (trace_spike, 2),
    "diurnal": (trace_diurnal, 3),
}
POLICIES = ("cpu-70", "queue-latency", "inference-rate")


# --- HPA -------------------------------------------------------------------------------


def replica_calc(
    ratio: float, ready: int, unready: int, missing: int, current: int, tolerance: float
) -> int:
    """replica_calculator.go's usage-ratio logic.

    ``ratio`` is the mean metric / target over the ``ready`` pods that have a full window of
    metrics. ``unready`` pods (still starting) count as 0 only when scaling up; ``missing``
    pods (ready, no full window yet) count as 0 when scaling up and as exactly the target
    when scaling down. If that flips the direction or lands within tolerance: no change.
    """
    if ready == 0:
        return current
    up_with_unready = unready > 0 and ratio > 1.0
    if not up_with_unready and missing == 0:
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready)
    total = ratio * ready + (missing if ratio < 1.0 else 0.0)
    pods = ready + missing + (unready if up_with_unready else 0)
    new_ratio = total / pods
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0) != (new_ratio < 1.0):
        return current
    new = math.ceil(new_ratio * pods)
    if (new_ratio < 1.0 and new > current) or (new_ratio > 1.0 and new < current):
        return current
    return new


@dataclass
class Result:
    trace: str
    policy: str
    replicas: FloatArray
    latency_ms: FloatArray
    dropped: float
    scale_events: int


def simulate(load: FloatArray, policy: str, p: Params) -> Result:
    n_t = len(load)
    # start warm: enough ready pods for the first minute at 50% utilisation, same for all
    initial = math.ceil(float(np.mean(load[:60])) / (0.5 * p.mu))
    ready_at: list[int] = [-10_000] * max(p.min_replicas, min(p.max_replicas, initial))
    recs: list[tuple[int, int]] = []  # (time, unstabilized recommendation)
    backlog = 0.0
    dropped = 0.0
    events = 0
    s_s = 1.0 / p.mu
    replicas = np.zeros(n_t)
    latency = np.zeros(n_t)
    cpu = np.zeros(n_t)  # per ready pod
    served_s = np.zeros(n_t)
    queue_s = np.zeros(n_t)  # total queue seconds of requests completed in this second
    ready_n = np.zeros(n_t)
    for t in range(n_t):
        ready = sum(1 for r in ready_at if r <= t)
        cap = ready * p.mu
        arrivals = load[t]
        start = backlog
        served = min(start + arrivals, cap)
        backlog = start + arrivals - served
        if backlog > TIMEOUT_S * cap:
            dropped += backlog - TIMEOUT_S * cap
            backlog = TIMEOUT_S * cap
        rho = min(arrivals / cap, RHO_CAP) if cap > 0 else RHO_CAP
        wq = rho / (1.0 - rho) * s_s + (0.5 * (start + backlog) / cap if cap > 0 else TIMEOUT_S)
        wq = min(wq, TIMEOUT_S)
        replicas[t] = len(ready_at)
        ready_n[t] = ready
        latency[t] = 1000.0 * (wq + s_s)
        served_s[t] = served
        queue_s[t] = served * wq
        cpu[t] = min(1.0, served / max(ready, 1) / p.mu1)

        if t == 0 or t % p.sync_period_s:
            continue
        current = len(ready_at)
        # latest scrape at or before t; each metric averages the window before that scrape
        scrape = t - (t % p.scrape_interval_s)
        window = p.cpu_window_s if policy == "cpu-70" else p.prom_window_s
        lo = max(0, scrape - window)
        if scrape <= lo:
            continue
        sl = slice(lo, scrape)
        if policy == "cpu-70":
            ratio = float(np.mean(cpu[sl])) / p.cpu_target
        elif policy == "queue-latency":
            done = float(served_s[sl].sum())
            q_ms = 1000.0 * float(queue_s[sl].sum()) / done if done > 0 else 0.0
            ratio = q_ms / p.queue_target_ms
        else:
            per_pod = float(np.mean(served_s[sl] / np.maximum(ready_n[sl], 1)))
            ratio = per_pod / (p.rate_target_fraction * p.mu)
        with_metrics = sum(1 for r in ready_at if r <= lo)  # ready for the whole window
        missing = ready - with_metrics
        unready = current - ready
        desired = replica_calc(ratio, with_metrics, unready, missing, current, p.tolerance)
        desired = max(p.min_replicas, min(p.max_replicas, desired))
        # horizontal.go stabilizeRecommendationWithBehaviors (scale-up window 0 s)
        recs = [(ts, r) for ts, r in recs if ts > t - p.scale_down_window_s]
        recs.append((t, desired))
        down_rec = max(r for _, r in recs)
        target = current
        if target < desired:
            target = desired
        if target > down_rec:
            target = down_rec
        # convertDesiredReplicasWithBehaviorRate: scale-up policies, selectPolicy Max
        if target > current:
            limit = max(
                math.floor(current * (1 + p.scale_up_percent / 100.0)),
                current + p.scale_up_pods,
            )
            target = min(target, limit, p.max_replicas)
        if target != current:
            events += 1
            if target > current:
                ready_at += [t + p.startup_s] * (target - current)
            else:
                ready_at.sort()  # newest (unready) pods go first
                ready_at = ready_at[:target]
    return Result("", policy, replicas, latency, dropped, events)


def summarize(res: Result, p: Params) -> dict[str, Any]:
    return {
        "trace": res.trace,
        "policy": res.policy,
        "slo_ms": p.slo_ms,
        "slo_violation_seconds": int(np.sum(res.latency_ms > p.slo_ms)),
        "tight_slo_ms": round(p.tight_slo_ms, 1),
        "tight_slo_violation_seconds": int(np.sum(res.latency_ms > p.tight_slo_ms)),
        "replica_minutes": round(float(res.replicas.sum()) / 60.0, 1),
        "max_replicas": int(res.replicas.max()),
        "scale_events": res.scale_events,
        "dropped_requests": int(res.dropped),
        "latency_ms_p50_over_seconds": round(float(np.percentile(res.latency_ms, 50)), 1),
    }


def plot(loads: dict[str, FloatArray], results: list[Result], p: Params, path: Path) -> None:
    colors = {"cpu-70": "tab:red", "queue-latency": "tab:blue", "inference-rate": "tab:green"}
    fig, axes = plt.subplots(len(loads), 2, figsize=(16, 4.2 * len(loads)), squeeze=False)
    for row, (name, load) in enumerate(loads.items()):
        minutes = np.arange(len(load)) / 60.0
        ax, lax = axes[row][0], axes[row][1]
        smooth = np.convolve(load, np.ones(30) / 30, mode="same")
        ax2 = ax.twinx()
        ax2.fill_between(minutes, smooth / p.mu, color="0.85", label="load / mu (replicas at 100%)")
        ax2.set_ylabel("load (req/s) / per-replica capacity")
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
        for res in results:
            if res.trace != name:
                continue
            c = colors[res.policy]
            ax.step(minutes, res.replicas, where="post", color=c, label=res.policy, lw=1.4)
            lat = np.convolve(res.latency_ms, np.ones(10) / 10, mode="same")
            lax.plot(minutes, lat, color=c, label=res.policy, lw=1.0)
        top = max(ax.get_ylim()[1], ax2.get_ylim()[1])
        ax.set_ylim(0, top)
        ax2.set_ylim(0, top)
        ax.set_title(f"{name}: replicas (lines) and load in replica-equivalents (grey)")
        ax.set_xlabel("minutes")
        ax.set_ylabel("replicas")
        ax.legend(loc="upper left", fontsize=8)
        lax.axhline(p.slo_ms, color="k", ls="--", lw=1, label=f"SLO {p.slo_ms:.0f} ms")
        lax.set_yscale("log")
        lax.set_ylim(10, 40_000)
        lax.set_title(f"{name}: mean request latency (10 s average)")
        lax.set_xlabel("minutes")
        lax.set_ylabel("ms (log)")
        lax.legend(loc="upper left", fontsize=8)
    fig.suptitle(
        f"HPA simulation, per-replica capacity {p.mu:.1f} req/s (Triton dynamic batching), "
        f"pod start-up {p.startup_s} s"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--startup", type=int, default=30, help="seconds before a new pod serves")
    args = ap.parse_args()
    p = load_params(args.startup)
    loads = {name: fn(np.random.default_rng(seed)) for name, (fn, seed) in TRACES.items()}
    results: list[Result] = []
    rows: list[dict[str, Any]] = []
    for name, load in loads.items():
        for policy in POLICIES:
            res = simulate(load, policy, p)
            res.trace = name
            results.append(res)
            rows.append(summarize(res, p))
    header = (
        f"{'trace':8} {'policy':15} {'viol_s':>7} {'viol_s_tight':>12} {'replica_min':>11} "
        f"{'max_rep':>7} {'events':>6} {'dropped':>8}"
    )
    print(
        f"capacity {p.mu:.2f} req/s/replica, service {p.service_ms:.1f} ms, SLO {p.slo_ms:.0f} ms"
        f" (tight {p.tight_slo_ms:.1f} ms), start-up {p.startup_s} s"
    )
    print(header)
    for r in rows:
        print(
            f"{r['trace']:8} {r['policy']:15} {r['slo_violation_seconds']:>7} "
            f"{r['tight_slo_violation_seconds']:>12} {r['replica_minutes']:>11} "
            f"{r['max_replicas']:>7} {r['scale_events']:>6} {r['dropped_requests']:>8}"
        )
    params = asdict(p) | {"service_ms": round(p.service_ms, 2), "duration_s": DURATION_S}
    params |= {"timeout_s": TIMEOUT_S, "trace_seeds": {k: s for k, (_, s) in TRACES.items()}}
    out = [r | {"parameters": params} for r in rows]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "autoscaling.json").write_text(json.dumps(out, indent=2) + "\n")
    plot(loads, results, p, RESULTS / "autoscaling.png")


if __name__ == "__main__":
    main()
