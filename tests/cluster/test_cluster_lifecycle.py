"""Starting and stopping a control plane leaves nothing behind: no process, no
listening port, no temporary folder. Each test starts its own cluster (besides
the session's), so these are the slowest tests here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from hack.cluster import LocalCluster, NodeSpec
from hack.cluster import tools as cluster_tools
from hack.cluster.launcher import (
    STATE_FILE,
    TEMP_PREFIX,
    _pid_alive,
    port_open,
    sweep_stale_workdirs,
)

pytestmark = pytest.mark.slow


def _processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention `text`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(f"{proc.name}: {cmdline}")
    return found


def _temp_clusters() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*")}


def test_stop_leaves_no_processes_ports_or_temp_dirs() -> None:
    before = _temp_clusters()
    cluster = LocalCluster(nodes=NodeSpec(count=1))
    try:
        cluster.start()
        workdir = cluster.dir
        pids = dict(cluster.pids)
        ports = cluster.ports.values()
        assert set(pids) == {
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
            "metrics-server",
        }
        assert workdir.name in _temp_clusters() - before
        assert all(port_open(p) for p in ports), cluster.tail_logs()
        assert cluster.kubectl("get", "--raw=/readyz").stdout == "ok"
    finally:
        cluster.stop()

    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) still exists"
    assert not _processes_mentioning(str(workdir))
    assert [p for p in ports if port_open(p)] == []
    assert not workdir.exists()


def test_stale_work_folders_are_swept() -> None:
    """A run killed outright leaves its temporary folder; the next start removes it."""
    stale = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    (stale / STATE_FILE).write_text(
        json.dumps({"processes": [{"name": "etcd", "pid": 2**22 + 1, "binary": "/x/etcd"}]})
    )
    starting = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))  # no cluster.json yet: young
    try:
        removed = sweep_stale_workdirs()
        assert stale in removed
        assert not stale.exists()
        assert starting.exists()
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(starting, ignore_errors=True)


def test_cli_up_prints_kubeconfig_and_down_cleans_up(tmp_path: Path) -> None:
    workdir = tmp_path / "cluster"
    repo = cluster_tools.REPO
    cli = [sys.executable, "-m", "hack.cluster", "--workdir", str(workdir)]
    up = subprocess.run(
        [*cli, "up", "--nodes", "1", "--no-metrics"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        assert up.returncode == 0, up.stderr
        lines = up.stdout.strip().splitlines()
        assert len(lines) == 1, up.stdout
        assert lines[0] == f"export KUBECONFIG={workdir / 'kubeconfig'}"
        # The processes outlive `up`; kubectl works with that kubeconfig.
        nodes = subprocess.run(
            [str(cluster_tools.path("kubectl")), "get", "nodes", "-o", "name"],
            env={**os.environ, "KUBECONFIG": str(workdir / "kubeconfig")},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert nodes.strip() == "node/kwok-node-0"
        status = subprocess.run([*cli, "status"], cwd=repo, capture_output=True, text=True)
        assert status.returncode == 0, status.stdout
        assert status.stdout.startswith("up:"), status.stdout
        ports = LocalCluster.attach(workdir).ports.values()
    finally:
        down = subprocess.run(
            [*cli, "down"], cwd=repo, capture_output=True, text=True, timeout=120, check=False
        )
    assert down.returncode == 0, down.stderr
    assert not workdir.exists()
    assert not _processes_mentioning(str(workdir))
    assert [p for p in ports if port_open(p)] == []


def test_components_die_with_a_killed_parent(tmp_path: Path) -> None:
    """A test run killed outright (a CI timeout) leaves no control plane running."""
    workdir = tmp_path / "cluster"
    script = (
        "import json, sys, time\n"
        "from pathlib import Path\n"
        "from hack.cluster import LocalCluster, NodeSpec\n"
        "c = LocalCluster(Path(sys.argv[1]), nodes=NodeSpec(count=1), metrics=False).start()\n"
        "print(json.dumps(c.pids), flush=True)\n"
        "time.sleep(300)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(workdir)],
        cwd=cluster_tools.REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line, "the cluster did not start"
        pids: dict[str, int] = json.loads(line)
        assert len(pids) == 5
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()

    def still_alive() -> list[str]:
        return [name for name, pid in pids.items() if _pid_alive(pid)]

    deadline = time.monotonic() + 30
    while still_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not still_alive(), f"still running after their parent was killed: {still_alive()}"
