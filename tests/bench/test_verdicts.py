"""The bench's judge on made-up ratios: a target is met or MISSED only when the whole interval
of the median says so, either way round (lower or higher is better), and never on too few."""

import pytest

from bench.measure import decided, median_interval, verdict


@pytest.mark.parametrize(
    "values, limit, higher_is_better, said",
    [
        ([1.00, 1.01, 1.02, 0.99, 1.00, 1.01, 0.98, 1.00, 1.02, 1.01], 1.15, False, "met"),
        ([1.30, 1.32, 1.28, 1.31, 1.29, 1.30, 1.33, 1.27, 1.30, 1.31], 1.15, False, "MISSED"),
        ([1.05, 1.25, 1.10, 1.20, 1.12, 1.18, 1.08, 1.22, 1.15, 1.16], 1.15, False, "not decided"),
        ([0.95, 0.96, 0.94, 0.97, 0.95, 0.96, 0.95, 0.94, 0.96, 0.95], 0.85, True, "met"),
        ([0.70, 0.72, 0.71, 0.69, 0.70, 0.73, 0.71, 0.70, 0.72, 0.71], 0.85, True, "MISSED"),
        ([1.00, 1.01], 1.15, False, "not judged"),
        ([], 1.15, False, "not judged"),
    ],
)
def test_a_verdict_follows_the_interval(values, limit, higher_is_better, said):
    value, interval, verdict_said = verdict(values, limit, higher_is_better)
    assert verdict_said.startswith(said)
    assert decided(verdict_said) == (said in ("met", "MISSED"))
    if len(values) >= 3:
        low, high = median_interval(values)
        assert low <= value <= high and interval == f"{low:.3f}–{high:.3f}"


def test_the_interval_of_the_median_lies_within_the_values_and_narrows_with_more():
    few = [1.0, 1.2, 0.9, 1.1, 1.05]
    many = few * 8
    assert min(few) <= median_interval(few)[0] <= median_interval(few)[1] <= max(few)
    assert median_interval(many)[1] - median_interval(many)[0] < median_interval(few)[1] - median_interval(few)[0]
