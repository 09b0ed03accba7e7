#!/usr/bin/env bash
# Build consul-template from its Go module (server-side discovery: it keeps the load balancer's
# nginx upstream in step with Consul). Cached outside the checkout; prints the binary's path.
set -euo pipefail
source "$(dirname "$0")/go-build.sh"

CONSUL_TEMPLATE_VERSION="${CONSUL_TEMPLATE_VERSION:-v0.43.0}"
export VERSION_ARGS=-version
go_build_cached consul-template github.com/hashicorp/consul-template "$CONSUL_TEMPLATE_VERSION" . \
    "consul-template v${CONSUL_TEMPLATE_VERSION#v}"
