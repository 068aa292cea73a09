# Emitted by bncheck from the SymPy derivation of spatial_batchnorm. Do not edit:
# regenerate with `bncheck derive --norm spatial_batchnorm --emit numpy`.
import numpy as np


def spatial_batchnorm_backward(dy, x, gamma, eps=1e-05):
    """Backward of spatial_batchnorm on (N, C, H, W), reduced over N, H, W; emitted by bncheck.

    Derived by SymPy for a group of m elements (Σ sums over one group):

        dx     = gamma*(dy*m - xhat*Σ(dy*xhat) - Σ(dy))/(m*sigma)
        dgamma = Σ(dy*xhat)
        dbeta  = Σ(dy)

    with sigma = sqrt(eps + var), xhat = (x - mu)/sigma, dy = dl/dy.
    Conventions: biased variance (1/m), as in the paper; eps inside the square root.

    dy, x: numpy.ndarray of shape (N, C, H, W); gamma: (C,).
    Returns (dx, dgamma, dbeta); batch statistics are recomputed from x.
    """
    m = x.shape[0] * x.shape[2] * x.shape[3]  # elements per group
    stat_shape = (1, x.shape[1], 1, 1)
    gamma = gamma.reshape(stat_shape)
    mu = np.sum(x, axis=(0, 2, 3), keepdims=True)/m  # mean of each group
    xmu = x - mu  # centred once; everything below uses x - mu
    var = np.einsum('nchw,nchw->c', xmu, xmu).reshape(stat_shape)/m  # biased variance (1/m), as in the paper
    inv_std = 1 / np.sqrt(eps + var)  # 1/sigma, eps inside the square root
    dbeta = np.sum(dy, axis=(0, 2, 3), keepdims=True)  # Σ dy
    dgamma = inv_std*np.einsum('nchw,nchw->c', dy, xmu).reshape(stat_shape)  # Σ dy*xhat, with xhat = xmu*inv_std
    c0 = 1 / m
    # dx = a*(dy + b*xmu + c) with per-feature a, b, c; computed in place in
    # xmu's memory (x - mu is not needed any more): dx is the only new array.
    dx = xmu
    dx *= -c0*dgamma*inv_std
    dx += dy
    dx += -c0*dbeta
    dx *= gamma*inv_std
    return dx, dgamma.reshape(-1), dbeta.reshape(-1)
