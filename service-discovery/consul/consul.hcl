# The demo's registry: one Consul agent in dev mode (a server, state in memory, UI on :8500).
# compose mounts this file into /consul/config (the official image's config dir);
# local mode passes it with -config-file. Command-line flags (ports, -client) override it.

# No call home: the agent would otherwise check releases.hashicorp.com for updates.
disable_update_check = true

# Listen on all interfaces inside the container so the services and your browser reach it.
client_addr = "0.0.0.0"

ui_config {
  enabled = true
}
