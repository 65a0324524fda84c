"""lipc: compile ReLU networks into mixed-integer programs for exact local Lipschitz constants."""
from .api import (LipschitzResult, compare, compile, estimate, from_layers, from_torch, load,
                  problem, solve)
from .solvers import SolveOptions
from .verify.certify import Ball, CertifyResult, certify
from .compiler.pipeline import CompileOptions
from .question.domain import Box, Domain, L1Ball, LinfBall, Polytope, box_domain, parse_domain
from .question.question import Question
from .version import __version__
from .errors import (DomainError, LipcError, ModelError, NumericError, QueryError, ShapeError,
                     SolverError, UnsupportedOpError)

__all__ = ["Ball", "CertifyResult", "certify", "LipschitzResult", "compare", "compile", "estimate",
           "load", "from_layers", "from_torch", "problem", "solve", "Box", "LinfBall", "L1Ball",
           "Polytope", "Question", "SolveOptions", "CompileOptions", "Domain",
           "box_domain", "parse_domain", "LipcError", "ModelError", "UnsupportedOpError",
           "ShapeError", "NumericError", "DomainError", "QueryError", "SolverError"]
