"""make bench: every path measured side by side (run.py), and its parts that run on their own."""

import argparse
import json


def run_alone(doc, run, render, name):
    """`python -m bench.<part> [--short]`: one part of make bench by itself (a table and its JSON)."""
    from localmode.process import ROOT

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--short", action="store_true")
    args = parser.parse_args()
    result = run(args.short, ROOT / ".run" / "bench" / name)
    print(render(result))
    print(json.dumps(result, indent=1))
    return 0
