#!/usr/bin/env bash
# Builds the binaries of the test control plane from their Go modules into a
# cache folder outside the repository, keyed by version:
#
#   ${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}/bin/<name>-<version>
#
# Only what is missing is built. Each component is one small Go module under
# hack/tools/<component>/ (go.mod + go.sum, `tool` directives), so that one
# component's dependencies never raise another's.
#
# Usage: hack/build-tools.sh [component ...]   (default: all)
#        components: kubernetes etcd kwok helm metrics-server
#        hack/build-tools.sh --print-bin-dir    prints the bin folder and exits
set -euo pipefail

# The installed Go (1.26) builds everything; never fetch another toolchain.
export GOTOOLCHAIN=local
export CGO_ENABLED=0
# go.mod/go.sum are committed and complete: a build never rewrites them.
export GOFLAGS="-mod=readonly -buildvcs=false"

here="$(cd "$(dirname "$0")" && pwd)"
tools="$here/tools"
cache="${MODELDEPLOY_CACHE:-$HOME/.cache/modeldeploy}"
bin="$cache/bin"
share="$cache/share"

if [ "${1:-}" = "--print-bin-dir" ]; then echo "$bin"; exit 0; fi

all=(kubernetes etcd kwok helm metrics-server)
components=("$@")
[ ${#components[@]} -gt 0 ] || components=("${all[@]}")

command -v go >/dev/null || { echo "build-tools: go is not installed (Go >= 1.26 is needed)" >&2; exit 1; }
mkdir -p "$bin" "$share"

# One build at a time on this machine (make tools and a test fixture may race).
exec 9>"$cache/.build.lock"
if ! flock -n 9; then
  echo "build-tools: another build holds $cache/.build.lock, waiting for it"
  flock 9
fi

# The tags kubernetes' own hack/lib/golang.sh uses for release builds, for every
# component: the same tags and the same dependency versions (see
# hack/tools/align-deps.sh) let the Go build cache compile a shared package once.
BUILD_TAGS="selinux,notest,grpcnotrace"

log() { printf 'build-tools: %s\n' "$*"; }

# version <dir> <module>: the version of <module> that <dir>/go.mod selects.
version() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

# module_time <module>@<version>: the release's time from the proxy's .info
# file, used as the build date (so that rebuilds are reproducible).
module_time() {
  local info
  info="$(cd / && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Info": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$info" ] && sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p' "$info"
}

# build <dir> <ldflags> <out-name>=<package> ...: builds into a temp folder,
# then moves each binary to $bin/<out-name>-<version> atomically.
build() {
  local dir="$1" ver="$2" ldflags="$3"; shift 3
  local missing=() spec name pkg
  for spec in "$@"; do
    name="${spec%%=*}"
    if [ -x "$bin/$name-$ver" ]; then
      log "$name $ver: cached at $bin/$name-$ver"
    else
      missing+=("$spec")
    fi
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  local tmp; tmp="$(mktemp -d "$cache/.build.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  for spec in "${missing[@]}"; do
    name="${spec%%=*}"; pkg="${spec#*=}"
    local start=$SECONDS
    log "$name $ver: go build $pkg (in hack/tools/$(basename "$dir"))"
    (cd "$dir" && go build -trimpath -tags "$BUILD_TAGS" -ldflags "-s -w $ldflags" -o "$tmp/$name" "$pkg")
    mv -f "$tmp/$name" "$bin/$name-$ver"
    log "$name $ver: built in $((SECONDS - start))s -> $bin/$name-$ver"
  done
}

build_kubernetes() {
  local dir="$tools/kubernetes" ver
  ver="$(version "$dir" k8s.io/kubernetes)"
  local minor="${ver#v1.}"; minor="${minor%%.*}"
  local date; date="$(module_time "k8s.io/kubernetes@$ver")"
  local ld="" p kv
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    # The module proxy does not tell the commit: leave gitCommit empty rather
    # than the source's "$Format:%H$" placeholder.
    for kv in "gitVersion=$ver" "gitMajor=1" "gitMinor=$minor" "gitCommit=" "gitTreeState=clean" "buildDate=$date"; do
      ld+=" -X '$p.$kv'"
    done
  done
  build "$dir" "$ver" "$ld" \
    kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
    kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
    kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
    kubectl=k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  local dir="$tools/etcd" ver
  ver="$(version "$dir" go.etcd.io/etcd/server/v3)"
  build "$dir" "$ver" "" etcd=go.etcd.io/etcd/server/v3
}

build_kwok() {
  local dir="$tools/kwok" ver
  ver="$(version "$dir" sigs.k8s.io/kwok)"
  build "$dir" "$ver" "-X 'sigs.k8s.io/kwok/pkg/consts.Version=${ver#v}'" kwok=sigs.k8s.io/kwok/cmd/kwok
  # The stage files (mandatory since kwok v0.8.0) and the metrics-usage
  # manifests ship in the module's kustomize/ folder; keep a copy beside the
  # binary so that the launcher does not depend on the Go module cache.
  local dest="$share/kwok-$ver/kustomize"
  if [ ! -d "$dest" ]; then
    local src
    src="$(cd "$dir" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize"
    log "kwok $ver: copying $src -> $dest"
    mkdir -p "$share/kwok-$ver"
    rm -rf "$dest.tmp"
    cp -r "$src" "$dest.tmp"
    chmod -R u+w "$dest.tmp"
    mv "$dest.tmp" "$dest"
  fi
  log "kwok $ver: stage files in $dest/stage"
}

build_helm() {
  local dir="$tools/helm" ver
  ver="$(version "$dir" helm.sh/helm/v3)"
  build "$dir" "$ver" "-X 'helm.sh/helm/v3/internal/version.version=$ver' -X 'helm.sh/helm/v3/internal/version.gitTreeState=clean'" \
    helm=helm.sh/helm/v3/cmd/helm
}

build_metrics_server() {
  local dir="$tools/metrics-server" ver
  ver="$(version "$dir" sigs.k8s.io/metrics-server)"
  local ld="" p
  # metrics-server's own Makefile sets k8s.io/client-go/pkg/version.
  for p in k8s.io/client-go/pkg/version; do
    ld+=" -X '$p.gitVersion=$ver'"
  done
  build "$dir" "$ver" "$ld" metrics-server=sigs.k8s.io/metrics-server/cmd/metrics-server
}

total=$SECONDS
for c in "${components[@]}"; do
  case "$c" in
    kubernetes) build_kubernetes ;;
    etcd) build_etcd ;;
    kwok) build_kwok ;;
    helm) build_helm ;;
    metrics-server) build_metrics_server ;;
    *) echo "build-tools: unknown component '$c' (known: ${all[*]})" >&2; exit 2 ;;
  esac
done
log "done in $((SECONDS - total))s; binaries in $bin"
