"""The demos as JSON for machines: every per-step record, the summary numbers, the conclusion."""

from __future__ import annotations

import functools
from dataclasses import asdict
from typing import Any

from bncheck.demos.mean_dependence import MeanDependence, Run
from bncheck.demos.scale_invariance import ScaleInvariance
from bncheck.demos.tiny_init import CHAOS, TinyInit
from bncheck.report.demos import (
    conclude_mean_dependence,
    conclude_scale_invariance,
    conclude_tiny_init,
    line,
)

__all__ = ["demo_json"]


def _records(run: Run) -> list[dict[str, Any]]:
    p = run.param
    return [
        {
            "step": r.step,
            f"{p}_norm": r.norm,
            "loss": r.loss,
            p: list(r.param),
            "max_dxhat_change": r.max_dxhat,
        }
        for r in run.records
    ]


def _summary(run: Run) -> dict[str, float]:
    return {
        "drift": run.drift,
        "loss_relative_change": run.loss_change,
        "max_dxhat_change": run.max_dxhat,
    }


@functools.singledispatch
def _body(result: object) -> dict[str, Any]:
    """The demo's own fields; the builder follows the result's type."""
    raise TypeError(f"not a demo's result: {type(result).__name__}")


@_body.register
def _mean_dependence(r: MeanDependence) -> dict[str, Any]:
    s = r.derivation
    return {
        "naive": _records(r.naive),
        "full": _records(r.full),
        "summary": {"naive": _summary(r.naive), "full": _summary(r.full)},
        "scaled": {
            "naive": _records(r.scaled_naive),
            "full": _records(r.scaled_full),
            "summary": {"naive": _summary(r.scaled_naive), "full": _summary(r.scaled_full)},
        },
        "sympy": {
            "xhat_i": line(s.xhat),
            "dxhat_i/db": line(s.dxhat_db),
            "dl/db": line(s.dl_db),
            "dl/db with E[x] held fixed": line(s.dl_db_naive),
            "update difference": line(s.update_difference),
            "E[Δb]": line(s.mean_of_db[1]),
            "dxhat_i/dw (scaled, w > 0)": line(s.dxhat_dw),
        },
        "finite_difference_dl_db": r.fd_dl_db,
        "conclusion": conclude_mean_dependence(r),
    }


@_body.register
def _scale_invariance(r: ScaleInvariance) -> dict[str, Any]:
    return {
        "proof_sizes": {"m": r.sizes[0], "d_in": r.sizes[1], "d_out": r.sizes[2]},
        "identities": [
            {"name": i.name, "eps_rule": i.eps_rule, "holds": i.holds, "entries": i.entries}
            for i in r.identities
        ],
        "rows": [asdict(row) for row in r.rows],
        "conclusion": conclude_scale_invariance(r),
    }


@_body.register
def _tiny_init(r: TinyInit) -> dict[str, Any]:
    digits = r.options.data == "digits"
    return {
        # synthetic: Gaussian blobs; digits: scikit-learn's real 8x8 handwritten digits
        "data": r.options.data,
        "features": r.features,
        "classes": r.classes,
        "examples": r.examples,  # the one full batch
        "held_out": r.held_out,  # digits for the held-out accuracy (0 on synthetic data)
        "chance_loss": r.chance_loss,
        # chaotic: one ulp on every input moves the last loss by more than this share of it
        "chaos_threshold": CHAOS,
        "networks": [
            {
                "key": t.config.key,
                "label": t.config.label,
                "bn": t.config.bn,
                "eps": t.config.eps,
                "scales": list(t.scales),
                "raw_scales": list(t.raw_scales),
                "losses": list(t.losses),
                "accuracy": t.accuracy,
                # on the held-out digits, BN with the training batch's statistics
                "held_out_accuracy": t.val_accuracy if digits else None,
                "trained": t.trained,
                # |change of the last loss| when every input moves by one ulp
                "sensitivity": t.sensitivity,
                "chaotic": t.chaotic,
            }
            for t in r.results
        ],
        "conclusion": conclude_tiny_init(r),
    }


def demo_json(name: str, result: Any) -> dict[str, Any]:
    """{"demo": name, "options": {...}, ...the demo's own fields}."""
    from bncheck.report.experiments import MODULES

    body = MODULES[name].body(result) if name in MODULES else _body(result)
    return {"demo": name, "options": asdict(result.options), **body}
