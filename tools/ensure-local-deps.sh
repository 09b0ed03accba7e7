#!/usr/bin/env bash
# What local mode needs besides the venv: Debian's nginx, dnsmasq (names for instances in network
# namespaces, NETNS=1) and a consul binary (built once, cached).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
[ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || missing+=(nginx)
[ -x /usr/sbin/dnsmasq ] || command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "ensure-local-deps: installing ${missing[*]} (apt-get)" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || {
            apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
    else
        echo "ensure-local-deps: missing: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
bash tools/build-consul.sh >/dev/null
