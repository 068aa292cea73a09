# Emitted by bncheck from the SymPy derivation of rmsnorm. Do not edit:
# regenerate with `bncheck derive --norm rmsnorm --emit torch`.
import torch


def rmsnorm_backward(dy, x, gamma, eps=1e-05):
    """Backward of rmsnorm on (N, D), reduced over D; emitted by bncheck.

    One group is the m elements over (D) that share one (N); γ varies inside a group (γ_i).
    Derived by SymPy for a group of m elements (Σ sums over one group):

        dx     = (dy*gamma*m - xhat*Σ(dy*gamma*xhat))/(m*sigma)
        dgamma = dy*xhat  (one element's share, then summed over N)
        dbeta  = dy  (one element's share, then summed over N)

    with sigma = sqrt(eps + ms), xhat = x/sigma, dy = dl/dy.
    Computed as dx = (dxhat*m - xhat*Σ(dxhat*xhat))/(m*sigma), with dxhat = dl/dxhat = gamma*dy.
    Conventions: mean square (1/m), no mean subtracted; eps inside the square root.

    dy, x: torch.Tensor of shape (N, D); gamma: (D,).
    Returns (dx, dgamma, dbeta), dgamma and dbeta shaped like gamma;
    the statistics are recomputed from x.
    """
    m = x.shape[1]  # elements per group
    ms = torch.sum(x**2, dim=1, keepdim=True)/m  # mean square (1/m), no mean subtracted
    inv_std = torch.rsqrt(eps + ms)  # 1/sigma, eps inside the square root
    xhat = inv_std*x  # no mean subtracted
    dxhat = dy*gamma  # dl/dxhat = gamma*dy
    dbeta = torch.sum(dy, dim=0)  # Σ dy over N
    dgamma = torch.sum(dy*xhat, dim=0)  # Σ dy*xhat over N
    sum_dxhat_xhat = torch.sum(dxhat*xhat, dim=1, keepdim=True)  # Σ dxhat*xhat over each group
    # dx = a*dxhat + b*xhat with per-group a, b; in place in xhat's memory.
    dx = xhat.mul_(-inv_std*sum_dxhat_xhat/m)
    dx.addcmul_(dxhat, inv_std)
    return dx, dgamma, dbeta
