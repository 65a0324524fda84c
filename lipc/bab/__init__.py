"""Anytime branch and bound over the input domain, and the always-on primal side.

``primal``: verified lower bounds from sampling and climbing, and MIP starts.  ``node``: one
sub-box compiled with the compiler's own passes and bounded (bound passes, LP relaxation, or
its MIP when small).  ``search``: the best-first loop with the global interval.  ``driver``:
the ``lipc solve --engine bab`` entry point returning a LipschitzResult.
"""
