"""Spatial batch norm (N, C, H, W), reduced over N, H, W: the same battery, another NormSpec."""

from __future__ import annotations

import numpy as np
import pytest

from bncheck.check.api import check_backward
from bncheck.spec import SPECS


def spatial_batchnorm_forward(x, gamma, beta, bn_param):  # type: ignore[no-untyped-def]
    N, C, H, W = x.shape
    xf = x.transpose(0, 2, 3, 1).reshape(-1, C)
    eps, mom = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    rm = bn_param.get("running_mean", np.zeros(C))
    rv = bn_param.get("running_var", np.zeros(C))
    if bn_param["mode"] == "train":
        mu = xf.mean(0)
        var = xf.var(0)
        xhat = (xf - mu) / np.sqrt(var + eps)
        rm, rv = mom * rm + (1 - mom) * mu, mom * rv + (1 - mom) * var
        cache = (xhat, 1 / np.sqrt(var + eps), gamma)
    else:
        xhat = (xf - rm) / np.sqrt(rv + eps)
        cache = None
    bn_param["running_mean"], bn_param["running_var"] = rm, rv
    out = (gamma * xhat + beta).reshape(N, H, W, C).transpose(0, 3, 1, 2)
    return out, cache


def spatial_batchnorm_backward(dout, cache):  # type: ignore[no-untyped-def]
    xhat, inv_std, gamma = cache
    N, C, H, W = dout.shape
    d = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    m = d.shape[0]
    dbeta = d.sum(0)
    dgamma = (d * xhat).sum(0)
    dx = gamma * inv_std / m * (m * d - dbeta - xhat * dgamma)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta


def test_spatial_cs231n_style_passes() -> None:
    spec = SPECS["spatial_batchnorm"]
    result = check_backward(spatial_batchnorm_forward, spatial_batchnorm_backward, spec=spec)
    assert result.passed, str(result)
    assert result.checks[1].title == "dx: submission vs derived (float64)"


def test_spatial_wrong_dbeta_fails() -> None:
    def halved_dbeta(dout, cache):  # type: ignore[no-untyped-def]
        dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
        return dx, dgamma * 1.0, dbeta * 0.5  # BUG: dbeta halved

    result = check_backward(
        spatial_batchnorm_forward, halved_dbeta, spec=SPECS["spatial_batchnorm"]
    )
    assert "dbeta" in [c.name for c in result.failures]


@pytest.mark.parametrize("shape", [(2, 3, 4, 4)])
def test_spatial_shapes_option(shape: tuple[int, ...]) -> None:
    spec = SPECS["spatial_batchnorm"]
    result = check_backward(
        spatial_batchnorm_forward, spatial_batchnorm_backward, spec=spec, shapes=(shape,)
    )
    assert result.passed
