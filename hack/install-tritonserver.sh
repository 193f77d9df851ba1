#!/usr/bin/env bash
# Installs the tritonserver that local mode runs, from the nvidia-pytriton wheel,
# into an isolated tools folder outside the clone and outside any venv:
#
#   ${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}/tritonserver-<server version>/
#
# The wheel is installed with --no-deps because it pins numpy<2, which would
# constrain the project's environment; only its native payload is used
# (bin/tritonserver, the Python backend, one backend stub per Python version and
# the bundled shared libraries, found through the binaries' RPATH). The folder is
# never put on sys.path.
#
# The backend stub embeds the Python whose libpython it loads, and imports the
# model's packages from the environment whose bin/ comes first on PATH (its
# interpreter runs isolated, so PYTHONPATH is ignored). It is built against
# numpy<2 (its pybind11 misreads numpy 2 arrays), so it gets a venv of its own,
# python<X.Y>/, with numpy<2 and the ONNX Runtime of the Triton release the
# cluster runs (24.10: 1.19.2), so a model that loads locally loads there too.
#
# Re-running is a no-op once both parts are complete.
# Usage: hack/install-tritonserver.sh [PYTHON]   (PYTHON runs pip; default python3)
set -euo pipefail

PYTRITON_VERSION=0.7.0
# server_version of the tritonserver in that wheel = NGC release 24.10, whose
# image runs ONNX Runtime 1.19.2. Checked against the binary after the install.
TRITON_VERSION=2.51.0
ONNXRUNTIME_VERSION=1.19.2

PY=${1:-${PYTHON:-python3}}
CACHE=${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}
DEST="$CACHE/tritonserver-$TRITON_VERSION"
PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
STUB_ENV="$DEST/python$PYVER"

install_server() {
    mkdir -p "$CACHE"
    # Installed next to the destination and renamed at the end, so an interrupted
    # install never leaves a half-filled folder that looks complete.
    local tmp
    tmp=$(mktemp -d "$CACHE/.tritonserver-$TRITON_VERSION.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT

    echo "installing tritonserver $TRITON_VERSION (nvidia-pytriton==$PYTRITON_VERSION) into $DEST"
    "$PY" -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
        --target "$tmp" "nvidia-pytriton==$PYTRITON_VERSION"

    local server="$tmp/pytriton/tritonserver/bin/tritonserver"
    test -x "$server" || { echo "error: the wheel has no $server" >&2; exit 1; }
    if ldd "$server" | grep -q 'not found'; then
        echo "error: tritonserver misses shared libraries:" >&2
        ldd "$server" | grep 'not found' >&2
        exit 1
    fi
    # The startup banner prints server_version; a missing repository makes it exit at once.
    local banner
    banner=$("$server" --model-repository="$tmp/no-such-repository" 2>&1 || true)
    if ! grep -Eq "server_version +\| $TRITON_VERSION " <<<"$banner"; then
        echo "error: expected tritonserver $TRITON_VERSION; the binary says:" >&2
        grep server_version <<<"$banner" >&2 || tail -5 <<<"$banner" >&2
        exit 1
    fi

    printf 'pytriton=%s\ntritonserver=%s\nngc=24.10\nonnxruntime=%s\n' \
        "$PYTRITON_VERSION" "$TRITON_VERSION" "$ONNXRUNTIME_VERSION" >"$tmp/.installed"
    rm -rf "$DEST"
    mv "$tmp" "$DEST"
    trap - EXIT
    echo "tritonserver $TRITON_VERSION installed: $DEST/pytriton/tritonserver/bin/tritonserver"
}

install_stub_env() {
    local stub="$DEST/pytriton/tritonserver/python_backend_stubs/$PYVER/triton_python_backend_stub"
    test -f "$stub" || { echo "error: the wheel has no backend stub for Python $PYVER" >&2; exit 1; }
    echo "creating the backend stub's Python $PYVER environment in $STUB_ENV"
    # A venv is not relocatable, so it is built in place; the .installed marker,
    # written last, is what says it is complete.
    rm -rf "$STUB_ENV"
    "$PY" -m venv "$STUB_ENV"
    "$STUB_ENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "numpy<2" "onnxruntime==$ONNXRUNTIME_VERSION"
    # The folder of the libpython the stub must load (this venv's base interpreter's,
    # not whatever /usr/lib has), read by modeldeploy_local.tools.
    "$STUB_ENV/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR") or "")' \
        >"$STUB_ENV/libdir"
    local libpython="libpython$PYVER.so.1.0"
    if [[ ! -e "$(cat "$STUB_ENV/libdir")/$libpython" ]] && ! ldconfig -p | grep -q "$libpython"; then
        echo "error: the backend stub links $libpython, which $PY's installation lacks" >&2
        echo "       (use a Python built with --enable-shared, e.g. python3-dev's or pyenv's" >&2
        echo "       with PYTHON_CONFIGURE_OPTS=--enable-shared)" >&2
        rm -rf "$STUB_ENV"
        exit 1
    fi
    touch "$STUB_ENV/.installed"
    echo "backend stub environment ready: $STUB_ENV"
}

if [[ -f "$DEST/.installed" ]]; then
    echo "tritonserver $TRITON_VERSION already installed in $DEST"
else
    install_server
fi
if [[ -f "$STUB_ENV/.installed" ]]; then
    echo "backend stub environment for Python $PYVER already installed in $STUB_ENV"
else
    install_stub_env
fi
