"""The paper's teaching examples, computed (rendering lives in ``bncheck.report.demos``).

* ``mean_dependence``: Section 2, a bias update that ignores how E[x] depends on b;
* ``scale_invariance``: Section 3.3, BN((aW)u) = BN(Wu) and its gradients;
* ``tiny_init``: a 7-layer network with W ~ U(-0.001, 0.001), with and without BN.

Each module imports numpy (and SymPy where it derives); import the one you need.
"""
