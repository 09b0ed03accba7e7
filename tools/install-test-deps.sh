#!/usr/bin/env bash
# Everything `make test` needs besides the virtualenv, installed once (later runs take seconds):
# Debian packages (nginx for local mode, dnsmasq for names of instances in network namespaces; Docker engine, Compose 1.29 and debootstrap for the
# compose tests; envsubst for the template test; wrk for the benchmark; Chromium + chromedriver
# for the Consul UI browser test), then Consul and Compose v2 built from their Go modules, then
# the stand-in base images (which need a Docker engine: started and stopped again if none runs).
# consul-template too (the server-side discovery flavour), and nats-server (the broker).
# --debian-packages: only those (a clean machine's first step: `make dev-deps` needs make and
# python3-venv). VENV: the virtualenv the Makefile made (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

need=(nginx dnsmasq-base docker.io docker-compose debootstrap gettext-base curl iproute2 dnsutils python3-venv make wrk
      chromium chromium-driver)
missing=()
for pkg in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || { echo "install-test-deps: as root, or: sudo apt-get install ${missing[*]}" >&2; exit 1; }
    apt-get update -q
    bash tools/apt-install.sh "${missing[@]}"  # their services not started (nginx would hold port 80)
fi
[ "${1:-}" != --debian-packages ] || exit 0
command -v go >/dev/null || { echo "install-test-deps: Go 1.25+ is needed to build Consul and Compose v2" >&2; exit 1; }

bash tools/build-consul.sh >/dev/null
bash tools/build-consul-template.sh >/dev/null
bash tools/build-nats-server.sh >/dev/null
bash tools/build-compose.sh >/dev/null
"${VENV:-.venv}/bin/python" -m dockermode.engine run -- bash tools/build-images.sh >/dev/null
