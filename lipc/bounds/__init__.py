"""Bound inference for the big-M constants: interval, symbolic and LP bound passes over the IR."""
