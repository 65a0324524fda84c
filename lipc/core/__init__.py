"""The core data: the IR graph (affine / conditional / switch nodes), sparse matrices, the Network hand-off from front ends, its numpy interpreter and the flat MIP every emitter and solver reads."""
