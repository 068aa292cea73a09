"""Replaces the child's reply writer at import with one that sends a well-formed message of
its own making (which one: {{MESSAGE}}), then computes a wrong gradient."""

import sys

for name, module in list(sys.modules.items()):
    if name.endswith("sandbox_protocol"):
        _real_write = module.write

        def _forged(f, message, _real_write=_real_write):
            ops = len(message.get("replies") or [])
            forged = {{MESSAGE}}
            _real_write(f, forged)

        module.write = _forged


def batchnorm_backward(dy, x, gamma, eps=1e-5):
    return dy * gamma, (dy * x).sum(0), dy.sum(0)  # wrong dx and dgamma
