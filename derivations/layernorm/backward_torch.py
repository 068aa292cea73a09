# Emitted by bncheck from the SymPy derivation of layernorm. Do not edit:
# regenerate with `bncheck derive --norm layernorm --emit torch`.
import torch


def layernorm_backward(dy, x, gamma, eps=1e-05):
    """Backward of layernorm on (N, D), reduced over D; emitted by bncheck.

    One group is the m elements over (D) that share one (N); γ varies inside a group (γ_i).
    Derived by SymPy for a group of m elements (Σ sums over one group):

        dx     = (dy*gamma*m - xhat*Σ(dy*gamma*xhat) - Σ(dy*gamma))/(m*sigma)
        dgamma = dy*xhat  (one element's share, then summed over N)
        dbeta  = dy  (one element's share, then summed over N)

    with sigma = sqrt(eps + var), xhat = (x - mu)/sigma, dy = dl/dy.
    Computed as dx = (dxhat*m - xhat*Σ(dxhat*xhat) - Σ(dxhat))/(m*sigma), with dxhat = dl/dxhat = gamma*dy.
    Conventions: biased variance (1/m), as in the paper; eps inside the square root.

    dy, x: torch.Tensor of shape (N, D); gamma: (D,).
    Returns (dx, dgamma, dbeta), dgamma and dbeta shaped like gamma;
    the statistics are recomputed from x.
    """
    m = x.shape[1]  # elements per group
    mu = torch.sum(x, dim=1, keepdim=True)/m  # mean of each group
    xmu = x - mu  # centred once; everything below uses x - mu
    var = torch.sum(xmu**2, dim=1, keepdim=True)/m  # biased variance (1/m), as in the paper
    inv_std = torch.rsqrt(eps + var)  # 1/sigma, eps inside the square root
    xhat = xmu  # normalized in x - mu's memory
    xhat *= inv_std
    dxhat = dy*gamma  # dl/dxhat = gamma*dy
    dbeta = torch.sum(dy, dim=0)  # Σ dy over N
    dgamma = torch.sum(dy*xhat, dim=0)  # Σ dy*xhat over N
    sum_dxhat_xhat = torch.sum(dxhat*xhat, dim=1, keepdim=True)  # Σ dxhat*xhat over each group
    sum_dxhat = torch.sum(dxhat, dim=1, keepdim=True)  # Σ dxhat over each group
    c0 = inv_std/m
    # dx = a*dxhat + b*xhat + c with per-group a, b, c: two fused multiply-adds,
    # in place in xhat's memory (xhat is not needed any more).
    dx = torch.addcmul(-c0*sum_dxhat, xhat, -c0*sum_dxhat_xhat, out=xhat)
    dx.addcmul_(dxhat, inv_std)
    return dx, dgamma, dbeta
