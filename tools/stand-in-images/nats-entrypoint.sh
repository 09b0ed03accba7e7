#!/bin/sh
# The official image's contract: `docker run nats -c ...` runs nats-server with those arguments.
set -e
if [ "${1#-}" != "$1" ]; then
    set -- nats-server "$@"
fi
exec "$@"
