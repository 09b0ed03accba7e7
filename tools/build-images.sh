#!/usr/bin/env bash
# Build local stand-ins for the official base images the compose files name (no container
# registry is reachable here), each tagged by a hash of its inputs, so a rebuild happens only when
# those change. Prints the variables to point the compose files at them:
#     PYTHON_IMAGE=...  NGINX_IMAGE=...  CONSUL_IMAGE=...  CONSUL_TEMPLATE_IMAGE=...  NATS_IMAGE=...
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/microservices-demo"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# One Debian root serves most stand-ins: Python for the services, a shell for Consul's and NATS's
# entrypoints, wget for NATS's healthcheck (the official alpine image has busybox's).
SUITE=bookworm
PACKAGES=python3,python3-venv,ca-certificates,curl,wget
# nginx comes from a root of its own, Debian's newest (sid: nginx 1.30, the compose files' tag):
# upstream servers that follow their names (`resolve`) need nginx >= 1.27.3; bookworm has 1.22.
# Plus envsubst for the templates and curl for the healthcheck, as the official image has.
NGINX_SUITE=sid
NGINX_PACKAGES=nginx,curl,gettext-base
# The virtualenv's Python has pip (Debian's python3 has none without python3-pip).
PYTHON="${PYTHON:-${VENV:-.venv}/bin/python}"
HERE=tools/stand-in-images
mkdir -p "$CACHE"

log() { echo "build-images: $*" >&2; }
digest() { sha256sum | cut -c1-12; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

debian_root() {  # debian_root <suite> <packages>: a Debian root from debootstrap, imported as an image
    local suite=$1 packages=$2
    local tag
    tag="microservices-demo/debian:$(echo "$suite $packages" | digest)"
    if ! have_image "$tag"; then
        local tarball="$CACHE/${tag//[\/:]/-}.tar"
        if [ ! -f "$tarball" ]; then
            log "debootstrap $suite (about a minute, once)"
            local root
            root=$(mktemp -d)
            debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$MIRROR" >&2
            rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
            tar -C "$root" -c . > "$tarball.tmp" && mv "$tarball.tmp" "$tarball"
            rm -rf "$root"
        fi
        docker import "$tarball" "$tag" >/dev/null
    fi
    echo "$tag"
}

# 1. The Debian roots.
base_tag=$(debian_root "$SUITE" "$PACKAGES")
nginx_base_tag=$(debian_root "$NGINX_SUITE" "$NGINX_PACKAGES")

build() {  # build <tag-prefix> <dockerfile> <context> <inputs...>; BASE=... picks another root
    local prefix=$1 dockerfile=$2 context=$3; shift 3
    local base=${BASE:-$base_tag}
    local tag="$prefix:$( (echo "$base"; cat "$dockerfile" "$@") | digest)"
    if ! have_image "$tag"; then
        log "building $tag"
        docker build -q --network none --build-arg BASE_IMAGE="$base" -f "$dockerfile" -t "$tag" "$context" >&2
    fi
    echo "$tag"
}

# 2. Python with the services' locked packages, from wheels downloaded (hashes checked) on the host.
requirements=(requirements/runtime.txt)
wheels="$CACHE/wheels-$(cat "${requirements[@]}" | digest)"
if [ ! -d "$wheels" ]; then
    log "downloading wheels for ${requirements[*]}"
    "$PYTHON" -m pip download -q --require-hashes --only-binary=:all: --python-version 3.11 \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
        --implementation cp -d "$wheels.tmp" -r requirements/runtime.txt >&2
    mv "$wheels.tmp" "$wheels"
fi
python_context=$(mktemp -d)
consul_context=$(mktemp -d)
template_context=$(mktemp -d)
nats_context=$(mktemp -d)
trap 'rm -rf "$python_context" "$consul_context" "$template_context" "$nats_context"' EXIT
cp -r "$wheels" "$python_context/wheels"
python_tag=$(build microservices-demo/python "$HERE/python.Dockerfile" "$python_context" "${requirements[@]}")

# 3. nginx, with the official image's template rendering.
nginx_tag=$(BASE=$nginx_base_tag build microservices-demo/nginx "$HERE/nginx.Dockerfile" "$HERE" "$HERE/nginx-entrypoint.sh")

# 4. Consul, the binary built from its Go module.
consul_bin=$(bash tools/build-consul.sh)
cp "$consul_bin" "$consul_context/consul"
cp "$HERE/consul-entrypoint.sh" "$consul_context/"
consul_tag=$(build microservices-demo/consul "$HERE/consul.Dockerfile" "$consul_context" \
    "$HERE/consul-entrypoint.sh" <("$consul_bin" version))

# 5. consul-template (the server-side load balancer's), also built from its Go module.
template_bin=$(bash tools/build-consul-template.sh)
cp "$template_bin" "$template_context/consul-template"
template_tag=$(build microservices-demo/consul-template "$HERE/consul-template.Dockerfile" "$template_context" \
    <("$template_bin" -version 2>&1))

# 6. nats-server (the broker), built from its Go module.
nats_bin=$(bash tools/build-nats-server.sh)
cp "$nats_bin" "$nats_context/nats-server"
cp "$HERE/nats-entrypoint.sh" "$nats_context/"
nats_tag=$(build microservices-demo/nats "$HERE/nats.Dockerfile" "$nats_context" \
    "$HERE/nats-entrypoint.sh" <("$nats_bin" --version))

echo "PYTHON_IMAGE=$python_tag"
echo "NGINX_IMAGE=$nginx_tag"
echo "CONSUL_IMAGE=$consul_tag"
echo "CONSUL_TEMPLATE_IMAGE=$template_tag"
echo "NATS_IMAGE=$nats_tag"
