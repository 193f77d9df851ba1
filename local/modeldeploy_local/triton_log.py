"""Reading tritonserver's log: the lines that explain a failure, and nothing else."""

from __future__ import annotations

import re

# Printed on every CPU-only machine; they explain nothing about a failure.
_NOISE = (
    "CudaDriverHelper has not been initialized",
    "Failed to initialize NVML",
    "DCGM unable to start",
    "Unable to allocate pinned system memory",
    "CUDA memory pool disabled",
)
# glog: severity letter, MMDD, time, thread id, file:line] message
_GLOG_ERROR = re.compile(r"^E\d{4} [\d:.]+ +\d+ \S+\] (?P<message>.*)$")
_MAX_LINES = 30


def _unquote(message: str) -> list[str]:
    """Triton logs multi-line messages (Python tracebacks) as one quoted line with \\n."""
    message = message.strip()
    if len(message) >= 2 and message[0] == message[-1] == '"':
        message = message[1:-1]
    return [part.rstrip() for part in message.replace('\\"', '"').split("\\n") if part.strip()]


def relevant_lines(log: str) -> list[str]:
    """Error lines, failed models from the model table and the final ``error:`` line."""
    lines: list[str] = []
    for raw in log.splitlines():
        if any(noise in raw for noise in _NOISE):
            continue
        match = _GLOG_ERROR.match(raw)
        if match:
            lines.extend(_unquote(match.group("message")))
        elif raw.startswith("|") and "UNAVAILABLE" in raw:
            lines.append(" ".join(raw.strip("| ").split()))
        elif raw.startswith("error:"):
            lines.append(raw.strip())
    deduplicated = list(dict.fromkeys(lines))
    if len(deduplicated) > _MAX_LINES:
        deduplicated = [*deduplicated[: _MAX_LINES - 1], "..."]
    return deduplicated


def failed_models(log: str) -> list[str]:
    """Names of the models that Triton says failed to load."""
    found = re.findall(r"failed to load '([^']+)'", log)
    return list(dict.fromkeys(found))


def address_in_use(log: str) -> bool:
    lowered = log.lower()
    return "already in use" in lowered or "address in use" in lowered


def tail(log: str, count: int = 20) -> list[str]:
    return [line for line in log.splitlines() if line.strip()][-count:]
