"""What the outbox costs an order: the same order with its event (the outbox row, the relay
publishing it to NATS) and without any event (NOTIFY=off). notification-service is stopped, so
nothing consumes: its cost is bench/run.py's `baseline-no-outbox` comparison.

    python -m bench.outbox [--short]     (make bench runs it after the paths)

The two systems are asked in turn, one order each (bench/interleave.py), in blocks; per block
the ratio of the p50s and of the CPU time per order (every process of each demo, NATS's too).
Rounds alternate which system gets which ports and starts first. Three ways, one run:

- paced: a pause after each answer, so the bench's one CPU has time for the asynchronous half, as
  a service that is not saturated has: what the order's client waits. The messaging issue's
  target, ≤ 1.05×.
- back to back, publishing: no pause. What the relay and NATS do then delays whichever order
  comes next, of either system, so the p50 ratio is not the outbox's alone; the CPU ratio is:
  what the event costs the system.
- the row alone: the broker stopped, rows wait. The INSERT in the order's transaction and the
  relay's wake-up, nothing else.
"""

import shutil

import requests

from bench import run_alone
from bench.measure import hard_coded, judged, judged_row, new_blocks, paired_blocks

LIMIT = 1.05
PAUSE_MS = 4  # about the order's own time here: the CPU is half idle


def demos(workdir, swapped):
    """The two systems; `swapped` trades their ports and start order. Two instances of one and the
    same demo differ by ~2% here (an A/A run: memory layout, hash seeds), so the rounds alternate."""
    bases = (14000, 13000) if swapped else (13000, 14000)
    return {
        "outbox": hard_coded(workdir / "outbox", bases[0], NOTIFY="events"),
        "none": hard_coded(workdir / "no-event", bases[1], NOTIFY="off"),
    }


def measure(systems, blocks, pairs, into, pause_ms=0):
    """Blocks of interleaved orders: the p50 and CPU-per-order ratios (outbox / none) of each."""
    paired_blocks(
        [(f"{systems[name].order_url}/orders", systems[name]) for name in ("outbox", "none")],
        blocks,
        pairs,
        into,
        pause_ms,
    )


def one_round(workdir, swapped, blocks, pairs, ways):
    """Both systems started afresh; each way measured; the rows left waiting in the outbox."""
    shutil.rmtree(workdir, ignore_errors=True)  # empty databases: both systems start alike
    systems = demos(workdir, swapped)
    started = []
    try:
        for name in ("none", "outbox") if swapped else ("outbox", "none"):
            started.append(systems[name].start())
            requests.post(f"{systems[name].user_url}/users", json={"name": "Alice"}, timeout=10).raise_for_status()
        systems["outbox"].processes["notification-service"].stop()  # nothing consumes
        measure(systems, 1, 50, new_blocks())  # warm-up
        measure(systems, blocks, pairs, ways["paced"], PAUSE_MS)
        measure(systems, blocks, pairs, ways["back_to_back"])
        systems["outbox"].processes["nats"].stop()  # the relay has nowhere to publish: rows wait
        measure(systems, blocks, pairs, ways["row_alone"])
        return requests.get(f"{systems['outbox'].order_url}/health", timeout=5).json()["outbox_depth"]
    finally:
        for demo in reversed(started):
            demo.stop()


def run(short, workdir):
    rounds, blocks, pairs = (1, 3, 50) if short else (4, 4, 400)
    ways = {way: new_blocks() for way in WAYS}
    waiting = [one_round(workdir, n % 2 == 1, blocks, pairs, ways) for n in range(rounds)]
    result = {
        way: {"p50": judged(m["p50"], LIMIT), "cpu": judged(m["cpu"], LIMIT), "blocks": len(m["p50"]), "pairs": pairs}
        | {"errors": m["errors"]}
        for way, m in ways.items()
    }
    result["paced"]["pause_ms"] = PAUSE_MS
    return result | {"rounds": rounds, "rows_waiting": min(waiting)}


WAYS = {
    "paced": "paced ({pause_ms} ms after each answer): row + relay publishing",
    "back_to_back": "back to back: row + relay publishing",
    "row_alone": "back to back, broker stopped: the row alone",
}


def render(result):
    lines = [
        "**The outbox's cost to the order**: the order with its event (outbox row, relay publishing to",
        "NATS; nothing consuming) and without (NOTIFY=off), asked in turn, one order each, in blocks",
        "(bench/outbox.py). Ratios outbox / none, median of the blocks and its 95% interval.",
        "",
        "| way | p50 ratio | CPU per order ratio | blocks × pairs | errors |",
        "|--|--|--|--|--|",
    ]
    for key, what in WAYS.items():
        way = result[key]
        lines.append(
            f"| {what.format(**way)} | {way['p50']['ratio']:.3f} ({way['p50']['interval']}) "
            f"| {way['cpu']['ratio']:.3f} ({way['cpu']['interval']}) | {way['blocks']} × {way['pairs']} "
            f"| {way['errors']} |"
        )
    lines += [
        "",
        f"Target ≤ {LIMIT}× on the paced p50: {result['paced']['p50']['verdict']}; the row alone: "
        f"{result['row_alone']['p50']['verdict']}. Back to back, the relay's and NATS's work lands on "
        f"the next order of either system, so only its CPU ratio is the outbox's own. "
        f"{result['rounds']} rounds, the systems' ports and start order swapped each round; at least "
        f"{result['rows_waiting']} rows waited in the outbox at the end of one.",
        "",
    ]
    return "\n".join(lines)


def checks(result):
    """The rows for the targets table."""
    rows = []
    for key, label in (
        ("paced", "order p50 with its outbox (row, relay publishing) / no event, paced, nothing consuming"),
        ("row_alone", "order p50 with its outbox row alone (broker stopped) / no event, back to back"),
    ):
        way = result[key]
        rows.append(
            judged_row(label, way["p50"], way["cpu"], LIMIT, f"{way['blocks']} blocks × {way['pairs']}, 1 look")
        )
    return rows


if __name__ == "__main__":
    raise SystemExit(run_alone(__doc__, run, render, "outbox"))
