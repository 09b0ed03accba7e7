# One of three Consul servers (CLUSTER=1): they hold the catalog in raft and elect a leader.
# Local mode passes this file with -config-file, compose mounts it (docker-compose.cluster.yml);
# what differs per server (its name, address, data folder, the others to join, the ports)
# comes as flags, which win.

server = true
# Wait for three servers before electing anyone: a quorum is 2 of 3.
bootstrap_expect = 3

# No call home: the agent would otherwise check releases.hashicorp.com for updates.
disable_update_check = true

# Raft's timing at 1x, Consul's recommended production setting (the default, 5, suits small
# development machines): a lost leader is replaced in about 2 s here (docs/cluster.md).
performance {
  raft_multiplier = 1
}

ui_config {
  enabled = true
}
