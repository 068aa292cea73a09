# Emitted by bncheck from the SymPy derivation of instancenorm. Do not edit:
# regenerate with `bncheck derive --norm instancenorm --emit torch`.
import torch


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

    dy, x: torch.Tensor of shape (N, C, H, W); gamma: (C,).
    Returns (dx, dgamma, dbeta), dgamma and dbeta shaped like gamma;
    the statistics are recomputed from x.
    """
    m = x.shape[2] * x.shape[3]  # elements per group
    gamma = gamma.reshape((1, x.shape[1], 1, 1))  # broadcasts against x
    mu = torch.sum(x, dim=(2, 3), keepdim=True)/m  # mean of each group
    xmu = x - mu  # centred once; everything below uses x - mu
    var = torch.sum(xmu**2, dim=(2, 3), keepdim=True)/m  # biased variance (1/m), as in the paper
    inv_std = torch.rsqrt(eps + var)  # 1/sigma, eps inside the square root
    xhat = xmu  # normalized in x - mu's memory
    xhat *= inv_std
    dxhat = gamma*dy  # dl/dxhat = gamma*dy
    dbeta = torch.sum(dy, dim=(0, 2, 3))  # Σ dy over N, H, W
    dgamma = torch.sum(dy*xhat, dim=(0, 2, 3))  # Σ dy*xhat over N, H, W
    sum_dxhat_xhat = torch.sum(dxhat*xhat, dim=(2, 3), keepdim=True)  # Σ dxhat*xhat over each group
    sum_dxhat = torch.sum(dxhat, dim=(2, 3), keepdim=True)  # Σ dxhat over each group
    c0 = inv_std/m
    # dx = a*dxhat + b*xhat + c with per-group a, b, c: two fused multiply-adds,
    # in place in xhat's memory (xhat is not needed any more).
    dx = torch.addcmul(-c0*sum_dxhat, xhat, -c0*sum_dxhat_xhat, out=xhat)
    dx.addcmul_(dxhat, inv_std)
    return dx, dgamma, dbeta
