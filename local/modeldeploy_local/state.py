"""Detached servers: a small JSON file per server, so ``modeldeploy down`` can stop it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from modeldeploy_local.errors import LocalModeError
from modeldeploy_local.server import remove_shm

STATE_DIR = "run"


@dataclass(frozen=True)
class ServerState:
    name: str
    pid: int
    http: str
    grpc: str
    metrics: str
    repository: str
    log: str
    shm_prefix: str
    started_at: float

    def save(self, workdir: Path) -> Path:
        path = state_path(workdir, self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(partial, path)
        return path


def state_path(workdir: Path, name: str) -> Path:
    return workdir / STATE_DIR / f"{name}.json"


def load_states(workdir: Path) -> list[tuple[Path, ServerState]]:
    folder = workdir / STATE_DIR
    states = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            states.append((path, ServerState(**json.loads(path.read_text()))))
        except (ValueError, TypeError):
            continue  # not ours, or written by another version: ignore
    return states


def is_tritonserver(pid: int) -> bool:
    """True while ``pid`` is alive and still a tritonserver (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rpartition(")")[2].split()[0] == "Z"
    return not zombie and b"tritonserver" in cmdline.split(b"\0", 1)[0]


def stop_pid(pid: int, grace_s: float = 20.0) -> bool:
    """SIGINT and wait, then SIGKILL its process group. False when it was not running."""
    if not is_tritonserver(pid):
        return False
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not is_tritonserver(pid):
            return True
        time.sleep(0.1)
    # Detached servers lead their own session, so the group is theirs alone.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True


def stop_detached(workdir: Path, name: str | None) -> list[str]:
    """Stop the named detached server (or all of them); return the names stopped."""
    states = load_states(workdir)
    if name is not None:
        states = [(p, s) for p, s in states if s.name == name]
        if not states:
            known = ", ".join(s.name for _, s in load_states(workdir)) or "none"
            raise LocalModeError(
                f"no detached server named {name!r} in {workdir} (running: {known})"
            )
    stopped = []
    for path, state in states:
        if stop_pid(state.pid):
            stopped.append(state.name)
        remove_shm(state.shm_prefix)
        path.unlink(missing_ok=True)
    return stopped
