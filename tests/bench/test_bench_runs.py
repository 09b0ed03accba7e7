"""`make bench` in its short mode: it runs every path against the real processes and writes its
table and plot. The thresholds are the benchmark's business, not a timed test's."""

import json
import subprocess
import sys

from bench.measure import MOST_BLOCKS, decided
from bench.scaling import grown_step
from localmode.process import ROOT

PATHS = [
    "baseline",
    "reference",
    "baseline-grpc",
    "baseline-no-outbox",
    "gateway",
    "gateway-no-keepalive",
    "gateway-re-resolving",
    "discovery-per-request",
    "discovery-cached",
    "user-direct",
    "user-via-nginx",
    "nginx-alone",
    "translated-via-nginx",
]


def test_bench_short_mode_writes_its_table_and_plot(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--short", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    table = (tmp_path / "bench.md").read_text()
    for path in PATHS:
        assert f"| {path} |" in table
    assert (tmp_path / "bench.png").stat().st_size > 10_000
    measured = json.loads((tmp_path / "bench.json").read_text())
    for path in PATHS:
        assert measured[f"{path}@1"]["rps"] > 0 and measured[f"{path}@1"]["errors"] == 0
    # Consul's own log counts one lookup per order without the cache, none with it.
    assert measured["discovery-per-request@1"]["consul"] >= 0.9
    assert measured["discovery-cached@1"]["consul"] == 0
    # Every order's event reached notification-service, and the relay drained a filled outbox.
    assert measured["event_lag_ms"]["1"]["events"] > 0 and measured["event_lag_ms"]["1"]["p99"] > 0
    assert measured["relay"]["events"] > 0 and measured["relay"]["per_second"] > 0
    assert "**Messaging**" in table
    # The outbox's cost, three ways, against no event, with nothing consuming: every order
    # answered, ratios of both signals, and rows waited once the broker was stopped.
    outbox_cost = measured["outbox_row"]
    for way in ("paced", "back_to_back", "row_alone"):
        assert outbox_cost[way]["errors"] == 0
        assert outbox_cost[way]["p50"]["ratio"] > 0 and outbox_cost[way]["cpu"]["ratio"] > 0
    assert outbox_cost["rows_waiting"] > 0
    assert "**The outbox's cost to the order**" in table
    # Both saga styles ran, beside the synchronous reference, each order decided.
    assert [s["style"] for s in measured["sagas"]] == ["off", "choreography", "orchestration"]
    assert all(s["c1"]["n"] > 0 and s["per_second"] > 0 for s in measured["sagas"])
    assert all(s["messages"] >= 3 for s in measured["sagas"][1:])
    assert measured["sagas"][0]["messages"] >= 1  # the synchronous order's own event
    assert "**Sagas**" in table
    # The lookup over REST and gRPC, straight and through nginx, each answered.
    assert {"REST direct", "gRPC direct", "REST via nginx", "gRPC via nginx"} <= set(measured["lookups"])
    assert measured["lookups"]["gRPC / REST p50, direct"] > 0
    assert "**REST or gRPC**" in table
    # Every target has its row, judged on pairs of runs, with the CPU-time signal beside it.
    labels = [row[0] for row in measured["targets"]]
    assert any(label.startswith("orders/s / before (reference)") for label in labels)
    # The gateway's p50 judged a second way too: orders asked in turn with the baseline's.
    assert "gateway (default) p50 / baseline, c=1, orders asked in turn" in labels
    assert measured["gateway_in_turn"]["errors"] == 0
    assert all(measured[f"{path}@1"]["cpu_ms"] > 0 for path in PATHS)
    # The growth: every flavour at each size, and the cached view following a change.
    growth = measured["growth"]
    for flavour in ("discovery-cached", "discovery-dns", "gateway"):
        steps = growth["flavours"][flavour]["steps"]
        assert all(steps[str(n)]["p50"] > 0 and steps[str(n)]["cpu_ms"] > 0 for n in growth["sizes"])
        assert all(s["errors"] == 0 and s["p50_ratio"]["ratio"] > 0 for n, s in steps.items() if n != "1")
        largest = growth["flavours"][flavour]["cpu_by_part"][str(growth["sizes"][-1])]
        assert largest["user-service"] > 0 and largest["order-service"] > 0
        # The step the goal is judged on gets more blocks while it is open (2 blocks judge nothing).
        judged_step = steps[growth["flavours"][flavour]["largest"]]
        assert decided(judged_step["p50_ratio"]["verdict"]) or judged_step["blocks"] == MOST_BLOCKS * 2
        assert judged_step["blocks"] > 2
    # The discovery demos measure their largest size again with the catalog grown.
    assert growth["flavours"]["discovery-cached"]["largest"] == grown_step(growth["sizes"], growth["catalog"])
    assert all(t["added_p50_ms"] > 0 and t["removed_p50_ms"] > 0 for t in growth["view_follow"].values())
    assert "**As the system grows**" in table
    # The growth's cause: user-service's CPU per lookup, to one instance or round robin over all.
    spread = measured["round_robin"]
    assert spread["one_instance_ms"] > 0 and spread["round_robin_ms"] > 0 and spread["idle_ms_per_second"] > 0
    assert "**Round robin or one instance**" in table
