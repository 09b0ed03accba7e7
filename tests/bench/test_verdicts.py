"""The bench's judge on made-up ratios: a target is met or MISSED only when the whole interval
of the median says so, either way round (lower or higher is better), never on too few, and no
more often wrongly than its 5% however many times a run may look at it."""

import random

import pytest

from bench import measure
from bench.measure import blocks_until_decided, decided, median_interval, new_blocks, verdict
from bench.run import TARGETS, Runner


@pytest.mark.parametrize(
    "values, limit, higher_is_better, said",
    [
        ([1.00, 1.01, 1.02, 0.99, 1.00, 1.01, 0.98, 1.00, 1.02, 1.01], 1.15, False, "met"),
        ([1.30, 1.32, 1.28, 1.31, 1.29, 1.30, 1.33, 1.27, 1.30, 1.31], 1.15, False, "MISSED"),
        ([1.05, 1.25, 1.10, 1.20, 1.12, 1.18, 1.08, 1.22, 1.15, 1.16], 1.15, False, "not decided"),
        ([0.95, 0.96, 0.94, 0.97, 0.95, 0.96, 0.95, 0.94, 0.96, 0.95], 0.85, True, "met"),
        ([0.70, 0.72, 0.71, 0.69, 0.70, 0.73, 0.71, 0.70, 0.72, 0.71], 0.85, True, "MISSED"),
        ([1.00, 1.01, 1.02, 0.99, 1.00], 1.15, False, "not judged"),  # no 95% interval from 5
        ([], 1.15, False, "not judged"),
    ],
)
def test_a_verdict_follows_the_interval(values, limit, higher_is_better, said):
    value, interval, verdict_said = verdict(values, limit, higher_is_better)
    assert verdict_said.startswith(said)
    assert decided(verdict_said) == (said in ("met", "MISSED"))
    if bounds := median_interval(values):
        low, high = bounds
        assert low <= value <= high and interval == f"{low:.3f}–{high:.3f}"


def test_the_interval_is_the_order_statistics_a_fair_coin_allows():
    ten = [float(v) for v in range(1, 11)]
    assert median_interval(ten) == (2.0, 9.0)  # P(fewer than 2 of 10 below the median) = 1.1%
    assert median_interval(ten, 0.99) == (1.0, 10.0)
    assert median_interval(ten[:5]) is None and median_interval(ten[:6]) == (1.0, 6.0)


@pytest.mark.parametrize("n", [6, 10, 25])
def test_the_interval_covers_the_median_at_least_95_percent_of_the_time(n):
    rng = random.Random(n)
    samples = [[rng.lognormvariate(0, 0.3) for _ in range(n)] for _ in range(2000)]
    covered = sum(low <= 1.0 <= high for low, high in map(median_interval, samples))  # true median: 1
    assert covered / len(samples) >= 0.95


def test_a_target_on_its_limit_is_decided_at_most_5_percent_of_the_time(monkeypatch):
    """Blocks judged after 8, 24 and 40, stopping at the first decision: with each look at 95%,
    chance decides 6% of these runs (seeded: the same every time)."""
    rng = random.Random(3)

    def fake_blocks(systems, blocks, pairs, into, pause_ms=0):
        into["p50"] += [rng.lognormvariate(0, 0.05) for _ in range(blocks)]  # true median: the limit

    monkeypatch.setattr(measure, "paired_blocks", fake_blocks)
    runs = [blocks_until_decided(None, 8, 1, 1.0, new_blocks(), last_look=5) for _ in range(2000)]
    assert {len(run["p50"]) for run in runs} == {8, 24, 40} and runs[0]["looks"] == 3
    wrong = sum(decided(verdict(run["p50"], 1.0, looks=run["looks"])[2]) for run in runs)
    assert wrong / len(runs) <= 0.05


def test_the_longer_pairs_go_once_to_each_open_path_then_every_target_is_judged_again():
    """Two targets on one path share its longer pairs: neither is judged a third time."""
    runner = Runner.__new__(Runner)
    runner.routes = {target.path: None for target in TARGETS}
    steady = ({"p50": 1.0, "p99": 1.0, "rps": 1.0, "cpu_ms": 1.0}, {"p50": 1.0, "p99": 1.0, "rps": 1.0, "cpu_ms": 1.0})
    runner.pairs = {(target.path, target.c): [steady] * 10 for target in TARGETS}
    # The cached p99 left open after the rounds: half its pairs well over its 1.20, half under.
    cached = [({**steady[0], "p99": 1.5 if n % 2 else 0.9}, steady[1]) for n in range(10)]
    runner.pairs[("discovery-cached", 1)] = cached
    asked = []
    runner.pair = lambda path, c, seconds, path_first: asked.append((path, c)) or runner.pairs[(path, c)].append(steady)
    extra = runner.decide(3, 16)
    assert asked == [("discovery-cached", 1)] * 16
    assert extra["discovery-cached p50 / baseline, c=1"] == extra["discovery-cached p99 / baseline, c=1"] == 16
    assert extra["gateway (default) p50 / baseline, c=1"] == 0
