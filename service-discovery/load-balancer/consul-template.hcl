# consul-template's settings for the load balancer, the same in compose and in local mode.

# How long one blocking query may wait for a change (default 60 s). The demo's Consul runs in dev
# mode and forgets its state on a restart: its index starts low again, and a query for the index
# consul-template last saw waits until the new agent gets past it or the wait ends. 5 s bounds
# how long the balancer can miss a change after such a restart, for one idle query per 5 s.
block_query_wait = "5s"

consul {
  # Retry for as long as Consul is away (0: no limit). By default consul-template gives up
  # after 12 attempts (about 4 minutes), exits, and takes nginx with it; keep serving the last
  # rendered upstream instead, as the client-side view does, and follow Consul when it is back.
  retry {
    attempts    = 0
    backoff     = "250ms"
    max_backoff = "1s"
  }
}

# nginx runs as consul-template's child: reloaded (SIGHUP) on each change, stopped gracefully.
exec {
  reload_signal = "SIGHUP"
  kill_signal   = "SIGQUIT"
}
