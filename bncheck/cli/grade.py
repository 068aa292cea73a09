"""Grade a whole class's batch-norm code in the sandbox, with partial credit and feedback.

SUBMISSIONS is a folder with one sub-folder or .py file per student (the id is its
name), a Canvas or Moodle download, a Gradescope export, or a .zip of one. Each
function the rubric names is checked with the battery of `bncheck verify`, on inputs
drawn from a seed per student (from the student's id and --seed-salt). Results go to a
journal in --out as they finish: run the same command again after a crash or a kill
and only the unfinished submissions are graded; the outputs are the same bytes.

Exit 0 when grading completed, whatever the scores; 2 for a usage or rubric error;
3 for a bug in bncheck.

examples:
  bncheck grade --init-rubric rubric.toml        write the default rubric, to edit
  bncheck grade submissions/ --rubric rubric.toml --out grades/
  bncheck grade class.zip --shard 2/4 --out shard2/   (then: bncheck grade merge shard*/ --out all/)
  bncheck grade merge shard1/ shard2/ --out grades/
  bncheck grade --gradescope                      inside Gradescope's autograder container
  bncheck grade --gradescope-bundle DIR           write DIR/autograder.zip to upload
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

HELP = "grade a class's submissions: sandboxed, partial credit, Gradescope results"
SALT_ENV = "BNCHECK_SEED_SALT"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        metavar="SUBMISSIONS",
        nargs="*",
        help="the class's folder or zip; or: merge DIR... (the --out folders of shards)",
    )
    parser.add_argument("--rubric", metavar="RUBRIC.toml", help="default: the built-in rubric")
    parser.add_argument(
        "--out", metavar="DIR", default="bncheck-grades", help="default ./bncheck-grades"
    )
    parser.add_argument(
        "--jobs", type=int, metavar="N", help="students graded at once (default: the cores)"
    )
    parser.add_argument(
        "--seed-salt",
        metavar="SECRET",
        help=f"secret mixed into each student's seed (default: ${SALT_ENV}; without one, "
        "anyone who knows a student's id can compute their inputs)",
    )
    parser.add_argument(
        "--shard", metavar="K/N", help="grade the K-th of N slices of the class (1-based)"
    )
    parser.add_argument(
        "--init-rubric", metavar="FILE", help="write the default rubric to FILE and exit"
    )
    parser.add_argument(
        "--no-timing",
        action="store_true",
        help="leave rates and durations out of the progress lines and the summary "
        "(a log that is the same on every run)",
    )
    parser.add_argument(
        "--gradescope",
        action="store_true",
        help="inside Gradescope's container: grade /autograder/submission into "
        "/autograder/results/results.json",
    )
    parser.add_argument(
        "--gradescope-bundle", metavar="DIR", help="write DIR/autograder.zip for Gradescope"
    )
    parser.add_argument(
        "--autograder-root",
        metavar="DIR",
        default="/",
        help=argparse.SUPPRESS,  # tests: a fake tree in place of /autograder
    )


def run(args: argparse.Namespace, console: Any) -> int:
    from bncheck.errors import UsageError

    if args.init_rubric:
        return _init_rubric(Path(args.init_rubric), console)
    if args.gradescope_bundle:
        return _bundle(args, console)
    salt = _salt(args, console)
    if args.gradescope:
        from bncheck.grade.gradescope import run_in_container

        rubric_path = Path(args.rubric) if args.rubric else None
        grade = run_in_container(Path(args.autograder_root), rubric_path, salt)
        console.print(
            f"graded {grade.student}: {grade.score:g} of {grade.max_score:g}", markup=False
        )
        return 0
    if args.paths and args.paths[0] == "merge":
        return _merge(args, console)
    if len(args.paths) != 1:
        raise UsageError(
            "give one SUBMISSIONS folder or zip" + (", not several" if args.paths else ""),
            "bncheck grade submissions/ --out grades/  (or: bncheck grade merge DIR... --out DIR)",
        )
    return _grade(args, console, salt)


def _init_rubric(path: Path, console: Any) -> int:
    from bncheck.cli.output import write_atomic
    from bncheck.errors import UsageError
    from bncheck.grade.rubric import DEFAULT_RUBRIC

    if path.exists():
        raise UsageError(f"{path} exists", "give a new file name, or remove it first")
    write_atomic(str(path), DEFAULT_RUBRIC)
    console.print(f"wrote {path}: edit it, then bncheck grade SUBMISSIONS --rubric {path}")
    return 0


def _bundle(args: argparse.Namespace, console: Any) -> int:
    from bncheck.grade.gradescope import write_bundle
    from bncheck.grade.rubric import DEFAULT_RUBRIC, load_rubric

    rubric = load_rubric(Path(args.rubric) if args.rubric else None)  # validated first
    source = rubric.source or DEFAULT_RUBRIC
    written = write_bundle(Path(args.gradescope_bundle), source)
    console.print(f"wrote {written}", markup=False)
    return 0


def _salt(args: argparse.Namespace, console: Any) -> str:
    salt = args.seed_salt if args.seed_salt is not None else os.environ.get(SALT_ENV, "")
    if not salt and not args.gradescope:
        from rich.text import Text

        console.print(
            Text(
                f"warning: no --seed-salt and no ${SALT_ENV}: each student's inputs follow "
                "from their id alone, so anyone can compute them; set a secret to prevent that",
                style="yellow",
            )
        )
    return salt or ""


def _shard(text: str | None) -> tuple[int, int] | None:
    from bncheck.errors import UsageError

    if text is None:
        return None
    k, _, n = text.partition("/")
    try:
        shard = int(k), int(n)
    except ValueError:
        shard = (0, 0)
    if not 1 <= shard[0] <= shard[1]:
        raise UsageError(f"--shard {text!r} is not K/N with 1 <= K <= N", "e.g. --shard 2/4")
    return shard


_WORK = ".bncheck-work-"


def _grade(args: argparse.Namespace, console: Any, salt: str) -> int:
    from bncheck.errors import UsageError
    from bncheck.grade.discover import find_submissions
    from bncheck.grade.engine import grade_all
    from bncheck.grade.journal import FILE, Journal
    from bncheck.grade.rubric import load_rubric

    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}", "e.g. --jobs 2")
    shard = _shard(args.shard)
    rubric = load_rubric(Path(args.rubric) if args.rubric else None)
    source, out = Path(args.paths[0]), Path(args.out)
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise UsageError(
            f"--out {out} is inside the submissions {source}", "give --out another folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    # the students' files as graded, in a folder of ours: never a user's own out/work
    for left in out.glob(f"{_WORK}*"):  # left over by a killed run
        shutil.rmtree(left, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=_WORK, dir=out))
    try:
        subs = find_submissions(source, work)
        with Journal(out / FILE) as journal:
            journal.set_rubric(rubric)
            total = len(subs) if shard is None else len(subs[shard[0] - 1 :: shard[1]])
            with _Progress(console, total, timing=not args.no_timing) as progress:
                grades = grade_all(subs, rubric, salt, out, jobs, shard, progress.update, journal)
            journal.set_current(g.student for g in grades)
            final = journal.grades()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _write(final, rubric, out, console, timing=not args.no_timing)
    return 0


def _merge(args: argparse.Namespace, console: Any) -> int:
    from bncheck.errors import UsageError
    from bncheck.grade.journal import FILE, merge

    folders = [Path(p) for p in args.paths[1:]]
    out = Path(args.out)
    if out.resolve() in {f.resolve() for f in folders}:
        raise UsageError("--out must be a new folder, not one of the shards", "e.g. --out all/")
    with merge([f / FILE for f in folders], out) as journal:
        rubric = journal.rubric()
        grades = journal.grades()
    if rubric is None:
        raise UsageError("the shards hold no rubric: were they graded?", "grade them first")
    _write(grades, rubric, out, console, timing=not args.no_timing)
    return 0


def _write(grades: list[Any], rubric: Any, out: Path, console: Any, timing: bool = True) -> None:
    from bncheck.grade.outputs import write_outputs
    from bncheck.report.grade import summary

    write_outputs(grades, rubric, out)
    summary(grades, rubric, console, timing=timing)
    console.print(f"wrote the outputs to {out}", markup=False)


class _Progress:
    """A rich progress bar on a terminal; plain lines (every 5 %) elsewhere."""

    def __init__(self, console: Any, total: int, timing: bool = True) -> None:
        self.console, self.total, self.timing = console, total, timing
        self.done = self.failed = self.resumed = 0
        self.started = time.monotonic()
        self.bar: Any = None
        self.task: Any = None
        self.step = max(1, total // 20)

    def __enter__(self) -> _Progress:
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress(
                TextColumn("grading"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[flags]}"),
                console=self.console,
            )
            self.bar.__enter__()
            self.task = self.bar.add_task("grade", total=self.total, rate="", flags="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def update(self, grade: Any, resumed: bool) -> None:
        self.done += 1
        self.resumed += resumed
        self.failed += bool(grade.flags)
        graded = self.done - self.resumed
        seconds = max(time.monotonic() - self.started, 1e-9)
        rate = f"{graded / seconds:.1f}/s" if graded else "resumed"
        plural = "s" if self.failed != 1 else ""
        flags = f"{self.failed} student{plural} flagged" if self.failed else ""
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, rate=rate, flags=flags)
        elif self.done % self.step == 0 or self.done == self.total:
            if not self.timing:  # counts only: the same log on every run
                journal = f"{self.resumed} from the journal" if self.resumed else ""
                extra = ", ".join(x for x in (journal, flags) if x)
                self.console.print(
                    f"graded {self.done}/{self.total}" + (f" ({extra})" if extra else ""),
                    markup=False,
                )
                return
            line = f"graded {self.done}/{self.total} ({rate}"
            if graded and self.done < self.total:
                line += f", about {(self.total - self.done) * seconds / graded:.0f} s left"
            line += f", {self.resumed} from the journal" if self.resumed else ""
            line += f", {flags})" if flags else ")"
            self.console.print(line, markup=False, highlight=False)
