"""Verification of a solver's answer on the original model: the witness and the Chebyshev centre of a region."""
