# Emitted by bncheck from the SymPy derivation of batchnorm. Do not edit:
# regenerate with `bncheck derive --norm batchnorm --emit torch`.
import torch


def batchnorm_backward(dy, x, gamma, eps=1e-05):
    """Backward of batchnorm on (N, D), reduced over N; emitted by bncheck.

    Derived by SymPy for a group of m elements (Σ sums over one group):

        dx     = gamma*(dy*m - xhat*Σ(dy*xhat) - Σ(dy))/(m*sigma)
        dgamma = Σ(dy*xhat)
        dbeta  = Σ(dy)

    with sigma = sqrt(eps + var), xhat = (x - mu)/sigma, dy = dl/dy.
    Conventions: biased variance (1/m), as in the paper; eps inside the square root.

    dy, x: torch.Tensor of shape (N, D); gamma: (D,).
    Returns (dx, dgamma, dbeta); batch statistics are recomputed from x.
    """
    m = x.shape[0]  # elements per group
    mu = torch.sum(x, dim=0)/m  # mean of each group
    xmu = x - mu  # centred once; everything below uses x - mu
    var = torch.sum(xmu**2, dim=0)/m  # biased variance (1/m), as in the paper
    inv_std = torch.rsqrt(eps + var)  # 1/sigma, eps inside the square root
    dbeta = torch.sum(dy, dim=0)  # Σ dy
    dgamma = inv_std*torch.sum(dy*xmu, dim=0)  # Σ dy*xhat, with xhat = xmu*inv_std
    c0 = gamma*inv_std
    c1 = 1 / m
    # dx = a*dy + b*xmu + c with per-feature a, b, c: two fused multiply-adds,
    # in place in xmu's memory (x - mu is not needed any more).
    dx = torch.addcmul(-c0*c1*dbeta, xmu, -c1*dgamma*gamma*inv_std**2, out=xmu)
    dx.addcmul_(dy, c0)
    return dx, dgamma, dbeta
