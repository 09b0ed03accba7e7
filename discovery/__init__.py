"""How a service is found and how it announces itself.

locators.py      where order-service sends its call: a fixed URL (the gateway, a load balancer),
                 Consul's health API (cached view or per request), or Consul's DNS.
registration.py  a service instance registers itself with its Consul agent and deregisters on stop.
"""
