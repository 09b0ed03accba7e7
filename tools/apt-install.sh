#!/usr/bin/env bash
# apt-get install PACKAGES (as root), without starting or enabling their services: Debian's nginx
# would otherwise listen on port 80 for good (and be why `make gateway-demo` finds it taken), and
# docker.io would leave a dockerd running. The demos and the tests start what they need.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# invoke-rc.d and deb-systemd-invoke ask /usr/sbin/policy-rc.d; 101: "do not start". (A machine's
# own, as Docker's Debian images have, is used as it is. POLICY_RC_D: another path, for a test.)
policy=${POLICY_RC_D:-/usr/sbin/policy-rc.d}
made=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made=1
fi
trap '[ "$made" = 0 ] || rm -f "$policy"' EXIT
# Stale package lists make the first try fail ("Unable to locate package"): update, then again.
apt-get install -y -q --no-install-recommends "$@" 2>/dev/null \
    || { apt-get update -q && apt-get install -y -q --no-install-recommends "$@"; }
# nginx not at the next boot either (the package enabled its unit), where systemd runs. A Docker
# engine starting at boot is what one who installs it expects: that one stays enabled.
if [[ " $* " == *" nginx "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable nginx >/dev/null 2>&1 || true
fi
