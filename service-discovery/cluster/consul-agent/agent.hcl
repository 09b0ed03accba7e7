# The Consul client agent of one app host (CLUSTER=1). The host's service instances register
# with it and ask it for the others; it runs their health checks, answers DNS, and forwards
# queries to the servers. It keeps no catalog of its own, only its host's services and checks.
# Local mode passes this file with -config-file, compose mounts it (docker-compose.cluster.yml);
# name, address, servers to join and ports are flags.

server = false

# No call home: the agent would otherwise check releases.hashicorp.com for updates.
disable_update_check = true

# DNS: a server may answer from its own copy while there is no leader (Consul's default,
# spelled out, since it is what keeps names answering through an election or a lost quorum).
dns_config {
  allow_stale = true
}
