#!/usr/bin/env bash
# Build the consul binary from its Go module: no Debian/PyPI package ships it and release
# downloads are unreachable here. The result is cached outside the checkout, so a second run
# takes seconds. Prints the binary's path on stdout.
#
# The version must match the hashicorp/consul image tag in service-discovery/docker-compose.yml
# (a test checks that).
set -euo pipefail

CONSUL_VERSION="${CONSUL_VERSION:-1.22.7}"
# The tag's go.mod names api v1.33.7, older than the api code in its own tree (the build fails
# on ACLToken.Name); v1.34.5 is the first released api module that the tag's code compiles with.
CONSUL_API_VERSION="${CONSUL_API_VERSION:-v1.34.5}"
CACHE_DIR="${CONSUL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/microservices-demo/consul-$CONSUL_VERSION}"
BIN="$CACHE_DIR/consul"

if [ -x "$BIN" ] && "$BIN" version 2>/dev/null | grep -q "^Consul v$CONSUL_VERSION\$"; then
    echo "$BIN"
    exit 0
fi

command -v go >/dev/null || { echo "build-consul: Go is required (https://go.dev/dl/ or apt install golang)" >&2; exit 1; }
echo "build-consul: building consul v$CONSUL_VERSION from its Go module (several minutes, once)" >&2

module_dir=$(go mod download -json "github.com/hashicorp/consul@v$CONSUL_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')

work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$module_dir" "$work/src"
chmod -R u+w "$work/src"
cd "$work/src"
# The tag's go.mod replaces its sibling modules (api, sdk, ...) with ./api etc., folders that a
# module zip never contains. Dropping the replaces builds against the versions go.mod requires.
for sub in api envoyextensions proto-public sdk troubleshoot; do
    go mod edit -dropreplace="github.com/hashicorp/consul/$sub"
done
GOFLAGS=-mod=mod go get "github.com/hashicorp/consul/api@$CONSUL_API_VERSION"
mkdir -p "$CACHE_DIR"
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" -o "$BIN.tmp" .
mv "$BIN.tmp" "$BIN"
"$BIN" version >&2
echo "$BIN"
