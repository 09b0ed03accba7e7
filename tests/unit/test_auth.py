"""Auth without a side door: forged tokens, spoofed headers, direct calls, placeholder secrets."""

import base64
import json
import time

import jwt
import pytest

from servicekit.auth import MissingSecret
from services import users

SIGNING_KEY = "unit-test-signing-key-" + "s" * 50  # long enough for HS512 too
GATEWAY_SECRET = "unit-test-gateway-secret-" + "g" * 20


@pytest.fixture
def secrets(monkeypatch):
    monkeypatch.setenv("AUTH_SECRET", SIGNING_KEY)
    monkeypatch.setenv("GATEWAY_SECRET", GATEWAY_SECRET)


def app_with(tmp_path, **config):
    return users.create_app({"TESTING": True, "DATABASE": str(tmp_path / "users.sqlite3"), **config})


def unsigned(claims):
    """A JWT with `alg: none` and no signature, the classic forgery."""
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def forged_tokens():
    now = int(time.time())
    good = {"sub": "demo", "iat": now, "exp": now + 60}
    return {
        "alg none": unsigned(good),
        "wrong key": jwt.encode(good, "someone-elses-key-" + "x" * 20, algorithm="HS256"),
        "expired": jwt.encode({**good, "iat": now - 120, "exp": now - 60}, SIGNING_KEY, algorithm="HS256"),
        "no exp": jwt.encode({"sub": "demo", "iat": now}, SIGNING_KEY, algorithm="HS256"),
        "no sub": jwt.encode({"iat": now, "exp": now + 60}, SIGNING_KEY, algorithm="HS256"),
        "no iat": jwt.encode({"sub": "demo", "exp": now + 60}, SIGNING_KEY, algorithm="HS256"),
        "sub not a string": jwt.encode({**good, "sub": 7}, SIGNING_KEY, algorithm="HS256"),
        "HS512": jwt.encode(good, SIGNING_KEY, algorithm="HS512"),
    }


@pytest.mark.parametrize("forgery", list(forged_tokens()))
def test_forged_tokens_are_refused(secrets, tmp_path, forgery):
    client = app_with(tmp_path, AUTH="on").test_client()
    response = client.get("/users", headers={"Authorization": f"Bearer {forged_tokens()[forgery]}"})
    assert response.status_code == 401 and response.json == {"error": "missing or invalid bearer token"}
    verify = client.get("/auth/verify", headers={"Authorization": f"Bearer {forged_tokens()[forgery]}"})
    assert verify.status_code == 401


def test_a_real_token_passes(secrets, tmp_path):
    client = app_with(tmp_path, AUTH="on").test_client()
    token = client.post("/auth/token", json={"client_id": "demo", "client_secret": "demo-secret"}).json
    assert client.get("/users", headers={"Authorization": f"Bearer {token['access_token']}"}).status_code == 200
    verify = client.get("/auth/verify", headers={"Authorization": f"Bearer {token['access_token']}"})
    # Headers only: a body nginx's auth_request leaves unread would close its connection each time.
    assert verify.status_code == 204 and verify.headers["X-Client-Id"] == "demo" and verify.data == b""
    assert "Content-Type" not in verify.headers


@pytest.mark.parametrize("secret", ["é", "demo-secrét", "\ud800"])
def test_a_secret_of_any_characters_is_a_clear_refusal(secrets, tmp_path, secret):
    """hmac.compare_digest takes str only in ASCII: anything else must still be a 401 or 422, not a 500."""
    client = app_with(tmp_path, AUTH="on").test_client()
    response = client.post("/auth/token", json={"client_id": "demo", "client_secret": secret})
    assert response.status_code in (401, 422) and response.is_json
    gateway = app_with(tmp_path, GATEWAY_AUTH="on").test_client()
    assert gateway.get("/users", headers={"X-Gateway-Secret": "sécret"}).status_code == 403


def test_behind_an_authenticating_gateway_only_the_gateway_gets_in(secrets, tmp_path):
    client = app_with(tmp_path, GATEWAY_AUTH="on").test_client()
    direct = client.get("/users")
    assert direct.status_code == 403 and "only the API gateway" in direct.json["error"]
    assert client.get("/users", headers={"X-Gateway-Secret": "guess" * 10}).status_code == 403
    assert client.post("/auth/token", json={"client_id": "demo", "client_secret": "demo-secret"}).status_code == 403
    assert client.get("/openapi.json").status_code == 403
    assert client.get("/health").status_code == 200  # the registry and compose still ask
    assert client.get("/users", headers={"X-Gateway-Secret": GATEWAY_SECRET}).status_code == 200


def test_a_spoofed_client_id_without_the_gateway_secret_is_ignored(secrets, tmp_path):
    app = app_with(tmp_path)  # auth off: the gateway's word is still the only one believed
    seen = []

    @app.get("/whoami")
    def whoami():
        from flask import g

        seen.append(g.client_id)
        return {"client": g.client_id}

    client = app.test_client()
    client.get("/whoami", headers={"X-Client-Id": "mallory"})
    client.get("/whoami", headers={"X-Client-Id": "mallory", "X-Gateway-Secret": "wrong"})
    client.get("/whoami", headers={"X-Client-Id": "demo", "X-Gateway-Secret": GATEWAY_SECRET})
    assert seen == [None, None, "demo"]


@pytest.mark.parametrize(
    "config, env, missing",
    [
        ({"GATEWAY_AUTH": "on"}, {"AUTH_SECRET": SIGNING_KEY}, "GATEWAY_SECRET"),
        ({"GATEWAY_AUTH": "on"}, {"GATEWAY_SECRET": GATEWAY_SECRET}, "AUTH_SECRET"),
        ({"GATEWAY_AUTH": "on"}, {"AUTH_SECRET": SIGNING_KEY, "GATEWAY_SECRET": "gateway-secret-change-me"}, "GATEWAY"),
        ({"AUTH": "on"}, {"AUTH_SECRET": "short"}, "AUTH_SECRET"),
        ({"AUTH": "on"}, {"AUTH_SECRET": "demo-signing-key-change-me-0123456789"}, "AUTH_SECRET"),
    ],
)
def test_with_auth_on_a_service_refuses_to_start_without_real_secrets(tmp_path, monkeypatch, config, env, missing):
    monkeypatch.delenv("AUTH_SECRET", raising=False)
    monkeypatch.delenv("GATEWAY_SECRET", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(MissingSecret, match=missing):
        app_with(tmp_path, **config)


@pytest.mark.parametrize("config", [{"AUTH": "yes"}, {"GATEWAY_AUTH": "true"}])
def test_an_auth_switch_neither_on_nor_off_stops_the_service(tmp_path, config):
    """AUTH=yes must not quietly mean off."""
    with pytest.raises(ValueError, match="must be one of off, on, not"):
        app_with(tmp_path, **config)


def test_with_auth_off_no_secret_is_needed(tmp_path, monkeypatch):
    monkeypatch.delenv("AUTH_SECRET", raising=False)
    client = app_with(tmp_path).test_client()
    assert client.post("/users", json={"name": "Alice"}).status_code == 201
    no_key = client.post("/auth/token", json={"client_id": "demo", "client_secret": "demo-secret"})
    assert no_key.status_code == 503 and "AUTH_SECRET" in no_key.json["error"]
