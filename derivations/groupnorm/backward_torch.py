# Emitted by bncheck from the SymPy derivation of groupnorm. Do not edit:
# regenerate with `bncheck derive --norm groupnorm --emit torch`.
import torch


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

    dy, x: torch.Tensor of shape (N, C, H, W); gamma: (1, C, 1, 1); groups: G, which divides C.
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
    mu = torch.sum(x, dim=(2, 3, 4), keepdim=True)/m  # mean of each group
    xmu = x - mu  # centred once; everything below uses x - mu
    var = torch.sum(xmu**2, dim=(2, 3, 4), keepdim=True)/m  # biased variance (1/m), as in the paper
    inv_std = torch.rsqrt(eps + var)  # 1/sigma, eps inside the square root
    xhat = xmu  # normalized in x - mu's memory
    xhat *= inv_std
    dxhat = dy*gamma  # dl/dxhat = gamma*dy
    dbeta = torch.sum(dy, dim=(0, 3, 4))  # Σ dy over N, H, W
    dgamma = torch.sum(dy*xhat, dim=(0, 3, 4))  # Σ dy*xhat over N, H, W
    sum_dxhat_xhat = torch.sum(dxhat*xhat, dim=(2, 3, 4), keepdim=True)  # Σ dxhat*xhat over each group
    sum_dxhat = torch.sum(dxhat, dim=(2, 3, 4), keepdim=True)  # Σ dxhat over each group
    c0 = inv_std/m
    # dx = a*dxhat + b*xhat + c with per-group a, b, c: two fused multiply-adds,
    # in place in xhat's memory (xhat is not needed any more).
    dx = torch.addcmul(-c0*sum_dxhat, xhat, -c0*sum_dxhat_xhat, out=xhat)
    dx.addcmul_(dxhat, inv_std)
    return dx.reshape(shape), dgamma.reshape(gamma_shape), dbeta.reshape(gamma_shape)
