"""Request and answer: the caller waits for the callee (the outline's REST, and gRPC next)."""

import os

USER_APIS = ("rest", "grpc")


def user_api():
    """USER_API: how order-service calls user-service, rest (the doc's, the default) or grpc; with
    grpc, user-service also serves its gRPC API and the gateway translates REST onto it."""
    chosen = os.getenv("USER_API", "rest")
    if chosen not in USER_APIS:
        raise ValueError(f"USER_API must be one of {', '.join(USER_APIS)}, not {chosen!r}")
    return chosen
