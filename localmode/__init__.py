"""Local mode: a demo's services as plain processes, with a real nginx and a real Consul agent.

The one launcher for running a demo without Docker; `make`, the tests and the benchmark all use it.

    demo.py       LocalDemo: which processes a demo runs, in what order, and its instances
    process.py    one started program: start, wait until it answers, stop (SIGTERM, then SIGKILL)
    programs/     a recipe per program: services (gunicorn), nginx, consul, names (dnsmasq),
                  load_balancer (consul-template); nginx's main config is a template beside it
    control.py    a demo in the background: its record in .run/, stop, restart one instance
    netns.py      NETNS=1: an address of its own for each user-service instance
    smoke.py      the README's console blocks: read, run, compare
    wait.py       wait_until, the one bounded poll
    cli.py        what make calls: up, down, smoke, restart (and run, the launcher itself)
"""
