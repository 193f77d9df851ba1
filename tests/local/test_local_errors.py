"""Each failure a user can meet says what happened and what to do, without a traceback."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from modeldeploy_local import runner
from modeldeploy_local.errors import ModelLoadError, PortInUseError, TritonNotInstalledError
from modeldeploy_local.ports import Ports, free_ports
from modeldeploy_local.tools import TritonInstall, find_tritonserver
from modeldeploy_local.triton_log import relevant_lines

from tests.local.models import cli_env, write_onnx_repository


def test_missing_binary_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(TritonNotInstalledError) as caught:
        find_tritonserver(home=tmp_path / "nowhere")
    message = str(caught.value)
    assert "tritonserver 2.51.0 is not installed" in message
    assert "make triton" in message
    assert "hack/install-tritonserver.sh" in message


def test_missing_stub_environment_says_how_to_install(
    triton_install: TritonInstall, tmp_path: Path
) -> None:
    # A copy of the install without the stub's venv: the binary alone cannot serve.
    home = tmp_path / "home"
    home.mkdir()
    (home / "pytriton").symlink_to(triton_install.home / "pytriton")
    with pytest.raises(TritonNotInstalledError, match=r"stub's Python .* is missing.*make triton"):
        find_tritonserver(home=home)


def test_port_taken_is_named_before_starting(triton_install: TritonInstall, tmp_path: Path) -> None:
    repository = write_onnx_repository(tmp_path / "onnx", names=("linear",))
    ports = free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports.grpc))
        squatter.listen()
        options = runner.RunOptions(workdir=tmp_path / "work", ports=ports, once=True)
        with pytest.raises(PortInUseError) as caught:
            runner.start("taken", repository, options)
    message = str(caught.value)
    assert f"port {ports.grpc} (gRPC) on 127.0.0.1 is already in use" in message
    assert "--grpc-port" in message
    assert "--free-ports" in message


@pytest.mark.slow
def test_model_that_fails_to_load_shows_tritons_reason(
    triton_install: TritonInstall, tmp_path: Path
) -> None:
    repository = write_onnx_repository(tmp_path / "onnx", names=("linear",))
    (repository / "linear" / "1" / "model.onnx").write_bytes(b"this is not an ONNX file")
    options = runner.RunOptions(workdir=tmp_path / "work", once=True)
    with pytest.raises(ModelLoadError) as caught:
        runner.start("broken", repository, options)
    message = str(caught.value)
    assert "model linear failed to load" in message
    # ONNX Runtime's own words, from inside the Python backend, via Triton's log.
    assert "INVALID_PROTOBUF" in message or "Protobuf parsing failed" in message
    assert "tritonserver.log" in message
    assert "CudaDriverHelper" not in message  # CPU-only noise is filtered out


def test_relevant_lines_unfold_tracebacks() -> None:
    log = "\n".join(
        [
            'E1128 20:16:20.043788 9435 server.cc:241] "CudaDriverHelper has not been initialized"',
            'I1128 20:16:20.1 9435 model_lifecycle.cc:472] "loading: m:1"',
            "E1128 20:16:20.043788 9435 model_lifecycle.cc:642] \"failed to load 'm' version 1: "
            'Internal: ValueError: boom\\n\\nAt:\\n  /r/m/1/model.py(20): <module>\\n"',
            "| m     | 1       | UNAVAILABLE: Internal: ValueError: boom |",
            "error: creating server: Internal - failed to load all models",
        ]
    )
    assert relevant_lines(log) == [
        "failed to load 'm' version 1: Internal: ValueError: boom",
        "At:",
        "  /r/m/1/model.py(20): <module>",
        "m | 1 | UNAVAILABLE: Internal: ValueError: boom",
        "error: creating server: Internal - failed to load all models",
    ]


def _modeldeploy(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "modeldeploy_local", *args]
    return subprocess.run(
        command, cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_cli_serve_once_then_detach_and_down(triton_install: TritonInstall, tmp_path: Path) -> None:
    write_onnx_repository(tmp_path / "repo")
    done = _modeldeploy("serve", "repo", "--once", "--free-ports", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "inference check" in done.stdout
    assert "grpc" in done.stdout

    done = _modeldeploy("serve", "repo", "--detach", "--free-ports", "--name", "bg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "modeldeploy down bg" in done.stdout
    state = tmp_path / ".modeldeploy" / "run" / "bg.json"
    assert state.is_file()
    import json

    pid = json.loads(state.read_text())["pid"]
    assert Path(f"/proc/{pid}").exists()

    done = _modeldeploy("down", "bg", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "stopped: bg" in done.stdout
    assert not state.exists()
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.mark.slow
def test_cli_errors_are_one_message(triton_install: TritonInstall, tmp_path: Path) -> None:
    repository = write_onnx_repository(tmp_path / "repo", names=("linear",))
    (repository / "linear" / "1" / "model.onnx").write_bytes(b"garbage")
    done = _modeldeploy("serve", "repo", "--once", "--free-ports", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("error: tritonserver exited with code 1: model linear failed")
    assert "Traceback" not in done.stderr

    done = _modeldeploy("down", "nothing", cwd=tmp_path)
    assert done.returncode == 1
    assert "no detached server named 'nothing'" in done.stderr


def test_cli_port_taken(tmp_path: Path, triton_install: TritonInstall) -> None:
    write_onnx_repository(tmp_path / "repo", names=("linear",))
    ports: Ports = free_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports.http))
        squatter.listen()
        done = _modeldeploy(
            "serve",
            "repo",
            "--once",
            f"--http-port={ports.http}",
            f"--grpc-port={ports.grpc}",
            f"--metrics-port={ports.metrics}",
            cwd=tmp_path,
        )
    assert done.returncode == 1
    assert f"error: port {ports.http} (HTTP) on 127.0.0.1 is already in use" in done.stderr
    assert "Traceback" not in done.stderr


def _servers_under(folder: Path) -> list[int]:
    """Live tritonserver processes serving a repository below ``folder``."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and _alive(int(proc.name)):
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "tritonserver" in cmdline and str(folder) in cmdline:
                pids.append(int(proc.name))
    return pids


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_foreground_server_stops_cleanly_on_ctrl_c_and_sigterm(
    triton_install: TritonInstall, tmp_path: Path, signum: int
) -> None:
    write_onnx_repository(tmp_path / "repo", names=("linear",))
    command = [sys.executable, "-u", "-m", "modeldeploy_local", "serve", "repo", "--free-ports"]
    with subprocess.Popen(
        command, cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, text=True
    ) as cli:
        try:
            assert cli.stdout is not None
            for line in cli.stdout:
                if "press Ctrl-C" in line:
                    break
            assert _servers_under(tmp_path), "tritonserver should be running"
            cli.send_signal(signum)
            assert cli.wait(timeout=60) == 0
        finally:
            cli.kill()
    assert _servers_under(tmp_path) == []
    assert not list(Path("/dev/shm").glob(f"modeldeploy{cli.pid}_*"))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigkill", "sigint-closed-stdout"])
def test_no_orphaned_tritonserver(triton_install: TritonInstall, tmp_path: Path, how: str) -> None:
    """Killed outright, or stopped while its output pipe is gone: Triton goes away too."""
    write_onnx_repository(tmp_path / "repo", names=("linear",))
    command = [sys.executable, "-u", "-m", "modeldeploy_local", "serve", "repo", "--free-ports"]
    with subprocess.Popen(
        command, cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, text=True
    ) as cli:
        try:
            assert cli.stdout is not None
            for line in cli.stdout:
                if "press Ctrl-C" in line:
                    break
            assert _servers_under(tmp_path), "tritonserver should be running"
            if how == "sigkill":
                cli.kill()
            else:
                cli.stdout.close()  # the next print raises BrokenPipeError
                cli.send_signal(signal.SIGINT)
            cli.wait(timeout=60)
        finally:
            cli.kill()
    for _ in range(300):  # Triton drains on the SIGTERM its parent's death sends
        if not _servers_under(tmp_path):
            break
        time.sleep(0.1)
    assert _servers_under(tmp_path) == []
