"""The flag groups shared by lipc's subcommands, and what they turn into: the model named on the
command line and the compile options.  One spelling for solve, compile, show, estimate, compare
and track."""
from __future__ import annotations

import argparse

from .. import api
from ..bounds import BOUND_METHODS
from ..compiler.pipeline import CompileOptions
from ..lowering import FORMULATIONS


def model_flags(p: argparse.ArgumentParser, domain_required: bool = True) -> None:
    p.add_argument("model", help="network file (.onnx) or lipc program (.lipc)")
    query_flags(p, domain_required)


def query_flags(p: argparse.ArgumentParser, domain_required: bool = True) -> None:
    """The Lipschitz question's flags: domain, norms, output (shared with lipc track)."""
    p.add_argument("--domain", "-d", required=domain_required,
                   help="input region: box:LO:HI, linf:CENTER:RADIUS[:LO:HI], "
                        "l1:CENTER:RADIUS[:LO:HI] or polytope:A.npy,b.npy[:LO:HI]; LO, HI, "
                        "CENTER and RADIUS are numbers, comma lists or .npy files")
    p.add_argument("--input-norm", "--norm", default="linf",
                   help="norm on the input space: linf (default), l1, linf:w.npy / l1:w.npy "
                        "(weighted by positive w), custom:V.npy (unit ball conv(+-rows of V))")
    p.add_argument("--output", "-y", default=None,
                   help="scalar function of the outputs: 3 (f_3), 0-1 (f_0 - f_1), 1,-1,0 "
                        "(weights) or c.npy; may be omitted for single-output networks")
    p.add_argument("--output-node", default=None, metavar="TENSOR",
                   help="analyse the ONNX graph up to this tensor (e.g. the logits before a "
                        "final softmax)")
    p.add_argument("--output-norm", default=None,
                   help="instead of --output, a norm on the output vector: linf, l1, margin "
                        "(max over i != j of the Lipschitz constant of f_i - f_j), margin:T "
                        "(targeted at class T) or margin:center (T = class at the domain centre)")


def compile_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bounds", default="auto", choices=sorted(BOUND_METHODS),
                   help="bound inference for the big-M constants: interval, symbolic, lp, mip, "
                        "or auto (default: symbolic + LP on small models; interval with "
                        "--formulation paper)")
    p.add_argument("--formulation", default="lipc", choices=sorted(FORMULATIONS),
                   help="MIP formulation: lipc (default) or paper (the original LipMIP model)")


def model(args):
    """The network named on the command line (an ONNX graph cut at --output-node if given)."""
    return api.load(args.model, output_node=args.output_node)


def compile_options(args) -> CompileOptions:
    return CompileOptions(bounds=args.bounds, formulation=args.formulation)
