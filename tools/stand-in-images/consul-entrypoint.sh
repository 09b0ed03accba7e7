#!/bin/sh
# The official image's contract: `agent ...` runs consul agent with its data and config dirs.
set -e
if [ "$1" = agent ]; then
    shift
    set -- consul agent -data-dir=/consul/data -config-dir=/consul/config "$@"
elif [ "${1#-}" != "$1" ]; then
    set -- consul "$@"
fi
exec "$@"
