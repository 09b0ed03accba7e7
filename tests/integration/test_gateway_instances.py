"""The doc's three questions behind the gateway, with each user-service instance in a network
namespace of its own: several instances balanced, one killed, one back at a new IP, one more.
And the stale-address problem: a gateway that resolved names once never sees the new IP."""

import json
import signal
import subprocess
import time
import uuid

import requests

from localmode.demo import LocalDemo
from localmode.wait import wait_until

from ..conftest import TEST_PORTS
from .conftest import Load, new_network, token

VALID = 2  # seconds nginx keeps an answer of its resolver (GATEWAY_RESOLVE_VALID)


def gateway(tmp_path, instances, **settings):
    settings = {"GATEWAY_RESOLVE_VALID": str(VALID), **settings}
    return LocalDemo(
        "gateway",
        workdir=tmp_path,
        ports=TEST_PORTS,
        instances={"user-service": instances},
        network=new_network(),
        service_env=settings,
    )


def gateway_log(demo):
    """(wall-clock end, addresses nginx tried, status, seconds) of each user lookup the gateway proxied."""
    entries = []
    for line in (demo.workdir / "logs" / "api-gateway.log").read_text().splitlines():
        if line.startswith('{"ts'):
            e = json.loads(line)
            if e["path"] == "/users/1" and e["method"] == "GET":
                entries.append((e["msec"], e["upstream"].split(", "), e["status"], e["seconds"]))
    return entries


def send_once_more_if_dropped(http, request):
    """(status, sent again?) of `request`, sent again once if the connection it went out on was
    closed before a whole answer: nginx reloaded by the launcher (an instance moved or was added)
    closes its idle keep-alive connections, and a request can meet one as it closes; an instance
    SIGKILLed between its answer's headers and its body leaves nginx nothing to move on (the
    headers are passed on), so it cuts the answer off. Sending again is what a client does; safe
    here, as a GET or an order with its Idempotency-Key. Status None if it fails twice."""
    for attempt in range(2):
        try:
            return http.request(**request, timeout=15).status_code, attempt == 1
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            pass
    return None, True


class Traffic(Load):
    """GET /users/1 through the gateway (fresh, not cached) and orders through it, from 2 threads,
    until stopped (bounded: 60 s, 20,000 requests). Each answer is kept with the time it came."""

    def __init__(self, demo):
        super().__init__([("lookup",), ("order",)])
        self.demo = demo
        self.answers = []  # (monotonic time, what, status, ok)
        self.sent_again = 0  # requests whose connection was closed under them: sent once more

    def run(self, kind):
        start = time.monotonic()
        url = self.demo.gateway_url
        with requests.Session() as http:
            while not self.stop_flag.is_set() and time.monotonic() - start < 60 and len(self.answers) < 20_000:
                if kind == "lookup":
                    request = {"method": "GET", "url": f"{url}/users/1", "headers": {"Cache-Control": "no-cache"}}
                else:
                    headers = {"Idempotency-Key": uuid.uuid4().hex}
                    request = {"method": "POST", "url": f"{url}/orders", "headers": headers}
                    request["json"] = {"user_id": 1, "item": "Book"}
                status, again = send_once_more_if_dropped(http, request)
                with self.lock:
                    self.answers.append((time.monotonic(), kind, status, status in (200, 201)))
                    self.sent_again += again

    @property
    def failed(self):
        return [a for a in self.answers if not a[3]]


def upstreams_of_lookups(demo, start_line=0):
    """Per logged lookup: the addresses nginx tried, in order (several when it moved on)."""
    return [tried for _, tried, _, _ in gateway_log(demo)[start_line:]]


