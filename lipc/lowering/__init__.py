"""Lowering: IR nodes to rows and columns of the flat MIP, one rule per node type, per formulation."""
