"""make bench: every path measured side by side (run.py), and its parts that run on their own."""

import argparse
import json
import signal
import sys


def stop_on_sigterm():
    """`kill` (SIGTERM) stops a bench as Ctrl-C does: through the finally blocks that stop its
    demos (the default action ends Python at once and leaves them running)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def run_alone(doc, run, render, name):
    """`python -m bench.<part> [--short]`: one part of make bench by itself (a table and its JSON)."""
    from localmode.process import ROOT

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--short", action="store_true")
    args = parser.parse_args()
    stop_on_sigterm()
    result = run(args.short, ROOT / ".run" / "bench" / name)
    print(render(result))
    print(json.dumps(result, indent=1))
    return 0