def test_gateway_balances_instances_that_die_move_and_are_added(tmp_path):
    with gateway(tmp_path, instances=3) as demo:
        requests.post(f"{demo.gateway_url}/users", json={"name": "Alice"}, timeout=5).raise_for_status()
        assert len({address for address, _ in demo.addresses("user-service")}) == 3  # three IPs, one port

        # 1. Several instances: the gateway spreads lookups over all of them. 2. One is killed:
        # nginx moves its requests on, and the name stops listing it (traffic runs VALID + 2 s on).
        victim = demo.processes["user-service-2"]
        stream, dead, mark, killed = kill_one_of_all_in_use(demo, "user-service-2", settle=VALID + 2)
        after_kill = gateway_log(demo)[mark:]
        to_dead = [at - took for at, tried, _, took in after_kill if dead in tried]
        tried_dead_until = (max(to_dead) - killed) if to_dead else 0.0
        failure_rate = len(stream.failed) / len(stream.answers)
        print(
            f"\n[gateway] killed 1 of 3: last request tried at the dead address {tried_dead_until:.2f}s after the "
            f"kill (valid={VALID}s); {len(stream.answers)} requests, {len(stream.failed)} failed ({failure_rate:.2%}), "
            f"{stream.sent_again} sent again on a closed connection"
        )
        assert failure_rate <= 0.001, stream.failed[:3]
        assert tried_dead_until <= VALID + 1.0, "the dead address still got requests"
        assert any(at > killed + tried_dead_until for at, _, _, _ in after_kill), "no traffic after convergence"

        # 3. It comes back at a new IP: the gateway follows the name there.
        with Traffic(demo) as stream:
            moved = demo.restart("user-service-2")
            back = time.monotonic()
            new = f"{moved.address}:{moved.env['PORT']}"
            mark = len(gateway_log(demo))
            found = wait_until(
                lambda: any(new in tried for tried in upstreams_of_lookups(demo, mark)), VALID + 5, "the new IP"
            )
        print(
            f"[gateway] back at {new} (was {dead}): first request there {found - back:.2f}s after it was up; "
            f"{stream.sent_again} request(s) sent again on a connection nginx's reload closed"
        )
        assert moved.address != victim.address
        assert found - back <= VALID + 1.0
        assert not stream.failed

        # 4. One more: four instances, all serving.
        added = demo.add_instance("user-service")
        with Traffic(demo) as stream:
            mark = len(gateway_log(demo))
            wait_until(
                lambda: any(f"{added.address}:15001" in t for t in upstreams_of_lookups(demo, mark)), VALID + 5, "4th"
            )
        assert not stream.failed
        assert len(demo.addresses("user-service")) == 4


def kill_one_of_all_in_use(demo, victim_name, settle):
    """Traffic until every instance served, then SIGKILL `victim_name` under traffic, which runs on
    for `settle` seconds. Returns (traffic, its address, gateway log lines before, wall-clock kill)."""
    addresses = {f"{a}:{p}" for a, p in demo.addresses("user-service")}
    with Traffic(demo) as warmup:
        wait_until(lambda: {a for t in upstreams_of_lookups(demo) for a in t} >= addresses, 20, "all used")
    assert not warmup.failed
    victim = demo.processes[victim_name]
    dead = f"{victim.address}:{victim.env['PORT']}"
    with Traffic(demo) as stream:
        time.sleep(0.5)  # traffic before the fault
        mark = len(gateway_log(demo))
        killed = time.time()
        demo.kill(victim_name)
        time.sleep(settle)
    return stream, dead, mark, killed


def lookups_until_ok(demo, seconds, headers=None):
    """GET /users/1 through the gateway for `seconds` (and at most 1000 times); (seconds until
    the first 200, statuses)."""
    start, statuses = time.monotonic(), []
    headers = {"Cache-Control": "no-cache", **(headers or {})}
    with requests.Session() as http:
        while time.monotonic() - start < seconds and len(statuses) < 1000:
            status = http.get(f"{demo.gateway_url}/users/1", headers=headers, timeout=15)
            statuses.append(status.status_code)
            if status.status_code == 200:
                return time.monotonic() - start, statuses
    return None, statuses


def test_resolve_once_gateway_keeps_the_old_ip_until_reloaded(tmp_path):
    """The stale-address problem: names resolved when nginx loaded its configuration."""
    with gateway(tmp_path, instances=1, GATEWAY_RESOLVE="once") as demo:
        requests.post(f"{demo.gateway_url}/users", json={"name": "Alice"}, timeout=5).raise_for_status()
        old = demo.processes["user-service"].address
        new = demo.restart("user-service").address
        assert new != old
        recovered, statuses = lookups_until_ok(demo, 3 * VALID + 2)
        print(f"\n[gateway, resolve once] moved {old} -> {new}: {len(statuses)} lookups, statuses {set(statuses)}")
        assert recovered is None, "a resolve-once gateway found the new address without a reload"
        assert all(tried == [f"{old}:15001"] for tried in upstreams_of_lookups(demo))

        demo.reload_gateway()  # what the fix has to do by hand here
        recovered, _ = lookups_until_ok(demo, 10)
        assert recovered is not None


