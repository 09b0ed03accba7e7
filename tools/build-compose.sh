#!/usr/bin/env bash
# Build Docker Compose v2 (what users have: `docker compose`) from its Go module, cached outside
# the checkout, and install it as the docker CLI plugin. Debian only packages docker-compose 1.29;
# the compose files work with both, and dockermode/compose.py prefers v2 when it is there.
set -euo pipefail
source "$(dirname "$0")/go-build.sh"

COMPOSE_VERSION="${COMPOSE_VERSION:-v2.40.3}"
export GO_LDFLAGS="-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION"
bin=$(go_build_cached docker-compose github.com/docker/compose/v2 "$COMPOSE_VERSION" ./cmd \
    "Docker Compose version $COMPOSE_VERSION")

plugins="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins"
mkdir -p "$plugins"
cp "$bin" "$plugins/docker-compose.tmp" && mv "$plugins/docker-compose.tmp" "$plugins/docker-compose"
docker compose version
