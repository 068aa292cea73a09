"""The instructor's terminal summary of a grading run (rich lives in report/ and cli/)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from bncheck.grade.mistakes import class_counts
from bncheck.grade.model import Flag, StudentGrade
from bncheck.grade.outputs import RubricInfo, by_student, points_text

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["summary"]


def _histogram(scores: Sequence[float], best: float, bins: int = 10, width: int = 30) -> list[str]:
    counts = [0] * bins
    for s in scores:
        share = s / best if best > 0 else 1.0
        counts[min(bins - 1, max(0, int(share * bins)))] += 1
    top = max(counts, default=0) or 1
    rows = []
    for k, n in enumerate(counts):
        low, high = 100 * k // bins, 100 * (k + 1) // bins
        bar = "#" * math.ceil(width * n / top) if n else ""
        rows.append(f"{f'{low}-{high}%':>8} {bar:<{width}} {n}")
    return rows


def summary(
    grades: Sequence[StudentGrade],
    rubric: RubricInfo,
    console: Console,
    *,
    top: int = 10,
    timing: bool = True,
) -> None:
    """The instructor's summary: score distribution, the checks most often failed, the
    mistakes the diagnosis named most often (``grade.mistakes``), flagged submissions
    (with the details a student never sees) and the slowest submissions."""
    ordered = by_student(grades)
    best = max((g.max_score for g in ordered), default=0.0)
    console.print(
        Text(f"Graded {len(ordered)} submission(s); rubric {rubric.digest[:12]}.", style="bold")
    )
    if not ordered:
        return
    mean = sum(g.score for g in ordered) / len(ordered)
    console.print(
        Text(f"Score distribution (of {points_text(best)} points; mean {points_text(mean)}):")
    )
    for row in _histogram([g.score for g in ordered], best):
        console.print(Text("  " + row), overflow="ignore", crop=False, soft_wrap=True)

    failed: dict[str, int] = {}
    for g in ordered:
        for fn in g.functions:
            for c in fn.checks:
                if c.passed is False:
                    key = f"{fn.function}: {c.id}"
                    failed[key] = failed.get(key, 0) + 1
    if failed:
        table = Table(title=f"Checks failed most often (top {top})", title_justify="left")
        table.add_column("check")
        table.add_column("students failed", justify="right")
        for key, n in sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
            table.add_row(Text(key), f"{n} of {len(ordered)}")
        console.print(table)
    else:
        console.print(Text("No check failed."))

    counts = class_counts(ordered)
    if counts:  # what the diagnosis named, once per student
        console.print(Text(f"Mistakes the diagnosis named (top {top}):"))
        for count in counts[:top]:
            console.print(Text(f"  {count.line()}"))

    flagged: list[tuple[str, Flag]] = [(g.student, f) for g in ordered for f in g.flags]
    if flagged:
        table = Table(title=f"Flagged submissions ({len(flagged)})", title_justify="left")
        for name in ("student", "kind", "function", "what happened"):
            table.add_column(name)
        for student, f in flagged:
            table.add_row(Text(student), f.kind, Text(f.function), Text(f.message))
        console.print(table)

    if not timing:
        return
    slow = sorted(ordered, key=lambda g: (-g.seconds, g.student))[: min(top, 5)]
    table = Table(title="Slowest submissions", title_justify="left")
    table.add_column("student")
    table.add_column("seconds", justify="right")
    for g in slow:
        table.add_row(Text(g.student), f"{g.seconds:.2f}")
    console.print(table)
