"""A real Kubernetes control plane on 127.0.0.1, from Go-built binaries.

    cluster = LocalCluster().start()      # etcd, apiserver, controller-manager,
    ...                                   # scheduler, kwok (+ fake nodes),
    cluster.stop()                        # metrics-server

Every component is a child process whose output goes to
`<workdir>/logs/<component>.log`; `tail_logs()` gathers their ends for a
failing test. `stop()` terminates them all, checks that their ports are free
again and removes the work folder it created.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml

from . import pki as pki_mod
from . import tools

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the first address of SERVICE_CIDR: kubernetes.default
POD_CIDR = "10.244.0.1/16"  # kwok hands out fake pod IPs from here
CONTEXT = "modeldeploy-local"
STATE_FILE = "cluster.json"
TEMP_PREFIX = "modeldeploy-cluster-"
# kwok stage files (mandatory since kwok v0.8.0), relative to the kwok module's
# kustomize/ folder: nodes become Ready and keep a lease, pods become Ready,
# pods owned by a Job complete, deleted pods go away. The last two files make
# kwok serve emulated CPU/memory usage (from the pod annotations
# kwok.x-k8s.io/usage-cpu and kwok.x-k8s.io/usage-memory) for metrics-server.
KWOK_CONFIGS = (
    "stage/node/fast/node-initialize.yaml",
    "stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "stage/pod/fast/pod-ready.yaml",
    "stage/pod/fast/pod-delete.yaml",
)
# kwok's pod-complete stage (a Job's pods succeed) is added from a copy that
# leaves out the pods labelled with LocalCluster.manual_job_pods.
KWOK_POD_COMPLETE = "stage/pod/fast/pod-complete.yaml"
KWOK_METRICS_CONFIGS = (
    "metrics/resource/metrics-resource.yaml",
    "metrics/usage/usage-from-annotation.yaml",
)


class ClusterError(RuntimeError):
    """The control plane did not come up (the message ends with the logs' tails)."""


@dataclass
class NodeSpec:
    """The fake nodes kwok manages."""

    count: int = 3
    cpu: str = "8"
    memory: str = "32Gi"
    pods: str = "110"
    name_prefix: str = "kwok-node-"


@dataclass
class _Process:
    name: str
    pid: int
    binary: str
    popen: subprocess.Popen[bytes] | None = None


@dataclass
class Ports:
    etcd_client: int = 0
    etcd_peer: int = 0
    apiserver: int = 0
    controller_manager: int = 0
    scheduler: int = 0
    kwok: int = 0
    metrics_server: int = 0

    def allocate(self) -> None:
        """Picks free ports on 127.0.0.1 (holding all sockets so none repeats)."""
        socks = []
        try:
            for name in vars(self):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(("127.0.0.1", 0))
                socks.append(s)
                setattr(self, name, s.getsockname()[1])
        finally:
            for s in socks:
                s.close()

    def values(self) -> list[int]:
        return [p for p in vars(self).values() if p]


def sweep_stale_workdirs() -> list[Path]:
    """Removes the temporary work folders of clusters that died without `stop()`
    (a killed test run: PR_SET_PDEATHSIG ended their processes, not their folder).
    A folder is stale when none of the processes in its cluster.json runs, or,
    without a cluster.json, when it is over an hour old."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            state = json.loads((folder / STATE_FILE).read_text())
            stale = not any(_pid_runs(p["pid"], p["binary"]) for p in state["processes"])
        except (OSError, ValueError, KeyError, TypeError):
            try:
                stale = time.time() - folder.stat().st_mtime > 3600
            except OSError:
                continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the parent dies (PR_SET_PDEATHSIG),
    so that a killed test run does not leave a control plane behind (nobody is
    left to wait for a graceful shutdown, and the data is temporary)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # A zombie (state Z) is dead; only its parent can reap it.
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pid_runs(pid: int, binary: str) -> bool:
    """Whether `pid` is alive and still runs `binary` (guards against reused pids)."""
    if not _pid_alive(pid):
        return False
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return exe.removesuffix(" (deleted)") == binary


@dataclass
class LocalCluster:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok
    (+ metrics-server) on 127.0.0.1, with generated PKI and RBAC on.

    `workdir` holds the PKI, etcd's data, the kubeconfigs and `logs/`. When it
    is None a temporary folder is created; `stop()` removes the folder when
    this object created it (or `remove_workdir` is set), unless `keep_workdir`.
    """

    workdir: Path | None = None
    nodes: NodeSpec = field(default_factory=NodeSpec)
    metrics: bool = True
    build_tools: bool = True
    keep_workdir: bool = False
    remove_workdir: bool = False
    start_timeout: float = 120.0
    # Job pods with these labels are left Running by kwok: a test finishes them
    # as the kubelet would (patching the pod's status, termination message and
    # all). Default: the operator's optimization Jobs. Other Jobs' pods succeed.
    manual_job_pods: dict[str, str] = field(
        default_factory=lambda: {"app.kubernetes.io/managed-by": "modeldeploy"}
    )
    ports: Ports = field(default_factory=Ports)
    processes: list[_Process] = field(default_factory=list)
    started_in: float = 0.0
    _created_workdir: bool = False
    _pki: pki_mod.Pki | None = None

    # -- paths ---------------------------------------------------------------

    @property
    def dir(self) -> Path:
        if self.workdir is None:
            raise ClusterError("the cluster has no work folder yet (call start())")
        return self.workdir

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig (client certificate in system:masters)."""
        return self.dir / "kubeconfig"

    @property
    def logs_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.processes}

    @property
    def pki(self) -> pki_mod.Pki:
        if self._pki is None:
            raise ClusterError("no PKI yet (call start())")
        return self._pki

    def env(self) -> dict[str, str]:
        """os.environ with KUBECONFIG pointing at this cluster."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    # -- lifecycle -----------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, *, detach: bool = False) -> Self:
        """Starts every component and waits until the cluster is usable.

        `detach` starts the processes so that they outlive this Python process
        (the CLI's `up`); `LocalCluster.attach(workdir).stop()` ends them.
        """
        t0 = time.monotonic()
        needed: tuple[str, ...] = ("etcd", "kube-apiserver", "kube-controller-manager")
        needed += ("kube-scheduler", "kubectl", "kwok")
        needed += ("metrics-server",) if self.metrics else ()
        tools.ensure(needed, build=self.build_tools)
        if self.workdir is None:
            sweep_stale_workdirs()
            self.workdir = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
            self._created_workdir = True
        else:
            self.workdir = self.workdir.resolve()
            if not self.workdir.exists():
                self._created_workdir = True
            self.workdir.mkdir(parents=True, exist_ok=True)
            if (self.workdir / STATE_FILE).exists():
                raise ClusterError(
                    f"{self.workdir} already holds a cluster ({STATE_FILE}); stop it first"
                )
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.ports.allocate()
        try:
            self._pki = pki_mod.generate(self.dir / "pki", service_ip=SERVICE_IP)
            self._write_kubeconfigs()
            self._start_etcd(detach)
            self._start_apiserver(detach)
            self._start_controller_manager(detach)
            self._start_scheduler(detach)
            self._start_kwok(detach)
            self._create_nodes()
            if self.metrics:
                self._start_metrics_server(detach)
            self._wait_ready()
        except BaseException as e:
            logs = self.tail_logs()
            self.stop()
            if isinstance(e, ClusterError | TimeoutError):
                raise ClusterError(f"{e}\n\n{logs}") from e
            raise
        self.started_in = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Terminates every component (SIGTERM, then SIGKILL after 10 s), waits
        until their ports are closed and removes the work folder it created."""
        for proc in reversed(self.processes):
            self._terminate(proc)
        self.processes.clear()
        deadline = time.monotonic() + 10
        while any(port_open(p) for p in self.ports.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.workdir is None:
            return
        state = self.workdir / STATE_FILE
        state.unlink(missing_ok=True)
        if (self._created_workdir or self.remove_workdir) and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @classmethod
    def attach(cls, workdir: Path) -> LocalCluster:
        """The cluster whose state `start(detach=True)` wrote into `workdir`."""
        state = json.loads((workdir / STATE_FILE).read_text())
        cluster = cls(workdir=workdir.resolve(), remove_workdir=state["created_workdir"])
        cluster.ports = Ports(**state["ports"])
        cluster.processes = [_Process(**p) for p in state["processes"]]
        return cluster

    def _terminate(self, proc: _Process) -> None:
        if proc.popen is not None:
            if proc.popen.poll() is None:
                proc.popen.terminate()
                try:
                    proc.popen.wait(10)
                except subprocess.TimeoutExpired:
                    proc.popen.kill()
                    proc.popen.wait(10)
            return
        if not _pid_runs(proc.pid, proc.binary):
            return
        os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_runs(proc.pid, proc.binary):
            os.kill(proc.pid, signal.SIGKILL)
            while _pid_alive(proc.pid) and time.monotonic() < deadline + 10:
                time.sleep(0.1)

    def _spawn(self, name: str, binary: str, args: list[str], detach: bool) -> None:
        log = (self.logs_dir / f"{name}.log").open("ab")
        try:
            popen = subprocess.Popen(
                [binary, *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,  # Ctrl-C in a terminal does not reach it
                preexec_fn=None if detach else _die_with_parent,
            )
        finally:
            log.close()
        self.processes.append(_Process(name, popen.pid, binary, popen=None if detach else popen))
        if detach:
            # Nobody waits for it here; its new parent (init) reaps it.
            popen.returncode = 0
        self._save_state()

    def _save_state(self) -> None:
        state = {
            "created_workdir": self._created_workdir or self.remove_workdir,
            "kubeconfig": str(self.kubeconfig),
            "ports": vars(self.ports),
            "processes": [
                {"name": p.name, "pid": p.pid, "binary": p.binary} for p in self.processes
            ],
        }
        (self.dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    def _check_alive(self) -> None:
        for proc in self.processes:
            if not _pid_alive(proc.pid):
                raise ClusterError(f"{proc.name} exited (see {self.logs_dir / proc.name}.log)")

    def _wait(self, what: str, check: Callable[[], bool], timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.start_timeout)
        last: Exception | None = None
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                if check():
                    return
            except (OSError, urllib.error.URLError, ValueError, KeyError) as e:
                last = e
            time.sleep(0.2)
        raise ClusterError(
            f"timed out waiting for {what}" + (f" (last error: {last})" if last else "")
        )

    # -- the API, without a client library -----------------------------------

    def _ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki.ca.cert))
        ctx.load_cert_chain(str(self.pki.admin.cert), str(self.pki.admin.key))
        return ctx

    def api(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float = 10
    ) -> tuple[int, dict[str, Any]]:
        """One request to the API server as the admin; returns (status, decoded JSON)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self._ssl(), timeout=timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            decoded = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            decoded = {"raw": raw.decode(errors="replace")}
        return status, decoded if isinstance(decoded, dict) else {"items": decoded}

    def _create(self, path: str, body: dict[str, Any]) -> None:
        status, out = self.api("POST", path, body)
        if status not in (200, 201, 409):
            raise ClusterError(f"POST {path} failed ({status}): {out.get('message', out)}")

    # -- components ----------------------------------------------------------

    def _kubeconfig(self, path: Path, user: str, cert: pki_mod.CertPair) -> None:
        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT,
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": b64(self.pki.ca.cert),
                    },
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(cert.cert),
                        "client-key-data": b64(cert.key),
                    },
                }
            ],
            "contexts": [
                {
                    "name": CONTEXT,
                    "context": {"cluster": CONTEXT, "user": user, "namespace": "default"},
                }
            ],
            "current-context": CONTEXT,
        }
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        path.chmod(0o600)

    def _write_kubeconfigs(self) -> None:
        self._kubeconfig(self.kubeconfig, "admin", self.pki.admin)
        kc = self.dir / "kubeconfigs"
        kc.mkdir(exist_ok=True)
        self._kubeconfig(
            kc / "kube-controller-manager.kubeconfig",
            "system:kube-controller-manager",
            self.pki.controller_manager,
        )
        self._kubeconfig(
            kc / "kube-scheduler.kubeconfig", "system:kube-scheduler", self.pki.scheduler
        )

    def _start_etcd(self, detach: bool) -> None:
        p = self.ports
        client = f"http://127.0.0.1:{p.etcd_client}"
        peer = f"http://127.0.0.1:{p.etcd_peer}"
        self._spawn(
            "etcd",
            str(tools.path("etcd")),
            [
                "--name=modeldeploy",
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=modeldeploy={peer}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            detach,
        )

        def healthy() -> bool:
            with urllib.request.urlopen(f"{client}/health", timeout=2) as r:
                return bool(json.loads(r.read()).get("health") == "true")

        self._wait("etcd /health", healthy)

    def _start_apiserver(self, detach: bool) -> None:
        k = self.pki
        self._spawn(
            "kube-apiserver",
            str(tools.path("kube-apiserver")),
            [
                f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports.apiserver}",
                "--advertise-address=127.0.0.1",
                # The default reconciler refuses a loopback advertise address.
                "--endpoint-reconciler-type=none",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",  # PodSecurity admission decides per namespace
                f"--cert-dir={self.dir / 'pki'}",
                f"--tls-cert-file={k.apiserver.cert}",
                f"--tls-private-key-file={k.apiserver.key}",
                f"--client-ca-file={k.ca.cert}",
                f"--service-account-key-file={k.sa_pub}",
                f"--service-account-signing-key-file={k.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                # API aggregation (metrics-server behind metrics.k8s.io).
                f"--requestheader-client-ca-file={k.front_proxy_ca.cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-username-headers=X-Remote-User",
                f"--proxy-client-cert-file={k.front_proxy_client.cert}",
                f"--proxy-client-key-file={k.front_proxy_client.key}",
                "--profiling=false",
                "--event-ttl=1h",
            ],
            detach,
        )

        def ready() -> bool:
            status, _ = self.api("GET", "/readyz", timeout=3)
            return status == 200

        self._wait("kube-apiserver /readyz", ready)

    def _start_controller_manager(self, detach: bool) -> None:
        k = self.pki
        kubeconfig = self.dir / "kubeconfigs" / "kube-controller-manager.kubeconfig"
        self._spawn(
            "kube-controller-manager",
            str(tools.path("kube-controller-manager")),
            [
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports.controller_manager}",
                f"--tls-cert-file={k.controller_manager.cert}",
                f"--tls-private-key-file={k.controller_manager.key}",
                f"--client-ca-file={k.ca.cert}",
                f"--requestheader-client-ca-file={k.front_proxy_ca.cert}",
                f"--service-account-private-key-file={k.sa_key}",
                f"--root-ca-file={k.ca.cert}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--cluster-signing-cert-file={k.ca.cert}",
                f"--cluster-signing-key-file={k.ca.key}",
                # Fast enough for tests: the HPA controller acts every 5 s and
                # counts a new pod's CPU after 10 s, not 5 min.
                "--horizontal-pod-autoscaler-sync-period=5s",
                "--horizontal-pod-autoscaler-cpu-initialization-period=10s",
                "--horizontal-pod-autoscaler-initial-readiness-delay=5s",
                "--horizontal-pod-autoscaler-downscale-stabilization=30s",
                "--profiling=false",
            ],
            detach,
        )

    def _start_scheduler(self, detach: bool) -> None:
        k = self.pki
        kubeconfig = self.dir / "kubeconfigs" / "kube-scheduler.kubeconfig"
        self._spawn(
            "kube-scheduler",
            str(tools.path("kube-scheduler")),
            [
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports.scheduler}",
                f"--tls-cert-file={k.scheduler.cert}",
                f"--tls-private-key-file={k.scheduler.key}",
                f"--client-ca-file={k.ca.cert}",
                "--profiling=false",
            ],
            detach,
        )

    def _start_kwok(self, detach: bool) -> None:
        kustomize = tools.kwok_kustomize_dir()
        configs = [kustomize / c for c in KWOK_CONFIGS]
        configs.append(self._pod_complete_stage(kustomize / KWOK_POD_COMPLETE))
        if self.metrics:
            configs += [kustomize / c for c in KWOK_METRICS_CONFIGS]
        self._spawn(
            "kwok",
            str(tools.path("kwok")),
            [
                f"--kubeconfig={self.kubeconfig}",
                *[f"--config={c}" for c in configs],
                "--manage-all-nodes=true",
                "--node-ip=127.0.0.1",
                f"--node-port={self.ports.kwok}",
                f"--server-address=127.0.0.1:{self.ports.kwok}",
                f"--tls-cert-file={self.pki.kwok.cert}",
                f"--tls-private-key-file={self.pki.kwok.key}",
                f"--cidr={POD_CIDR}",
                "--node-lease-duration-seconds=40",
            ],
            detach,
        )

    def _pod_complete_stage(self, stock: Path) -> Path:
        """kwok's pod-complete stage, minus the pods matching `manual_job_pods`."""
        stage = yaml.safe_load(stock.read_text())
        expressions = stage["spec"]["selector"]["matchExpressions"]
        for key, value in self.manual_job_pods.items():
            expressions.append(
                {"key": f'.metadata.labels["{key}"]', "operator": "NotIn", "values": [value]}
            )
        out = self.dir / "kwok" / "pod-complete.yaml"
        out.parent.mkdir(exist_ok=True)
        out.write_text(yaml.safe_dump(stage, sort_keys=False))
        return out

    def _create_nodes(self) -> None:
        n = self.nodes
        resources = {"cpu": n.cpu, "memory": n.memory, "pods": n.pods}
        for i in range(n.count):
            name = f"{n.name_prefix}{i}"
            node = {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "type": "kwok",
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "node-role.kubernetes.io/agent": "",
                    },
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                        # metrics-server scrapes kwok's emulated kubelet here.
                        "metrics.k8s.io/resource-metrics-path": (
                            f"/metrics/nodes/{name}/metrics/resource"
                        ),
                    },
                },
                "status": {
                    "capacity": resources,
                    "allocatable": resources,
                    "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux"},
                },
            }
            self._create("/api/v1/nodes", node)

    def _start_metrics_server(self, detach: bool) -> None:
        k = self.pki
        port = self.ports.metrics_server
        self._spawn(
            "metrics-server",
            str(tools.path("metrics-server")),
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={k.metrics_server.cert}",
                f"--tls-private-key-file={k.metrics_server.key}",
                # The "kubelets" are kwok's server at the nodes' InternalIP and
                # status port, with the path from the nodes' annotation.
                "--kubelet-preferred-address-types=InternalIP",
                "--kubelet-use-node-status-port",
                f"--kubelet-certificate-authority={k.ca.cert}",
                "--metric-resolution=10s",
                "--kubelet-request-timeout=5s",
                "--profiling=false",
            ],
            detach,
        )
        # The aggregator proxies metrics.k8s.io to this service; an
        # ExternalName service needs neither kube-proxy nor a pod network.
        self._create(
            "/api/v1/namespaces/kube-system/services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "metrics-server", "namespace": "kube-system"},
                "spec": {"type": "ExternalName", "externalName": "127.0.0.1"},
            },
        )
        self._create(
            "/apis/apiregistration.k8s.io/v1/apiservices",
            {
                "apiVersion": "apiregistration.k8s.io/v1",
                "kind": "APIService",
                "metadata": {"name": "v1beta1.metrics.k8s.io"},
                "spec": {
                    "group": "metrics.k8s.io",
                    "version": "v1beta1",
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                    "service": {"namespace": "kube-system", "name": "metrics-server", "port": port},
                    "caBundle": base64.b64encode(k.ca.cert.read_bytes()).decode(),
                },
            },
        )

    def _wait_ready(self) -> None:
        def service_account() -> bool:
            status, _ = self.api("GET", "/api/v1/namespaces/default/serviceaccounts/default")
            return status == 200

        def nodes_ready() -> bool:
            _, out = self.api("GET", "/api/v1/nodes")
            ready = [n for n in out.get("items", []) if _condition(n, "Ready") == "True"]
            return len(ready) >= self.nodes.count

        self._wait("the default service account", service_account)
        self._wait(f"{self.nodes.count} Ready nodes", nodes_ready)
        for name, port in (
            ("kube-controller-manager", self.ports.controller_manager),
            ("kube-scheduler", self.ports.scheduler),
        ):
            self._wait(f"{name} /healthz", _https_ok(port, "/healthz"))
        if self.metrics:

            def metrics_available() -> bool:
                _, out = self.api(
                    "GET", "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io"
                )
                return _condition(out, "Available") == "True"

            self._wait("the metrics.k8s.io APIService to be Available", metrics_available)

    # -- helpers for tests and people ----------------------------------------

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Runs the built kubectl against this cluster."""
        result = subprocess.run(
            [str(tools.path("kubectl")), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, result.args, result.stdout, result.stderr
            )
        return result

    def tail_logs(self, lines: int = 40) -> str:
        """The last `lines` lines of every component's log, one block each."""
        if self.workdir is None or not self.logs_dir.is_dir():
            return "(no logs)"
        blocks = []
        for log in sorted(self.logs_dir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            blocks.append(f"==> {log} <==\n" + "\n".join(tail))
        return "\n\n".join(blocks)


def _condition(obj: dict[str, Any], kind: str) -> str | None:
    for c in obj.get("status", {}).get("conditions", []) or []:
        if c.get("type") == kind:
            return str(c.get("status"))
    return None


def _https_ok(port: int, path: str) -> Callable[[], bool]:
    def check() -> bool:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(f"https://127.0.0.1:{port}{path}", context=ctx, timeout=2) as r:
            return bool(r.status == 200)

    return check


@contextlib.contextmanager
def local_cluster(**kwargs: Any) -> Iterator[LocalCluster]:
    """`with local_cluster() as c:` starts a cluster and always stops it."""
    cluster = LocalCluster(**kwargs)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
