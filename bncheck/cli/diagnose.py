"""The catalog of classic mistakes that bncheck verify names in its "Diagnosis" section.

Each entry is a change to the forward graph or to the chain rule; SymPy derives the wrong
gradient it gives, as it derives the right one. --list prints the catalog and the
normalizations each entry applies to; --explain ID prints one entry: the derivation step
it breaks, what to look at, and each staged step it changes, the right equation and the
one with the mistake.

examples:
  bncheck diagnose --list
  bncheck diagnose --list --norm layernorm
  bncheck diagnose --explain mean-path-dropped
  bncheck diagnose --explain dvar-exponent --norm layernorm
  bncheck verify --explain mean-path-dropped        (the same)
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bncheck.diagnose.catalog import Mistake
    from bncheck.report.diagnosis import CatalogRow, Explanation
    from bncheck.spec import NormSpec

HELP = "the classic mistakes verify can name; --explain ID shows one in the derivation"
# the presets of bncheck.spec.SPECS, written out so that --help imports no numpy
_NORMS = ("batchnorm", "spatial_batchnorm", "layernorm", "groupnorm", "instancenorm", "rmsnorm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--list", action="store_true", help="list the catalog, and where it applies")
    what.add_argument("--explain", metavar="ID", help="show one mistake in the derivation")
    parser.add_argument(
        "--norm",
        choices=_NORMS,
        help="--list: only this normalization; --explain: derive for it (default batchnorm)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write it as JSON")


def run(args: argparse.Namespace, console: Any) -> int:
    from bncheck.cli.output import check_writable

    if args.json:
        check_writable(args.json, option="--json")
    if args.list:
        return list_catalog(console, args.norm, args.json)
    return explain(console, args.explain, args.norm or "batchnorm", args.json)


# ------------------------------------------------------------------ --list


def catalog_rows(norms: list[str]) -> list[CatalogRow]:
    """Each entry, and per preset whether it applies: "yes" (derived by SymPy), "seen by
    ROWS" (the battery rows that show it, where they run), or "-"."""
    from bncheck.check.battery import CHECKS
    from bncheck.diagnose import CATALOG
    from bncheck.report.diagnosis import CatalogRow
    from bncheck.spec import SPECS

    rows = []
    for m in CATALOG:
        cells = []
        for name in norms:
            spec = SPECS[name]
            if m.derived:
                cells.append((name, "yes" if m.derive(spec) else "-"))
                continue
            seen = [
                c.id for c in CHECKS if c.id in m.seen_by and (c.holds is None or c.holds(spec))
            ]
            cells.append((name, f"seen by {', '.join(seen)}" if seen else "-"))
        rows.append(CatalogRow(m.id, m.name, m.step, tuple(cells)))
    return rows


def list_catalog(console: Any, norm: str | None, json_path: str | None) -> int:
    from bncheck.report.diagnosis import print_catalog
    from bncheck.spec import SPECS

    norms = [norm] if norm else list(SPECS)
    rows = catalog_rows(norms)
    print_catalog(console, rows, norms)
    if json_path:
        _write_json(console, json_path, {"mistakes": [r.to_dict() for r in rows]})
    return 0


# ------------------------------------------------------------------ --explain


def _mistake(mistake_id: str) -> Mistake:
    from bncheck.cli import check_choice
    from bncheck.diagnose import CATALOG, by_id

    check_choice("mistake", mistake_id, [m.id for m in CATALOG])
    return by_id(mistake_id)


def explanation(mistake_id: str, norm: str = "batchnorm") -> Explanation:
    """The entry ``mistake_id`` for the preset ``norm``: each form's changed steps.

    A UsageError for an unknown id (with a close match) or one that does not apply.
    """
    from bncheck.diagnose.mutants import mutant
    from bncheck.emit.notation import equation_unicode
    from bncheck.errors import UsageError
    from bncheck.report.diagnosis import ChangedStep, Explanation
    from bncheck.spec import SPECS, get_spec
    from bncheck.symbolic import derive

    m = _mistake(mistake_id)
    spec: NormSpec = get_spec(norm)
    forms = m.derive(spec)
    if m.derived and not forms:
        where = [n for n, s in SPECS.items() if m.derive(s)]
        raise UsageError(
            f"mistake {m.id!r} does not apply to {norm}",
            f"it applies to: {', '.join(where)} (--norm NAME)",
            code="mistake-not-applicable",
        )
    right = {s.key: s for s in derive(spec).staged}
    explained = []
    for label, change in forms:
        changed = tuple(
            ChangedStep(
                s.key,
                s.title,
                equation_unicode(s.lhs, right[s.key].rhs),
                equation_unicode(s.lhs, s.rhs),
            )
            for s in mutant(spec, change).steps
            if s.key in right and s.rhs != right[s.key].rhs
        )
        explained.append((label, changed))
    return Explanation(m.id, m.name, m.step, m.hint, norm, m.seen_by, tuple(explained))


def explain(
    console: Any, mistake_id: str, norm: str = "batchnorm", json_path: str | None = None
) -> int:
    """``bncheck diagnose --explain ID`` (and ``bncheck verify --explain ID``)."""
    import dataclasses

    from bncheck.report.diagnosis import print_explanation

    e = explanation(mistake_id, norm)
    print_explanation(console, e)
    if json_path:
        _write_json(console, json_path, dataclasses.asdict(e))
    return 0


def _write_json(console: Any, path: str, data: dict[str, Any]) -> None:
    import json

    from bncheck.cli.output import write_atomic

    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    console.print(f"wrote {path}", markup=False)
