#!/usr/bin/env bash
# What local mode needs besides the virtualenv, for one demo, and only that:
#     bash tools/ensure-local-deps.sh gateway     nginx (+ dnsmasq with NETNS=1), nats-server
#     bash tools/ensure-local-deps.sh discovery   consul, nats-server (+ nginx and consul-template with DISCOVERY=server)
#     bash tools/ensure-local-deps.sh DEMO --plan  only say what it would install and build
# Debian packages come from apt (as root); Consul, consul-template and nats-server are built from
# their Go modules once (or a consul of the pinned version already on PATH is used). A line for
# each long step, on stderr: here, in the foreground, not inside the launcher's start window.
set -euo pipefail
cd "$(dirname "$0")/.."

demo=${1:?usage: ensure-local-deps.sh gateway|discovery}
packages=() builds=()
case "$demo" in
    gateway)
        packages+=(nginx)
        [ "${NETNS:-0}" = 0 ] || packages+=(dnsmasq-base)
        builds+=(nats-server)
        ;;
    discovery)
        builds+=(consul nats-server)
        if [ "${DISCOVERY:-client}" = server ]; then packages+=(nginx); builds+=(consul-template); fi
        ;;
    *) echo "ensure-local-deps: unknown demo $demo" >&2; exit 2 ;;
esac

if [ "${2:-}" = --plan ]; then
    echo "packages: ${packages[*]}"
    echo "builds: ${builds[*]}"
    exit 0
fi

program_of() { case "$1" in dnsmasq-base) echo dnsmasq ;; *) echo "$1" ;; esac; }
missing=()
for pkg in "${packages[@]}"; do
    program=$(program_of "$pkg")
    [ -x "/usr/sbin/$program" ] || command -v "$program" >/dev/null || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "missing: ${missing[*]}; install them (sudo apt-get install ${missing[*]}) and try again" >&2
        exit 1
    fi
    echo "first run: installing ${missing[*]} with apt-get..." >&2
    started=$SECONDS
    bash tools/apt-install.sh "${missing[@]}" >/dev/null
    echo "installed ${missing[*]} in $((SECONDS - started)) s" >&2
fi
for build in "${builds[@]}"; do
    bash "tools/build-$build.sh" >/dev/null
done