def connections_during_lookups(demo, address, count=20, headers=None):
    """`count` fresh lookups through the gateway, one after the other: (their statuses, TCP
    connections from this host (nginx) to `address` open after them, connections closed during
    them). An upstream kept open stays established; one per request leaves a TIME-WAIT each time."""

    def connections(state):
        out = subprocess.run(
            ["ss", "-Htn", "state", state, "dst", address], capture_output=True, text=True, check=True
        ).stdout
        return len(out.splitlines())

    closed_before = connections("time-wait")
    statuses = [lookups_until_ok(demo, 1, headers)[1][-1] for _ in range(count)]
    return statuses, connections("established"), connections("time-wait") - closed_before


def test_default_gateway_keeps_its_connections_and_follows_a_moved_instance(tmp_path):
    """GATEWAY_RESOLVE=follow, the default: upstream blocks with keepalive, and a moved instance
    followed (here the launcher reloads nginx when the address changes; compose's nginx resolves
    the name itself)."""
    with gateway(tmp_path, instances=1) as demo:
        requests.post(f"{demo.gateway_url}/users", json={"name": "Alice"}, timeout=5).raise_for_status()
        old = f"{demo.processes['user-service'].address}:15001"
        lookups, established, closed = connections_during_lookups(demo, old)
        print(f"\n[gateway, follow] 20 lookups: {established} connection(s) to user-service open, {closed} closed")
        assert lookups == [200] * 20
        assert established >= 1 and closed == 0

        new_address = demo.restart("user-service").address
        recovered, statuses = lookups_until_ok(demo, 3 * VALID + 2)
        new = f"{new_address}:15001"
        mark = len(gateway_log(demo))
        lookups, established, closed = connections_during_lookups(demo, new)
        print(
            f"[gateway, follow] moved {old} -> {new}: first 200 {recovered:.2f}s after the move, statuses "
            f"{statuses}; 20 lookups later {established} connection(s) open, {closed} closed"
        )
        assert recovered is not None and recovered <= 1.0
        assert lookups == [200] * 20 and all(tried == [new] for tried in upstreams_of_lookups(demo, mark))
        assert established >= 1 and closed == 0


def test_gateway_with_auth_checks_tokens_on_kept_connections(tmp_path):
    """GATEWAY_AUTH=on: each call's token check is a subrequest to user-service; it travels on
    the kept connections as the call does (a location's own proxy_set_header would otherwise
    drop the server's `Connection ""` and close one connection per check)."""
    with gateway(tmp_path, instances=1, GATEWAY_AUTH="on") as demo:
        auth = token(demo.gateway_url)
        requests.post(f"{demo.gateway_url}/users", json={"name": "Alice"}, headers=auth, timeout=5).raise_for_status()
        address = f"{demo.processes['user-service'].address}:15001"
        lookups, established, closed = connections_during_lookups(demo, address, headers=auth)
        print(f"\n[gateway, auth on] 20 checked lookups: {established} connection(s) open, {closed} closed")
        assert lookups == [200] * 20
        assert established >= 1 and closed == 0


