"""How fast ``bncheck grade`` grades a class, and what the sandbox costs per submission.

    python benchmarks/bench_grade.py [--students 500] [--jobs 2] [--rounds 15] [--no-torch]

Makes a class from the bundled correct and buggy examples with small variations (local
variables renamed, independent statements swapped, comments added: no two files are
the same), grades it with ``grade_all`` (the engine of ``bncheck grade``) into a fresh
--out, and reports submissions per second, overall and per style. Then, interleaved,
the start-up of a sandboxed child that imports numpy and runs no call, against a bare
``python -c "import numpy"``: medians and the median of the paired differences.

The rubric is the test rubric (tests/grade/test_engine.py): every style detected,
batchnorm_backward and the optional batchnorm_backward_alt.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bncheck import examples

RENAMES = ("dbeta", "dgamma", "xhat", "inv_std", "xmu", "dxhat", "dvar", "dmu", "var", "mu")


def vary(source: str, k: int, rng: random.Random) -> str:
    """One student's version: renamed locals, a swapped pair of statements, comments."""
    text = source
    for name in rng.sample(RENAMES, 4):
        text = re.sub(rf"(?<![\"'.]){re.escape(name)}\b(?![\"'])", f"{name}_{k}", text)
    lines = text.splitlines()
    for i in range(len(lines) - 1):  # dbeta and dgamma do not depend on each other
        a, b = lines[i].strip(), lines[i + 1].strip()
        if a.startswith("dbeta") and b.startswith("dgamma") and rng.random() < 0.5:
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
    out = [f"# submission {k}: {rng.choice(['v1', 'final', 'fixed', 'draft 3'])}"]
    for line in lines:
        out.append(line)
        if line.startswith("def ") and rng.random() < 0.7:
            indent = "    "
            out.append(f"{indent}# student note {rng.randrange(10**6)}")
    return "\n".join(out) + "\n"


def make_class(root: Path, n: int, torch: bool, seed: int = 0) -> dict[str, str]:
    rng = random.Random(seed)
    names = [c for c in examples.CORRECT if torch or c != "torch_correct.py"]
    names += list(examples.BUGS)
    styles = {}
    for k in range(n):
        name = names[k % len(names)]
        source = examples.path(name).read_text(encoding="utf-8")
        student = f"student{k:04d}"
        (root / student).mkdir(parents=True)
        (root / student / "layers.py").write_text(vary(source, k, rng), encoding="utf-8")
        styles[student] = "torch" if "torch" in name else "plain" if "plain" in name else "cs231n"
    return styles


def startup_costs(rounds: int) -> tuple[list[float], list[float]]:
    """Interleaved: a sandboxed child (numpy, no calls) vs python -c 'import numpy'."""
    from bncheck import runner
    from bncheck.runner import batch

    sandbox, bare = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        running = runner.spawn(("numpy",))
        job = runner.Job(Path(examples.path("plain_correct.py")), {"backward": "x"}, [])
        batch.send_all(running, [job])
        batch.wait_all(running, [job], 30.0)
        sandbox.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import numpy"], check=True)
        bare.append(time.perf_counter() - t)
    return sandbox, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-torch", action="store_true", help="leave the torch example out")
    args = parser.parse_args()

    from bncheck.grade.discover import find_submissions
    from bncheck.grade.engine import grade_all
    from tests.grade.test_engine import make_rubric

    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        root = Path(tmp)
        styles = make_class(root / "class", args.students, not args.no_torch)
        subs = find_submissions(root / "class", root / "work")
        rubric = make_rubric(timeout=60)
        started = time.perf_counter()
        grades = grade_all(subs, rubric, "bench", root / "out", jobs=args.jobs)
        wall = time.perf_counter() - started
    flagged = sum(bool(g.flags) for g in grades)
    print(f"{len(grades)} submissions in {wall:.1f} s with --jobs {args.jobs}: "
          f"{len(grades) / wall:.2f} per second ({flagged} flagged)")  # fmt: skip
    for style in ("cs231n", "plain", "torch"):
        seconds = [g.seconds for g in grades if styles[g.student] == style]
        if seconds:
            median = statistics.median(seconds)
            print(f"  {style:7} {len(seconds):4} submissions, median {median:.3f} s each")
    sandbox, bare = startup_costs(args.rounds)
    diff = [s - b for s, b in zip(sandbox, bare, strict=True)]
    print(f"sandboxed child (numpy, no calls): median {statistics.median(sandbox):.3f} s; "
          f"python -c 'import numpy': {statistics.median(bare):.3f} s; "
          f"overhead (median of paired differences) {statistics.median(diff):+.3f} s "
          f"over {args.rounds} interleaved rounds")  # fmt: skip


if __name__ == "__main__":
    main()
