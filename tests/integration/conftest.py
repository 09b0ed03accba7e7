"""Integration fixtures: each demo in local mode, through the same launcher `make` uses,
with the real nginx and the real Consul agent. Missing nginx or Consul fails the test."""

import sqlite3
import threading

import pytest
import requests

from localmode.demo import LocalDemo
from localmode.netns import Network

from ..conftest import TEST_PORTS

pytestmark = pytest.mark.integration


def new_network():
    """Namespaces for instances with addresses of their own (10.213.1.0/24, removed after)."""
    return Network("mdtest", "10.213.1.0/24")


def start(demo, tmp_path_factory, ports=TEST_PORTS):
    return LocalDemo(demo, workdir=tmp_path_factory.mktemp(demo), ports=ports)


@pytest.fixture
def gateway_demo(tmp_path_factory):
    with start("gateway", tmp_path_factory) as demo:
        yield demo


@pytest.fixture
def discovery_demo(tmp_path_factory):
    with start("discovery", tmp_path_factory) as demo:
        yield demo


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def post_json(http, url, body, **kwargs):
    return http.post(url, json=body, timeout=10, **kwargs)


def order_rows(demo):
    """Orders as stored in order-service's own database file (not through its API)."""
    with sqlite3.connect(demo.workdir / "data" / "orders.sqlite3") as conn:
        return conn.execute("SELECT id, user_id, item FROM orders").fetchall()


class Load:
    """Threads sending requests while a with-block runs; each thread's loop bounds itself."""

    def __init__(self, thread_args):
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.crashes = []  # what ended a thread early: the with-block fails with it, not a warning
        self.threads = [threading.Thread(target=self._guarded, args=args) for args in thread_args]

    def run(self, *args):
        raise NotImplementedError

    def _guarded(self, *args):
        try:
            self.run(*args)
        except Exception as exc:
            with self.lock:
                self.crashes.append(repr(exc))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        for t in self.threads:
            t.join(30)
        if exc[0] is None:
            assert not self.crashes, f"a load thread stopped early: {self.crashes}"


DEMO_CLIENT = {"client_id": "demo", "client_secret": "demo-secret"}  # servicekit/auth.py's default client


def token(base_url):
    """Authorization headers with a token from POST /auth/token (GATEWAY_AUTH=on, AUTH=on)."""
    response = requests.post(f"{base_url}/auth/token", json=DEMO_CLIENT, timeout=5)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
