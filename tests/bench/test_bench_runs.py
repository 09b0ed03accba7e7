"""`make bench` in its short mode: it runs every path against the real processes and writes its
table and plot. The thresholds are the benchmark's business, not a timed test's."""

import json
import subprocess
import sys

from localmode.process import ROOT

PATHS = [
    "baseline",
    "gateway",
    "gateway-no-keepalive",
    "gateway-re-resolving",
    "discovery-per-request",
    "discovery-cached",
    "user-direct",
    "user-via-nginx",
    "nginx-alone",
]


def test_bench_short_mode_writes_its_table_and_plot(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--short", "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
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
