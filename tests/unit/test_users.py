"""user-service API: the doc's calls, and every kind of bad input answered with JSON."""

import gzip
import io
import json

import pytest
from gunicorn.http.errors import ChunkMissingTerminator
from werkzeug.test import EnvironBuilder, run_wsgi_app

from services import users


def test_create_then_get_alice(user_client):
    created = user_client.post("/users", json={"name": "Alice"})
    assert created.status_code == 201
    assert created.get_json() == {"id": 1, "name": "Alice"}
    assert created.headers["Location"] == "/users/1"
    assert user_client.get("/users/1").get_json() == {"id": 1, "name": "Alice"}
    assert user_client.get("/users").get_json() == [{"id": 1, "name": "Alice"}]


def test_unknown_user_is_404_json(user_client):
    response = user_client.get("/users/99")
    assert response.status_code == 404
    assert response.get_json() == {"error": "user 99 not found"}


@pytest.mark.parametrize(
    "path",
    [
        "/users/0",
        "/users/-1",
        "/users/+1",
        "/users/abc",
        f"/users/{2**70}",
        "/nope",
        "/users//1",
        "//users",
        "/users/١",
    ],
)
def test_odd_ids_and_routes_are_404_json(user_client, path):
    response = user_client.get(path)
    assert response.status_code == 404
    assert response.is_json and "error" in response.get_json()


@pytest.mark.parametrize(
    "kwargs, status, message",
    [
        ({"data": '{"name": "Alice"', "content_type": "application/json"}, 400, "malformed JSON"),
        ({"data": "", "content_type": "application/json"}, 400, "empty"),
        ({"data": '{"name": "A", "name": "B"}', "content_type": "application/json"}, 400, "duplicate key"),
        ({"data": '{"name": NaN}', "content_type": "application/json"}, 400, "NaN"),
        ({"data": "name=Alice", "content_type": "application/x-www-form-urlencoded"}, 415, "application/json"),
        ({"data": '{"name": "Alice"}'}, 415, "application/json"),
        ({"json": ["Alice"]}, 422, "JSON object"),
        ({"json": {}}, 422, "'name' is required"),
        ({"json": {"name": ""}}, 422, "must not be empty"),
        ({"json": {"name": "   "}}, 422, "must not be empty"),
        ({"json": {"name": 7}}, 422, "must be a string"),
        ({"json": {"name": None}}, 422, "is required"),
        ({"json": {"name": "x" * 101}}, 422, "at most 100"),
        ({"json": {"name": "Alice", "admin": True}}, 422, "unknown field(s): admin"),
        ({"data": '{"name": "' + "x" * 20000 + '"}', "content_type": "application/json"}, 413, "too large"),
        ({"data": "[" * 5000 + "]" * 5000, "content_type": "application/json"}, 400, "nested too deeply"),
        ({"data": '{"name": "\\ud800"}', "content_type": "application/json"}, 422, "lone surrogates"),
        ({"json": {"name": "Al\x00ice"}}, 422, "control characters"),
        ({"json": {"name": "Al\x1bice"}}, 422, "control characters"),
        ({"json": {"name": "Alice", "credit_limit": 1e-320}}, 422, "two decimals"),
        ({"json": {"name": "Alice", "credit_limit": None}}, 422, "must be a number"),
        ({"json": {"name": "Alice", "credit_limit": 0.000001}}, 422, "two decimals"),
        ({"data": '{"name": "Alice"}', "content_type": "application/merge-patch+json"}, 415, "application/json"),
        (
            {
                "data": gzip.compress(b'{"name": "Alice"}'),
                "content_type": "application/json",
                "headers": {"Content-Encoding": "gzip"},
            },
            415,
            "Content-Encoding 'gzip'",
        ),
    ],
)
def test_bad_input_is_json_error_and_writes_nothing(user_client, kwargs, status, message):
    response = user_client.post("/users", **kwargs)
    assert response.status_code == status
    assert response.is_json
    assert message in response.get_json()["error"]
    assert user_client.get("/users").get_json() == []


def post_chunked(app, body):
    """POST /users as gunicorn hands a chunked request to the app: no Content-Length, and
    wsgi.input_terminated (the server ends the stream where the body ends)."""
    environ = EnvironBuilder("/users", method="POST", input_stream=body, content_type="application/json").get_environ()
    del environ["CONTENT_LENGTH"]
    environ["wsgi.input_terminated"] = True
    answer, status, _ = run_wsgi_app(app, environ, buffered=True)
    return int(status.split()[0]), json.loads(b"".join(answer))


