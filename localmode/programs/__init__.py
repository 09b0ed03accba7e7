"""A recipe per program local mode runs. Each takes the LocalDemo it belongs to and returns a
localmode.process.Process (not started):

    services.py        a service instance: gunicorn with the demo folder's app.py
    nginx.py           the API gateway (the demo's template) and nginx's main config (nginx.conf.template)
    consul.py          the Consul agent (the discovery demo's consul.hcl)
    names.py           dnsmasq: service names for instances with addresses of their own (NETNS=1)
    load_balancer.py   server-side discovery: nginx whose upstream consul-template keeps current
    binaries.py        where each program comes from: Debian's packages, or built from its Go module
"""
