#!/usr/bin/env bash
# Build the consul binary from its Go module: no Debian/PyPI package ships it and release
# downloads are unreachable here. Cached outside the checkout; a second run takes a second.
# Prints the binary's path. The version matches the hashicorp/consul image tag in
# service-discovery/docker-compose.yml (a test checks that).
set -euo pipefail
source "$(dirname "$0")/go-build.sh"

CONSUL_VERSION="${CONSUL_VERSION:-1.22.7}"
# The tag's go.mod names api v1.33.7, older than the api code in its own tree (the build fails
# on ACLToken.Name); v1.34.5 is the first released api module that the tag's code compiles with.
CONSUL_API_VERSION="${CONSUL_API_VERSION:-v1.34.5}"

use_released_sibling_modules() {
    # go.mod replaces its sibling modules with ./api, ./sdk, ...: folders a module zip never has.
    for sub in api envoyextensions proto-public sdk troubleshoot; do
        go mod edit -dropreplace="github.com/hashicorp/consul/$sub"
    done
    GOFLAGS=-mod=mod go get "github.com/hashicorp/consul/api@$CONSUL_API_VERSION"
}

go_build_cached consul github.com/hashicorp/consul "v$CONSUL_VERSION" . "Consul v$CONSUL_VERSION" \
    use_released_sibling_modules
