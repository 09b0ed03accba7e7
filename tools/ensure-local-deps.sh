#!/usr/bin/env bash
# What local mode needs besides the venv: Debian's nginx and a consul binary (built once, cached).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "ensure-local-deps: installing nginx (apt-get)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null || {
            apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx >/dev/null; }
    else
        echo "ensure-local-deps: nginx is missing: sudo apt-get install nginx" >&2
        exit 1
    fi
fi
bash tools/build-consul.sh >/dev/null
