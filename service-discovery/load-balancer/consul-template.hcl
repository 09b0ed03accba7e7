# consul-template's settings for the load balancer, the same in compose and in local mode.

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
