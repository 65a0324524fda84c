"""The question asked of a network: the input domain, the output selection or output norm, the input norm, and the readers of their command-line and VNN-LIB spellings."""
