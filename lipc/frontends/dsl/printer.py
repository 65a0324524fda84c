"""IR → lipc text: print a network (e.g. one read from ONNX) as a program that parses back to
the same function and the same IR structure.

Each affine node becomes ``aK = W @ src + ... + b`` (its weights as separate constants, written
with ``repr`` so every float64 survives the round trip exactly), each ReLU (a switch gated by the
conditional of its own input) ``hK = relu(aK)``, and the network output an ``output`` statement.
Conditionals are implicit in ``relu``; a switch gated by another node's conditional (only the
backward pass has those) has no spelling in the language and is refused.
"""
from __future__ import annotations

import numpy as np

from ...errors import LipcError
from ...core.ir import Affine, Conditional, Const, Input, Switch
from ...core.network import Network


def _num(v: float) -> str:
    r = repr(float(v))
    return r[:-2] if r.endswith(".0") else r


def _vector(v: np.ndarray) -> str:
    return "[" + ", ".join(_num(x) for x in v) + "]"


def _matrix(W: np.ndarray, indent: int) -> str:
    pad = " " * indent
    return "[" + f",\n{pad} ".join(_vector(row) for row in W) + "]"


def to_dsl(net: Network, input_name: str = "x", domain: str | None = None) -> str:
    """The network as lipc text (``domain``: a domain spelling to declare with the input)."""
    g = net.graph
    keep = g.needed(net.output) | {net.input}
    names: dict[str, str] = {}
    lines = [f"# {net.name}: {net.n_inputs} inputs, {net.n_outputs} outputs (printed by lipc)"]
    shape = tuple(net.input_shape) if int(np.prod(net.input_shape)) == net.n_inputs \
        else (net.n_inputs,)
    decl = f"input {input_name}[{', '.join(map(str, shape))}]"
    lines.append(decl + (f" in {_string(domain)}" if domain else ""))
    names[net.input] = input_name
    counter = {"a": 0, "h": 0, "c": 0}

    def fresh(prefix: str) -> str:
        counter[prefix] += 1
        return f"{prefix}{counter[prefix]}"

    for node in g.topo():
        if node not in keep or node == net.input:
            continue
        op = g.op(node)
        label = g.label(node)
        note = f"   # {label}" if label and "\n" not in label else ""
        if isinstance(op, Input):
            raise LipcError(f"cannot print a network with a second input ({node})")
        if isinstance(op, Const):
            names[node] = fresh("c")
            lines.append(f"{names[node]} = {_vector(op.value)}{note}")
        elif isinstance(op, Conditional):
            bad = [s for s in g.g.successors(node) if s in keep and not (
                isinstance(g.op(s), Switch) and g.op(s).src == op.src)]
            if bad:
                raise LipcError(f"cannot print {node}: a conditional gating another value has "
                                "no spelling in the lipc language (only relu)")
        elif isinstance(op, Switch):
            gate = g.op(op.gate)
            if not (isinstance(gate, Conditional) and gate.src == op.src):
                raise LipcError(f"cannot print {node}: only relu(z) = switch(z, [z > 0]) has a "
                                "spelling in the lipc language")
            names[node] = fresh("h")
            lines.append(f"{names[node]} = relu({names[op.src]}){note}")
        elif isinstance(op, Affine):
            name = fresh("a")
            parts = []
            for k, t in enumerate(op.terms):
                src = names[t.src]
                weight = t.weight.toarray() if hasattr(t.weight, "toarray") else t.weight
                wname = f"W{name[1:]}" + (f"_{k + 1}" if len(op.terms) > 1 else "")
                if weight.ndim == 1 and np.all(weight == 1.0):
                    parts.append(src)
                elif weight.ndim == 1:
                    lines.append(f"{wname} = {_vector(weight)}")
                    parts.append(f"{wname} * {src}")
                else:
                    lines.append(f"{wname} = {_matrix(weight, len(wname) + 3)}")
                    parts.append(f"{wname} @ {src}")
            if np.any(op.bias) or not parts:
                bname = f"b{name[1:]}"
                lines.append(f"{bname} = {_vector(op.bias)}")
                parts.append(bname)
            names[node] = name
            lines.append(f"{name} = {' + '.join(parts)}{note}")
        else:  # pragma: no cover - every IR op is handled above
            raise LipcError(f"cannot print a {type(op).__name__} node")
    out = names[net.output]
    lines.append(f"output {out}")
    return "\n".join(lines) + "\n"


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
