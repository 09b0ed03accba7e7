"""The order saga: an order with an amount is approved only if user-service can reserve that
much of the user's credit; cancelling an approved order gives the credit back (the compensation).

Two styles, one transaction (SAGA=choreography or SAGA=orchestration; off by default):

    choreography   order-service --order.created--> user-service --credit.reserved / limit_exceeded-->
                   order-service --order.approved / rejected--> notification-service
                   No one knows the whole flow; each service reacts to the one before (choreography.py).
    orchestration  order-service's orchestrator --reserve_credit--> user-service --reply--> orchestrator
                   One place knows the flow and keeps it in a saga log with a deadline per step
                   (orchestrator.py); a missed deadline leads to compensation.

credit.py is user-service's part in both. Every message goes through the outbox of the service
that sends it, every handler is idempotent, and every state change is guarded by the state it
changes from, so a message handled twice, late or after a restart changes nothing twice.
"""

import os

STYLES = ("off", "choreography", "orchestration")


def style():
    """SAGA: off (the doc's synchronous orders), choreography or orchestration."""
    chosen = os.getenv("SAGA", "off")
    if chosen not in STYLES:
        raise ValueError(f"SAGA must be one of {', '.join(STYLES)}, not {chosen!r}")
    return chosen
