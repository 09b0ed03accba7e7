"""Protocol translation at the gateway: REST clients reach user-service's gRPC API.

    GET /v1/users/1  ->  users.v1.Users/GetUser {id: 1}  ->  {"id": "1", "name": "Alice"}

The mapping is not code but the HTTP rules of users.http.yaml (google.api.http, the form
grpc-gateway reads), applied to the .proto's own descriptors by protobuf's json_format: path
parameters and the JSON body become the request message, the reply message becomes JSON under
the proto3 JSON mapping (int64 fields are strings: "id": "1"). X-Request-ID and Authorization go
on as gRPC metadata (and, with GATEWAY_AUTH=on, the gateway's secret: this is the gateway); the
gRPC status comes back as an HTTP status with a JSON error.

Why not grpc-gateway itself: it is Go, generated from the .proto by protoc plugins at build
time, and no image here can download Go modules or plugins; the same rules, executed by the
protobuf library the services already use, run in the services' own image (docs/grpc.md).
"""

import os
import re
from pathlib import Path

import grpc
import yaml
from flask import Blueprint, abort, current_app, jsonify, request
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from werkzeug.exceptions import MethodNotAllowed

from servicekit.correlation import REQUEST_ID_HEADER, current_request_id
from servicekit.validation import json_object
from servicekit.web import create_service_app, options_answer

from .grpc_stubs import load
from .grpc_transport import Channels
from .grpc_transport import metadata as grpc_metadata

RULES = Path(__file__).with_name("users.http.yaml")
INTEGERS = {
    FieldDescriptor.CPPTYPE_INT32,
    FieldDescriptor.CPPTYPE_INT64,
    FieldDescriptor.CPPTYPE_UINT32,
    FieldDescriptor.CPPTYPE_UINT64,
}

# gRPC status -> HTTP status (google.rpc.Code's documented mapping), but for INVALID_ARGUMENT:
# 422, what the REST API answers for the same input (docs/api.md), where grpc-gateway says 400.
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 422,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class Route:
    """One HTTP rule: a method and a path template bound to an RPC."""

    def __init__(self, verb, template, method, body):
        self.verb, self.method, self.body = verb.upper(), method, body
        fields = method.input_type.fields_by_name

        def parameter(found):
            return f"(?P<{found[1]}>{_value_pattern(fields[found[1]])})"

        self.pattern = re.compile("^" + re.sub(r"\{(\w+)\}", parameter, template) + "$")

    def match(self, verb, path):
        found = self.pattern.match(path) if verb == self.verb else None
        return found.groupdict() if found else None

    def matches_path(self, path):
        return self.pattern.match(path) is not None


def _value_pattern(field):
    """A path parameter as the REST API takes it: an id is ASCII digits, not 0 (protobuf's int()
    would also read "+1", "1_0" or "-1"); anything else matches no route, so it is a 404."""
    return r"0*[1-9][0-9]*" if field.cpp_type in INTEGERS else r"[^/]+"


def routes(rules_file=RULES):
    users_pb2, _ = load()
    service = users_pb2.DESCRIPTOR.services_by_name["Users"]
    made = []
    for rule in yaml.safe_load(rules_file.read_text())["http"]["rules"]:
        method = service.methods_by_name[rule["selector"].rsplit(".", 1)[1]]
        verb = next(v for v in ("get", "post", "put", "patch", "delete") if v in rule)
        made.append(Route(verb, rule[verb], method, rule.get("body")))
    return made


def create_app(target, test_config=None):
    """The translation as a small service of its own (its health, request IDs, JSON errors),
    calling the gRPC API at `target` (host:port)."""
    app = create_service_app("rest-to-grpc", None, test_config)  # no database of its own
    app.extensions["rest_to_grpc"] = {"routes": routes(), "channels": Channels(), "target": target}
    bp = Blueprint("rest_to_grpc", __name__)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]  # OPTIONS: answered from the rules
    bp.add_url_rule("/v1/<path:rest>", "translate", translate, methods=methods)
    app.register_blueprint(bp)
    return app


def translate(rest):
    path = f"/v1/{rest}"
    every_route = current_app.extensions["rest_to_grpc"]["routes"]
    verb = "GET" if request.method == "HEAD" else request.method  # HEAD is a GET without the body
    for route in every_route:
        params = route.match(verb, path)
        if params is not None:
            return call(route, params)
    allowed = {route.verb for route in every_route if route.matches_path(path)}
    if not allowed:
        abort(404, description=f"no gRPC method for {request.method} {path}")
    allowed = sorted(allowed | {"OPTIONS"} | ({"HEAD"} if "GET" in allowed else set()))
    if request.method == "OPTIONS":
        return options_answer(allowed)  # as the services answer it
    raise MethodNotAllowed(valid_methods=allowed)  # the path is there, not with this method


def call(route, params):
    """Path parameters and the body into the request message; the reply, or the status, back."""
    message = _message_class(route.method.input_type)()
    body = json_object(set(route.method.input_type.fields_by_name)) if route.body == "*" else {}
    try:
        json_format.ParseDict(body, message)
    except json_format.ParseError as exc:  # a field of the wrong type: 422, as in the REST API
        abort(422, description=f"does not fit {route.method.input_type.name}: {exc}")
    try:
        json_format.ParseDict(params, message)  # the path's parameters win over the body's
    except json_format.ParseError:  # /v1/users/abc: no such resource, as /users/abc is 404
        abort(404, description=f"no {request.path}")
    state = current_app.extensions["rest_to_grpc"]
    channel = state["channels"].get(state["target"])  # made in the worker, never in gunicorn's master
    stub = channel.unary_unary(
        f"/{route.method.containing_service.full_name}/{route.method.name}",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=_message_class(route.method.output_type).FromString,
    )
    try:
        reply = stub(message, timeout=float(os.getenv("GATEWAY_READ_TIMEOUT", "10")), metadata=_metadata())
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            state["channels"].drop(state["target"], channel)  # so it reconnects at once when back
        response = jsonify(error=exc.details() or exc.code().name.lower(), grpc_status=exc.code().name)
        response.status_code = HTTP_STATUS.get(exc.code(), 500)
        return response
    # Every field, empty ones too, as grpc-gateway answers: no users is {"users": []}, not {}.
    return json_format.MessageToDict(reply, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _message_class(descriptor):
    from google.protobuf import message_factory

    return message_factory.GetMessageClass(descriptor)


def _metadata():
    """What travels on: the request ID, the client's token, and the gateway's own secret."""
    passed_on = {REQUEST_ID_HEADER: current_request_id(), "Authorization": request.headers.get("Authorization")}
    metadata = grpc_metadata(passed_on)
    if os.getenv("GATEWAY_SECRET"):
        metadata.append(("x-gateway-secret", os.environ["GATEWAY_SECRET"]))
    return metadata
