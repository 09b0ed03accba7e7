#!/usr/bin/env bash
# Build nats-server (the broker, with JetStream) from its Go module: Debian's is 2.9.10, and
# release downloads are unreachable here. Cached outside the checkout; prints the binary's path.
# The version matches the nats image tag in both compose files (a test checks that).
set -euo pipefail
source "$(dirname "$0")/go-build.sh"

NATS_SERVER_VERSION="${NATS_SERVER_VERSION:-2.15.2}"
go_build_cached nats-server github.com/nats-io/nats-server/v2 "v$NATS_SERVER_VERSION" . \
    "nats-server: v$NATS_SERVER_VERSION"
