"""The compile stage: network and question to IR with a backward pass, bounds, passes, and the lowered flat MIP."""