def test_re_resolving_gateway_follows_the_new_ip_within_valid(tmp_path):
    with gateway(tmp_path, instances=1, GATEWAY_RESOLVE="dynamic") as demo:
        requests.post(f"{demo.gateway_url}/users", json={"name": "Alice"}, timeout=5).raise_for_status()
        assert requests.get(f"{demo.gateway_url}/users/1", timeout=5).ok  # the old address is cached now
        old = demo.processes["user-service"].address
        new = demo.restart("user-service").address
        renamed = time.time()  # the name points at the new address from here on
        recovered, statuses = lookups_until_ok(demo, 3 * VALID + 2)
        assert recovered is not None
        # nginx writes a request's log line just after its answer: wait for the first 200's.
        wait_until(
            lambda: any(tried == [f"{new}:15001"] and status == 200 for _, tried, status, _ in gateway_log(demo)),
            5,
            "nginx to log the first answer from the new address",
        )
        log = gateway_log(demo)
        # nginx's last pick of the old address: when that request started (msec is when it ended).
        starts_to_old = [at - s for at, tried, _, s in log if f"{old}:15001" in tried]
        last_pick = max(starts_to_old) - renamed
        print(
            f"\n[gateway, re-resolving] moved {old} -> {new}: old address last picked {last_pick:.2f}s after the "
            f"name changed (valid={VALID}s); first 200 after {recovered:.2f}s, statuses {statuses}"
        )
        assert last_pick <= VALID + 0.1
        assert log[-1][1] == [f"{new}:15001"] and log[-1][2] == 200
        # The price: a connection per request, none kept.
        lookups, established, closed = connections_during_lookups(demo, f"{new}:15001")
        print(f"[gateway, re-resolving] 20 lookups: {established} connection(s) open, {closed} closed")
        assert lookups == [200] * 20 and established == 0 and closed >= 20


def test_only_idempotent_requests_go_to_a_second_instance(tmp_path):
    """A stalled instance: GETs are retried on the other one; a POST is not (it may have run).
    nginx's rule in every mode; with names re-resolved per request (dynamic) nginx keeps no memory
    of the stalled one, so lookups and orders alike keep meeting it."""
    with gateway(tmp_path, instances=2, GATEWAY_READ_TIMEOUT="1", GATEWAY_RESOLVE="dynamic") as demo:
        requests.post(f"{demo.gateway_url}/users", json={"name": "Alice"}, timeout=5).raise_for_status()
        stalled = demo.processes["user-service-2"]
        stalled.signal(signal.SIGSTOP)
        try:
            with requests.Session() as http:
                lookups = [
                    http.get(f"{demo.gateway_url}/users/1", headers={"Cache-Control": "no-cache"}, timeout=15)
                    for _ in range(6)
                ]
                posts = []
                for n in range(12):  # until one lands on the stalled instance (random pick: bounded tries)
                    posts.append(
                        (f"Bob-{n}", http.post(f"{demo.gateway_url}/users", json={"name": f"Bob-{n}"}, timeout=15))
                    )
                    if posts[-1][1].status_code == 504:
                        break
        finally:
            stalled.signal(signal.SIGCONT)
        assert [r.status_code for r in lookups] == [200] * 6
        name, timed_out = posts[-1]
        assert timed_out.status_code == 504, [r.status_code for _, r in posts]

        def bobs():  # the stalled instance still runs the POST once it continues: one Bob, never two
            users = requests.get(f"{demo.gateway_url}/users", timeout=5).json()
            return [u for u in users if u["name"] == name]

        wait_until(lambda: len(bobs()) >= 1, 10, "the stalled POST to finish")
        assert len(bobs()) == 1


def test_resolve_once_upstream_balances_and_benches_a_dead_instance(tmp_path):
    """The upstream block (GATEWAY_RESOLVE=once): every address the name had at start is a server,
    with keepalive; a killed one is taken out after one failure (max_fails=1) for fail_timeout."""
    with gateway(tmp_path, instances=2, GATEWAY_RESOLVE="once") as demo:
        requests.post(f"{demo.gateway_url}/users", json={"name": "Alice"}, timeout=5).raise_for_status()
        stream, dead, mark, _ = kill_one_of_all_in_use(demo, "user-service-2", settle=5)  # < fail_timeout
        tried_dead = sum(1 for _, tried, _, _ in gateway_log(demo)[mark:] if dead in tried)
        failure_rate = len(stream.failed) / len(stream.answers)
        print(
            f"\n[gateway, upstream block] killed 1 of 2: {len(stream.answers)} requests, {len(stream.failed)} failed "
            f"({failure_rate:.2%}), {stream.sent_again} sent again; the dead server was tried {tried_dead} time(s) "
            "in 5 s"
        )
        assert failure_rate <= 0.001, stream.failed[:3]
        assert tried_dead <= 5  # a few requests in flight at the kill, then benched for fail_timeout
