"""How the services talk to each other.

synchronous/   request and answer: order-service's call to user-service (REST), with timeouts,
               retries on another instance and a circuit breaker.
asynchronous/  messages through a broker: the outbox and its relay, consumers (the messaging issue).

(`async` is a reserved word in Python, hence the long names.)
"""
