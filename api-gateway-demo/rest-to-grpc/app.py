"""The gateway's REST-to-gRPC translation (USER_API=grpc): nginx routes /v1/ here, and it calls
user-service's gRPC API by the HTTP rules of communication/synchronous/users.http.yaml."""

import os

from communication.synchronous.rest_to_grpc import create_app

app = create_app(target=os.getenv("USERS_GRPC_TARGET", "user-service:50051"))
