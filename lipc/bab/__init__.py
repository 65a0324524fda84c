"""Anytime branch and bound on unstable neurons, and the always-on primal side.

``primal``: verified lower bounds from sampling and climbing, and MIP starts.  ``node``: the
query with some pre-activations fixed to a sign, compiled by the compiler's own passes and
bounded (bound passes, LP relaxation, or its MIP when small).  ``search``: the best-first loop
in deterministic batches with the global interval.  ``driver``: ``lipc solve --engine bab|auto``,
returning a LipschitzResult.
"""