def test_a_chunked_body_past_the_limit_is_413_not_cut_to_it(user_app, user_client):
    """werkzeug stops reading a body without a length at the limit: the rest must not be dropped
    silently, leaving a shorter body that happens to parse."""
    status, answer = post_chunked(user_app, io.BytesIO(b'{"name": "Cut"}' + b" " * 16384 + b"NOT JSON"))
    assert status == 413 and "too large" in answer["error"]
    assert user_client.get("/users").get_json() == []
    assert post_chunked(user_app, io.BytesIO(b'{"name": "Whole"}'))[0] == 201


def test_a_broken_chunked_body_is_400(user_app):
    class BrokenChunks(io.BytesIO):
        def read(self, *args):
            raise ChunkMissingTerminator(b"zz")  # what gunicorn's reader raises

        readinto = readline = read

    status, answer = post_chunked(user_app, BrokenChunks(b"zz"))
    assert status == 400 and "malformed request body" in answer["error"]


@pytest.mark.parametrize("query", ["?wait=1", "?x=1", "?wait=%C2%B2"])
def test_unknown_query_parameters_are_422(user_client, query):
    user_client.post("/users", json={"name": "Alice"})
    response = user_client.get(f"/users/1{query}")
    assert response.status_code == 422 and "unknown query parameter" in response.get_json()["error"]


@pytest.mark.parametrize("limit, shown", [(0, 0), (0.29, 0.29), (999_999_999.99, 999_999_999.99), (60, 60)])
def test_credit_limits_of_whole_cents_are_kept_exactly(user_client, limit, shown):
    response = user_client.post("/users", json={"name": "Alice", "credit_limit": limit})
    assert response.status_code == 201 and response.get_json()["credit_limit"] == shown


@pytest.mark.parametrize(
    "content_type, headers",
    [("application/json; charset=utf-8", {}), ("application/json", {"Content-Encoding": "identity"})],
)
def test_json_with_a_charset_or_no_encoding_is_read_as_is(user_client, content_type, headers):
    response = user_client.post("/users", data='{"name": "Alice"}', content_type=content_type, headers=headers)
    assert response.status_code == 201


def test_unicode_names_round_trip(user_client):
    name = "Zoë 李 🚀"
    created = user_client.post("/users", json={"name": name}).get_json()
    assert user_client.get(f"/users/{created['id']}").get_json()["name"] == name


def test_wrong_method_is_405_json(user_client):
    response = user_client.delete("/users")
    assert response.status_code == 405
    assert response.get_json() == {"error": "method not allowed"}
    assert "POST" in response.headers["Allow"]


def test_options_is_json_too(user_client):
    response = user_client.options("/users")
    assert response.status_code == 200 and response.get_json() == {"allow": ["GET", "HEAD", "OPTIONS", "POST"]}
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_health_checks_the_database(user_client, user_app, tmp_path):
    assert user_client.get("/health").get_json() == {"status": "ok", "service": "user-service", "database": "ok"}
    user_app.config["DATABASE"] = str(tmp_path / "missing-dir" / "x.sqlite3")
    response = user_client.get("/health")
    assert response.status_code == 503
    assert response.get_json()["status"] == "fail"


def test_data_survives_a_new_app_on_the_same_file(tmp_path):
    config = {"TESTING": True, "DATABASE": str(tmp_path / "users.sqlite3")}
    users.create_app(config).test_client().post("/users", json={"name": "Alice"})
    assert users.create_app(config).test_client().get("/users/1").get_json() == {"id": 1, "name": "Alice"}


def test_request_id_is_echoed_or_made(user_client):
    assert user_client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = user_client.get("/health", headers={"X-Request-ID": "bad id\twith tab"}).headers["X-Request-ID"]
    assert made != "bad id\twith tab" and len(made) == 32
    # A trailing newline would end a log line early (and `$` matches before one).
    from servicekit.correlation import safe_or_new

    assert safe_or_new("abc\n") != "abc\n"
    assert "static" not in {rule.endpoint for rule in user_client.application.url_map.iter_rules()}  # an API
