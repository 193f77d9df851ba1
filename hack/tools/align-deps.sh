#!/usr/bin/env bash
# Raises the dependencies that a component shares with hack/tools/kubernetes to
# the versions Kubernetes uses (never lowers one), so that the Go build cache
# compiles each shared package once: on a cold machine kwok and metrics-server
# then reuse most of what the Kubernetes build compiled.
#
# Usage: hack/tools/align-deps.sh <component> ...   (e.g. kwok metrics-server)
set -euo pipefail
export GOTOOLCHAIN=local GOFLAGS=-mod=mod
here="$(cd "$(dirname "$0")" && pwd)"

# built_modules: "<module> <version>" of every module that provides a package
# compiled into the component's tools (test-only and pruned modules are left out).
built_modules() {
  GOFLAGS=-mod=readonly go list -deps -tags selinux,notest,grpcnotrace \
    -f '{{with .Module}}{{.Path}} {{.Version}}{{end}}' tool | sort -u
}

declare -A kube
while read -r mod ver; do
  [ -n "$ver" ] && kube["$mod"]="$ver"
done < <(cd "$here/kubernetes" && built_modules)

for comp in "$@"; do
  cd "$here/$comp"
  raise=()
  while read -r mod ver; do
    k="${kube[$mod]:-}"
    [ -n "$k" ] && [ -n "$ver" ] && [ "$k" != "$ver" ] || continue
    # Only raise: the higher of the two by semver (sort -V orders v0.36.1 < v0.36.3).
    if [ "$(printf '%s\n%s\n' "$ver" "$k" | sort -V | tail -n1)" = "$k" ]; then
      raise+=("$mod@$k")
    fi
  done < <(built_modules)
  echo ">> $comp: raising ${#raise[@]} modules to Kubernetes' versions: ${raise[*]}"
  [ ${#raise[@]} -eq 0 ] || go get "${raise[@]}"
  go mod tidy
done
