#!/usr/bin/env bash
# Builds the kstatus helper from sigs.k8s.io/cli-utils into a cache outside the repo, keyed by
# version and by the source's hash. Prints the binary's path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
CLI_UTILS_VERSION="${CLI_UTILS_VERSION:-0.37.2}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/connect-sso-operator/kstatus-$CLI_UTILS_VERSION"
src_hash="$(sha256sum "$here/main.go" | cut -c1-12)"
bin="$cache/kstatus-$src_hash"
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { echo "kstatus: go is required" >&2; exit 1; }
mkdir -p "$cache/build" && cd "$cache/build"
cp "$here/main.go" .
[ -f go.mod ] || go mod init local/kstatus >/dev/null 2>&1
go get "sigs.k8s.io/cli-utils@v$CLI_UTILS_VERSION" >&2
go mod tidy >&2
CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" .
mv "$bin.tmp" "$bin"
echo "$bin"
