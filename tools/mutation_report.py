"""What ``make mutate`` found: per module, the share of mutants the tests killed, and each
survivor by name (``.venv/bin/mutmut show NAME`` prints its diff).

Reads mutmut's own results (``mutants/**/*.py.meta``). A mutant counts as killed when a
test failed or timed out on it; one that no test reached counts against the score, like
a survivor: a behaviour nobody checks is the point of the exercise."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1, 3, 36, 24, -24, 152, 255, 37}  # failed, pytest error, timeouts, type check
SURVIVED = {0}
NO_TESTS = {5, 33}


def summarise(root: Path) -> tuple[dict[str, Counter], dict[str, list[str]]]:
    counts: dict[str, Counter] = {}
    survivors: dict[str, list[str]] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        module = str(meta.relative_to(root))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        tally = counts.setdefault(module, Counter())
        for name, code in sorted(codes.items()):
            if code in KILLED:
                tally["killed"] += 1
            elif code in SURVIVED or code in NO_TESTS:
                tally["survived" if code in SURVIVED else "no tests"] += 1
                survivors.setdefault(module, []).append(name)
            elif code is None:
                tally["not checked"] += 1
            else:
                tally["other"] += 1
    return counts, survivors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("mutants"))
    parser.add_argument("--target", type=float, default=95.0, help="least share killed, in percent")
    args = parser.parse_args(argv)
    counts, survivors = summarise(args.root)
    if not counts:
        print(f"no mutmut results under {args.root}/: run `make mutate`", file=sys.stderr)
        return 2
    met = True
    for module, tally in counts.items():
        checked = tally["killed"] + tally["survived"] + tally["no tests"]
        share = 100.0 * tally["killed"] / checked if checked else 0.0
        met &= share >= args.target and not tally["not checked"]
        print(f"{module}: {tally['killed']} of {checked} mutants killed ({share:.1f}%), "
              f"{tally['survived']} survived, {tally['no tests']} reached by no test, "
              f"{tally['not checked']} not checked")
        for name in survivors.get(module, []):
            print(f"  survived: {name}")
    print(f"target {args.target:.0f}% killed per module: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
