# Emitted by bncheck from the SymPy derivation of groupnorm. Do not edit:
# regenerate with `bncheck derive --norm groupnorm --emit numpy`.
import numpy as np


def groupnorm_backward(dy, x, gamma, G=2, eps=1e-05):
    """Backward of groupnorm on (N, C, H, W), reduced over C, H, W; emitted by bncheck.

    One group is the m elements over (C/2, H, W) that share one (N, 2 groups of C); γ varies inside a group (γ_i).
    Derived by SymPy for a group of m elements (Σ sums over one group):

        dx     = (dy*gamma*m - xhat*Σ(dy*gamma*xhat) - Σ(dy*gamma))/(m*sigma)
        dgamma = dy*xhat  (one element's share, then summed over N, H, W)
        dbeta  = dy  (one element's share, then summed over N, H, W)

    with sigma = sqrt(eps + var), xhat = (x - mu)/sigma, dy = dl/dy.
    Computed as dx = (dxhat*m - xhat*Σ(dxhat*xhat) - Σ(dxhat))/(m*sigma), with dxhat = dl/dxhat = gamma*dy.
    Conventions: biased variance (1/m), as in the paper; eps inside the square root.

    dy, x: numpy.ndarray of shape (N, C, H, W); gamma: (1, C, 1, 1); groups: G, which divides C.
    Returns (dx, dgamma, dbeta), dgamma and dbeta shaped like gamma;
    the statistics are recomputed from x.
    """
    shape = x.shape
    gamma_shape = gamma.shape
    view = (x.shape[0], G, x.shape[1] // G, x.shape[2], x.shape[3])  # C cut into groups: one group is whole axes
    x = x.reshape(view)
    dy = dy.reshape(view)
    m = x.shape[2] * x.shape[3] * x.shape[4]  # elements per group
    gamma = gamma.reshape((1, x.shape[1], x.shape[2], 1, 1))  # broadcasts against x
    # Blocks of rows (N) so the temporaries stay in cache: x - mu, then xhat, then dx
    # are computed in dx's rows, and dxhat is one block's size. dx is the only
    # full-size array; the sums over N (dgamma, dbeta) add up the blocks' shares.
    dx = np.empty_like(x)
    dbeta = np.zeros((x.shape[1], x.shape[2]), dtype=x.dtype)
    dgamma = np.zeros((x.shape[1], x.shape[2]), dtype=x.dtype)
    row_bytes = max(1, x[:1].nbytes)  # one row of x (x may have none)
    rows = max(1, 256 * 1024 // row_bytes)  # rows per block, at least 1
    for r in range(0, x.shape[0], rows):
        xb = x[r : r + rows]  # this block's rows of x, dy and dx: views, not copies
        dyb = dy[r : r + rows]
        dxb = dx[r : r + rows]
        stat_shape = (xb.shape[0], xb.shape[1], 1, 1, 1)  # one statistic per group
        mu = np.sum(xb, axis=(2, 3, 4), keepdims=True)/m  # mean of each group
        xmu = np.subtract(xb, mu, out=dxb)  # centred once; everything below uses x - mu
        var = np.einsum('ngchw,ngchw->ng', xmu, xmu).reshape(stat_shape)/m  # biased variance (1/m), as in the paper
        inv_std = 1 / np.sqrt(eps + var)  # 1/sigma, eps inside the square root
        xhat = xmu  # normalized in x - mu's memory
        xhat *= inv_std
        dxhat = dyb*gamma  # dl/dxhat = gamma*dy
        dbeta += np.sum(dyb, axis=(0, 3, 4))  # Σ dy over N, H, W
        dgamma += np.einsum('ngchw,ngchw->gc', dyb, xhat)  # Σ dy*xhat over N, H, W
        sum_dxhat_xhat = np.einsum('ngchw,ngchw->ng', dxhat, xhat).reshape(stat_shape)  # Σ dxhat*xhat over each group
        sum_dxhat = np.sum(dxhat, axis=(2, 3, 4), keepdims=True)  # Σ dxhat over each group
        c0 = 1 / m
        # dx = a*(dxhat + b*xhat + c) with per-group a, b, c; computed in place in
        # xhat's memory (xhat is not needed any more).
        dxb = xhat
        dxb *= -c0*sum_dxhat_xhat
        dxb += dxhat
        dxb += -c0*sum_dxhat
        dxb *= inv_std
    return dx.reshape(shape), dgamma.reshape(gamma_shape), dbeta.reshape(gamma_shape)
