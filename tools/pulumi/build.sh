#!/usr/bin/env bash
# Builds the Pulumi CLI and winfleet's Python language host into BIN_DIR (default .winfleet/bin),
# at the versions go.mod/go.sum pin, unless a `pulumi` at or above PULUMI_MIN_VERSION is on PATH
# (then BIN_DIR/pulumi links to it). Only the Go module proxy is used; nothing downloads at run time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${BIN_DIR:-$root/.winfleet/bin}
min=${PULUMI_MIN_VERSION:?PULUMI_MIN_VERSION (from the Makefile)}
mkdir -p "$bin"

version_ge() {  # version_ge A B: A >= B (semver, no pre-releases)
    [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$2" ]
}

ambient=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vx "$bin" | paste -sd:) command -v pulumi || true)
if [ -n "$ambient" ]; then
    have=$("$ambient" version 2>/dev/null | sed 's/^v//')
    if [ -n "$have" ] && version_ge "$have" "$min"; then
        ln -sfn "$ambient" "$bin/pulumi"
        echo "pulumi $have on PATH ($ambient) is at or above $min: using it"
        exit 0
    fi
    echo "pulumi ${have:-?} on PATH is older than $min: building the pinned one"
fi

command -v go >/dev/null || { echo "error: Go is needed to build the Pulumi CLI (or put pulumi >= $min on PATH)" >&2; exit 1; }
cd "$here"
export CGO_ENABLED=0 GOFLAGS=-mod=readonly
version=$(go list -m -f '{{.Version}}' github.com/pulumi/pulumi/pkg/v3)
ldflags="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version"
start=$(date +%s)
# Built beside, then moved in place: a running test or `make up` never finds the CLI missing.
go build -trimpath -ldflags "$ldflags" -o "$bin/.pulumi.new" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
go build -trimpath -ldflags "$ldflags" -o "$bin/.pulumi-language-python.new" ./langhost
mv -f "$bin/.pulumi.new" "$bin/pulumi"     # (also replaces a link to an ambient CLI of an earlier run)
mv -f "$bin/.pulumi-language-python.new" "$bin/pulumi-language-python"
sdk=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$bin/pulumi-language-python-exec"
install -m 0755 "$here/pulumi-resource-pulumi-python" "$bin/pulumi-resource-pulumi-python"
echo "built pulumi $version + winfleet's pulumi-language-python into $bin in $(( $(date +%s) - start ))s"
