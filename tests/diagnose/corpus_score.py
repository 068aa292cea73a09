"""Score the diagnoser on the labelled corpus (``corpus/__init__.py``): right, wrong, and
"no known mistake" (with an attribution), per file and in total.

Run:  python -m tests.diagnose.corpus_score [--seeds 1,2,3]

Outcomes of one file on one seed:

* right: the findings are exactly the labelled mistakes (a correct file: none, and it passes);
* partly: the findings are some of the labelled mistakes, and nothing else (two mistakes,
  one named);
* ambiguous: the labelled mistake is among several the diagnoser could not tell apart;
* unknown: "no known mistake matches" (the right outcome for an "outside-catalog" file);
* wrong: a finding that is not a labelled mistake, or a correct file given a diagnosis.
  This is the number that must be 0.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from bncheck.check.api import VerifyOptions, preset, verify
from bncheck.check.evidence import CheckOptions
from bncheck.spec import get_spec
from tests.diagnose.corpus import CORPUS

HERE = Path(__file__).with_name("corpus")
OUTSIDE = "outside-catalog"


def outcome(labels: tuple[str, ...], passed: bool, status: str, ids: tuple[str, ...]) -> str:
    found = set(ids)
    if not labels:
        return "right" if passed and status == "none" and not found else "wrong"
    if labels == (OUTSIDE,):
        return "unknown" if not found and status == "unknown" else ("wrong" if found else status)
    want = set(labels)
    if status == "ambiguous":
        return "ambiguous" if want & found else "wrong"
    if found and not found <= want:
        return "wrong"
    if found == want:
        return "right"
    if found:
        return "partly"
    return "unknown"


def run(name: str, seed: int, autograd: str = "off") -> tuple[str, str, tuple[str, ...]]:
    norm, style, labels = CORPUS[name]
    options = VerifyOptions(
        spec=preset(norm, get_spec(norm)),
        style=style,
        seed=seed,
        checks=CheckOptions(autograd=autograd),
    )
    result = verify(str(HERE / name), options)
    d = result.diagnosis
    status, ids = ("none", ()) if d is None else (d.status, d.ids)
    return outcome(labels, result.passed, status, ids), status, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="1", help="comma-separated seeds")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    totals: Counter[str] = Counter()
    for name in sorted(CORPUS):
        norm, style, labels = CORPUS[name]
        for seed in seeds:
            result, status, ids = run(name, seed)
            totals[result] += 1
            print(
                f"{result:9s} {name:42s} {norm:10s} {style:6s} seed {seed}  "
                f"labelled {','.join(labels) or 'correct'}  found {','.join(ids) or status}"
            )
    buggy = sum(1 for v in CORPUS.values() if v[2] and v[2] != (OUTSIDE,))
    outside = sum(1 for v in CORPUS.values() if v[2] == (OUTSIDE,))
    correct = sum(1 for v in CORPUS.values() if not v[2])
    print(
        f"\n{len(CORPUS)} files ({buggy} with catalog mistakes, {outside} outside the catalog, "
        f"{correct} correct) x {len(seeds)} seed(s): "
        + ", ".join(
            f"{k} {totals[k]}" for k in ("right", "partly", "ambiguous", "unknown", "wrong")
        )
    )


if __name__ == "__main__":
    main()
