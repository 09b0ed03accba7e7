#!/bin/sh
# What the official image's entrypoint does before nginx starts: source /docker-entrypoint.d/*.envsh
# (they may export variables for the templates), then 20-envsubst-on-templates.sh: only variables
# defined in the environment are substituted, so nginx's own $variables stay as they are.
set -e
if [ "$1" = nginx ]; then
    for script in /docker-entrypoint.d/*.envsh; do
        [ -x "$script" ] || continue
        echo "docker-entrypoint: sourcing $script"
        . "$script"
    done
    if [ -d /etc/nginx/templates ]; then
        defined_envs=$(printf '${%s} ' $(env | cut -d= -f1))
        for template in /etc/nginx/templates/*.template; do
            [ -f "$template" ] || continue
            output="/etc/nginx/conf.d/$(basename "$template" .template)"
            envsubst "$defined_envs" < "$template" > "$output"
            echo "docker-entrypoint: rendered $template to $output"
        done
    fi
fi
exec "$@"
