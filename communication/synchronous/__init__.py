"""Request and answer: the caller waits for the callee (the outline's REST, and gRPC next)."""
