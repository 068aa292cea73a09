# Emitted by bncheck from the SymPy derivation of instancenorm. Do not edit:
# regenerate with `bncheck derive --norm instancenorm --emit numpy`.
import numpy as np


def instancenorm_backward(dy, x, gamma, eps=1e-05):
    """Backward of instancenorm on (N, C, H, W), reduced over H, W; emitted by bncheck.

    One group is the m elements over (H, W) that share one (N, C).
    Derived by SymPy for a group of m elements (Σ sums over one group):

        dx     = gamma*(dy*m - xhat*Σ(dy*xhat) - Σ(dy))/(m*sigma)
        dgamma = Σ(dy*xhat)  (one group's sum, then summed over N, H, W)
        dbeta  = Σ(dy)  (one group's sum, then summed over N, H, W)

    with sigma = sqrt(eps + var), xhat = (x - mu)/sigma, dy = dl/dy.
    Computed as dx = (dxhat*m - xhat*Σ(dxhat*xhat) - Σ(dxhat))/(m*sigma), with dxhat = dl/dxhat = gamma*dy.
    Conventions: biased variance (1/m), as in the paper; eps inside the square root.

    dy, x: numpy.ndarray of shape (N, C, H, W); gamma: (C,).
    Returns (dx, dgamma, dbeta), dgamma and dbeta shaped like gamma;
    the statistics are recomputed from x.
    """
    m = x.shape[2] * x.shape[3]  # elements per group
    gamma = gamma.reshape((1, x.shape[1], 1, 1))  # broadcasts against x
    # Blocks of rows (N) so the temporaries stay in cache: x - mu, then xhat, then dx
    # are computed in dx's rows, and dxhat is one block's size. dx is the only
    # full-size array; the sums over N (dgamma, dbeta) add up the blocks' shares.
    dx = np.empty_like(x)
    dbeta = np.zeros((x.shape[1],), dtype=x.dtype)
    dgamma = np.zeros((x.shape[1],), dtype=x.dtype)
    row_bytes = max(1, x[:1].nbytes)  # one row of x (x may have none)
    rows = max(1, 256 * 1024 // row_bytes)  # rows per block, at least 1
    for r in range(0, x.shape[0], rows):
        xb = x[r : r + rows]  # this block's rows of x, dy and dx: views, not copies
        dyb = dy[r : r + rows]
        dxb = dx[r : r + rows]
        stat_shape = (xb.shape[0], xb.shape[1], 1, 1)  # one statistic per group
        mu = np.sum(xb, axis=(2, 3), keepdims=True)/m  # mean of each group
        xmu = np.subtract(xb, mu, out=dxb)  # centred once; everything below uses x - mu
        var = np.einsum('nchw,nchw->nc', xmu, xmu).reshape(stat_shape)/m  # biased variance (1/m), as in the paper
        inv_std = 1 / np.sqrt(eps + var)  # 1/sigma, eps inside the square root
        xhat = xmu  # normalized in x - mu's memory
        xhat *= inv_std
        dxhat = gamma*dyb  # dl/dxhat = gamma*dy
        dbeta += np.sum(dyb, axis=(0, 2, 3))  # Σ dy over N, H, W
        dgamma += np.einsum('nchw,nchw->c', dyb, xhat)  # Σ dy*xhat over N, H, W
        sum_dxhat_xhat = np.einsum('nchw,nchw->nc', dxhat, xhat).reshape(stat_shape)  # Σ dxhat*xhat over each group
        sum_dxhat = np.sum(dxhat, axis=(2, 3), keepdims=True)  # Σ dxhat over each group
        c0 = 1 / m
        # dx = a*(dxhat + b*xhat + c) with per-group a, b, c; computed in place in
        # xhat's memory (xhat is not needed any more).
        dxb = xhat
        dxb *= -c0*sum_dxhat_xhat
        dxb += dxhat
        dxb += -c0*sum_dxhat
        dxb *= inv_std
    return dx, dgamma, dbeta
