"""Integration fixtures: each demo in local mode, through the same launcher `make` uses,
with the real nginx and the real Consul agent. Missing nginx or Consul fails the test."""

import sqlite3

import pytest
import requests

from tools.launcher import Demo, Ports
from tools.netns import Network

pytestmark = pytest.mark.integration

# Away from the doc's ports, so a demo you are running does not collide with the tests.
TEST_PORTS = Ports(gateway=18080, user=15001, order=15002, consul=18500)


def new_network():
    """Namespaces for instances with addresses of their own (10.213.1.0/24, removed after)."""
    return Network("mdtest", "10.213.1.0/24")


def start(demo, tmp_path_factory, ports=TEST_PORTS):
    return Demo(demo, workdir=tmp_path_factory.mktemp(demo), ports=ports)


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
