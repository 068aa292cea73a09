"""A labelled corpus of batch-norm-family submissions for measuring the diagnoser.

Each file is one submission (one normalization: its forward and backward), written the
way students write them: staged dxhat/dvar/dmu, computational graphs (step 9 to 1),
compact one-liners, Python loops, einsum, x.T tricks, torch.autograd.Functions.
``CORPUS`` maps the file name to (preset, style, mistakes): preset is a
``bncheck.SPECS`` name, style "cs231n", "plain" or "torch", and mistakes the ids of the
mistakes the file makes: () for a correct file, ("outside-catalog",) for a real mistake
that is none of the catalogued ones. The buggy lines carry a ``# BUG`` comment. Every
label was checked independently of bncheck: gradients against central finite differences
of a correct float64 reference forward, and the behaviours (running statistics, eval
mode, inputs changed in place, stale answers, gradient shapes) directly.
"""

from __future__ import annotations

CORPUS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # correct
    "bn_cs231n_staged_ok.py": ("batchnorm", "cs231n", ()),
    "bn_cs231n_graph_ok.py": ("batchnorm", "cs231n", ()),
    "bn_plain_compact_ok.py": ("batchnorm", "plain", ()),
    "bn_plain_feature_loop_ok.py": ("batchnorm", "plain", ()),
    "bn_torch_staged_ok.py": ("batchnorm", "torch", ()),
    "ln_cs231n_transpose_ok.py": ("layernorm", "cs231n", ()),
    "ln_plain_einsum_ok.py": ("layernorm", "plain", ()),
    "ln_torch_rowloop_ok.py": ("layernorm", "torch", ()),
    "sbn_cs231n_ok.py": ("spatial_batchnorm", "cs231n", ()),
    "gn_plain_ok.py": ("groupnorm", "plain", ()),
    # dx: chain-rule mistakes
    "bn_cs231n_no_dmean.py": ("batchnorm", "cs231n", ("mean-path-dropped",)),
    "ln_plain_projection_only.py": ("layernorm", "plain", ("mean-path-dropped",)),
    "sbn_plain_no_mean_term.py": ("spatial_batchnorm", "plain", ("mean-path-dropped",)),
    "bn_plain_center_only.py": ("batchnorm", "plain", ("variance-path-dropped",)),
    "ln_cs231n_staged_no_dvar.py": ("layernorm", "cs231n", ("variance-path-dropped",)),
    "gn_cs231n_no_var_term.py": ("groupnorm", "cs231n", ("variance-path-dropped",)),
    "bn_cs231n_gamma_over_std.py": ("batchnorm", "cs231n", ("both-paths-dropped",)),
    "bn_plain_sample_loop_dmu.py": ("batchnorm", "plain", ("dmu-missing-1-over-m",)),
    "ln_cs231n_transpose_dmu.py": ("layernorm", "cs231n", ("dmu-missing-1-over-m",)),
    "bn_cs231n_graph_dsq.py": ("batchnorm", "cs231n", ("dvar-missing-1-over-m",)),
    "ln_torch_dvar_term.py": ("layernorm", "torch", ("dvar-missing-1-over-m",)),
    "bn_cs231n_dmu_positive.py": ("batchnorm", "cs231n", ("dmu-sign-flipped",)),
    "ln_plain_dvar_subtracted.py": ("layernorm", "plain", ("dvar-term-sign-flipped",)),
    "bn_torch_dvar_power.py": ("batchnorm", "torch", ("dvar-exponent",)),
    "bn_plain_compact_no_gamma.py": ("batchnorm", "plain", ("gamma-missing-in-dx",)),
    "ln_cs231n_dxhat_is_dout.py": ("layernorm", "cs231n", ("gamma-missing-in-dx",)),
    "bn_cs231n_backward_n_minus_1.py": ("batchnorm", "cs231n", ("unbiased-variance-backward",)),
    # forward mistakes
    "bn_cs231n_graph_eps_added.py": ("batchnorm", "cs231n", ("eps-outside-sqrt",)),
    "ln_cs231n_sigma_plus_eps.py": ("layernorm", "cs231n", ("eps-outside-sqrt",)),
    "bn_plain_sqrt_var_only.py": ("batchnorm", "plain", ("eps-missing",)),
    "bn_cs231n_ddof1.py": ("batchnorm", "cs231n", ("unbiased-variance",)),
    "ln_plain_ddof1.py": ("layernorm", "plain", ("unbiased-variance",)),
    "bn_torch_default_var.py": ("batchnorm", "torch", ("unbiased-variance",)),
    "ln_cs231n_batch_axis.py": ("layernorm", "cs231n", ("stats-wrong-axis",)),
    "ln_torch_dim0.py": ("layernorm", "torch", ("stats-wrong-axis",)),
    "bn_plain_row_stats.py": ("batchnorm", "plain", ("stats-wrong-axis",)),
    # parameter gradients
    "bn_cs231n_dgamma_raw_x.py": ("batchnorm", "cs231n", ("dgamma-from-x",)),
    "ln_plain_dgamma_raw_x.py": ("layernorm", "plain", ("dgamma-from-x",)),
    "bn_torch_returns_beta_first.py": ("batchnorm", "torch", ("dgamma-dbeta-swapped",)),
    "ln_cs231n_param_grads_per_row.py": ("layernorm", "cs231n", ("dgamma-wrong-axis",)),
    # conventions and behaviour
    "bn_cs231n_running_weights.py": ("batchnorm", "cs231n", ("running-momentum-swapped",)),
    "bn_cs231n_test_recomputes.py": ("batchnorm", "cs231n", ("eval-uses-batch-stats",)),
    "bn_plain_dy_centered_inplace.py": ("batchnorm", "plain", ("mutates-input",)),
    "ln_plain_x_centered_inplace.py": ("layernorm", "plain", ("mutates-input",)),
    "bn_plain_global_memo.py": ("batchnorm", "plain", ("hidden-state",)),
    "ln_cs231n_keepdims_params.py": ("layernorm", "cs231n", ("gradient-shape",)),
    # outside the catalog
    "bn_cs231n_dvar_from_x.py": ("batchnorm", "cs231n", ("outside-catalog",)),
    "ln_plain_dmu_over_d_squared.py": ("layernorm", "plain", ("outside-catalog",)),
    "bn_torch_dbeta_negated.py": ("batchnorm", "torch", ("outside-catalog",)),
    "bn_plain_sum_of_squares.py": ("batchnorm", "plain", ("outside-catalog",)),
    "ln_cs231n_m_is_size.py": ("layernorm", "cs231n", ("outside-catalog",)),
    # two independent mistakes
    "bn_cs231n_two_bugs_mean_dgamma.py": (
        "batchnorm",
        "cs231n",
        ("mean-path-dropped", "dgamma-from-x"),
    ),
    "ln_cs231n_two_missing_divisions.py": (
        "layernorm",
        "cs231n",
        ("dmu-missing-1-over-m", "dvar-missing-1-over-m"),
    ),
    "bn_torch_two_bugs_eps_order.py": (
        "batchnorm",
        "torch",
        ("eps-outside-sqrt", "dgamma-dbeta-swapped"),
    ),
    "bn_plain_two_bugs_keepdims_novar.py": (
        "batchnorm",
        "plain",
        ("variance-path-dropped", "gradient-shape"),
    ),
}
