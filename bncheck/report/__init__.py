"""Renderers of derivations and results for terminals (rich) and plain text.

The only package besides ``cli`` that imports rich.
"""
