"""What the outbox row itself costs an order: the same order with its event written to the
outbox, and without any event (NOTIFY=off), with nothing publishing or consuming meanwhile.

    python -m bench.outbox [--short]     (make bench runs it after the paths)

bench/run.py's `baseline-no-outbox` path compares the order with its whole asynchronous half
(the relay publishing, NATS, notification-service consuming), which on the bench's one CPU runs
beside the requests. Here the broker is stopped in the outbox demo, so the relay has nothing to
publish to: rows stay in the outbox, and what the order pays is the INSERT in its transaction.
Paired wrk runs at c=1, the order of each pair alternating; the messaging issue's target is
≤ 1.05×.
"""

import requests

from bench import run_alone
from bench.measure import hard_coded, pin_to_system_cpus, verdict, wrk

LIMIT = 1.05


def demos(workdir):
    return {
        "outbox": hard_coded(workdir / "outbox", 13000, NOTIFY="events"),
        "none": hard_coded(workdir / "no-event", 14000, NOTIFY="off"),
    }


def run(short, workdir):
    pairs, seconds = (2, 1) if short else (40, 1)  # 16 left it undecided (0.975–1.087): more pairs
    systems = demos(workdir)
    started = []
    try:
        for demo in systems.values():
            started.append(demo.start())
            requests.post(f"{demo.user_url}/users", json={"name": "Alice"}, timeout=10).raise_for_status()
        systems["outbox"].processes["nats"].stop()  # the relay has nowhere to publish: rows wait
        urls = {name: f"{demo.order_url}/orders" for name, demo in systems.items()}
        for url in urls.values():
            wrk("POST", url, 1, 1)  # warm-up
        runs = {"outbox": [], "none": []}
        for n in range(pairs):
            for name in ("outbox", "none") if n % 2 else ("none", "outbox"):
                runs[name].append(wrk("POST", urls[name], 1, seconds))
        waiting = requests.get(f"{systems['outbox'].order_url}/health", timeout=5).json()["outbox_depth"]
    finally:
        for demo in reversed(started):
            demo.stop()
    ratios = [a["p50"] / b["p50"] for a, b in zip(runs["outbox"], runs["none"], strict=True)]
    value, interval, said = verdict(ratios, LIMIT)
    return {
        "p50_outbox": sorted(r["p50"] for r in runs["outbox"])[pairs // 2],
        "p50_none": sorted(r["p50"] for r in runs["none"])[pairs // 2],
        "ratio": value,
        "interval": interval,
        "verdict": said,
        "pairs": pairs,
        "rows_waiting": waiting,
    }


def render(result):
    return "\n".join(
        [
            "**The outbox row alone**: the order with its event written to the outbox (broker stopped, so",
            "nothing publishes or consumes) against the order without an event (NOTIFY=off), paired at c=1.",
            "",
            f"p50 {result['p50_outbox']:.2f} ms with the row, {result['p50_none']:.2f} ms without: "
            f"{result['ratio']:.3f}× ({result['interval']}, {result['pairs']} pairs), target ≤ {LIMIT}: "
            f"{result['verdict']}; {result['rows_waiting']} rows waited in the outbox.",
            "",
        ]
    )


def check(result):
    """The row for the targets table."""
    label = "order p50 with its outbox row / without an event, nothing consuming, c=1"
    wanted = f"≤ {LIMIT}"
    return (label, f"{result['ratio']:.3f}", result["interval"], "-", wanted, result["verdict"], str(result["pairs"]))


def main():
    pin_to_system_cpus()
    return run_alone(__doc__, run, render, "outbox")


if __name__ == "__main__":
    raise SystemExit(main())
