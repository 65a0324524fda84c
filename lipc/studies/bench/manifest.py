"""Benchmark manifests (issue 7): a TOML file listing the instances of a MIP library.

    name = "lipc-mini"                 # the library: <name>.solu, <name>.csv
    node_limit = 1000                  # optional: branch-and-bound nodes per solve (reproducible)
    [defaults]                         # optional; any instance key below
    domain = "box:0:1"
    [[instance]]
    name = "rand_a"                    # [A-Za-z0-9_.-]+, unique
    network = "random:3-6-6-2:1"       # or a path relative to the manifest (.onnx / .lipc)
    domain = "box:0:1"                 # .npy files in the spec are relative to the manifest
    output = "0-1"                     # or output_norm = "linf"; optional for one output
    input_norm = "linf"
    formulation = "lipc"               # CompileOptions: formulation, bounds, passes
    bounds = "auto"

Seeded generator families (written as ONNX into the library's ``networks/``, so the library is
self-contained; the table GENERATORS maps a family to its parser, bytes and file name):

* ``random:SIZES:SEED`` (SIZES like 3-6-6-2 or 3,6,6,2): a float64 ReLU MLP with the uniform
  +-1/sqrt(fan_in) initialisation, drawn from numpy's default_rng(SEED);
* ``trained:SIZES:SEED[:EPOCHS[:REGULARIZER[:STRENGTH]]]``: the same shape trained with
  lipc.studies.training on the paper's synthetic cluster data (regulariser none, l2, l1 or fgsm).
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ...errors import LipcError
from ...bounds import BOUND_METHODS
from ...lowering import FORMULATIONS
from ...question.question import QUESTION_FIELDS, Question, question_fields
from ...util.fingerprint import fingerprint
from ..training import REGULARIZERS, mlp_onnx_bytes, synthetic_clusters, train_mlp

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_KEYS = {"name", "network", *QUESTION_FIELDS, "formulation", "bounds", "passes"}


@dataclass(frozen=True)
class Instance:
    name: str
    network: str                  # "random:SIZES:SEED" or an absolute path
    question: Question            # its spellings; the domain's .npy paths made absolute
    formulation: str = "lipc"
    bounds: str = "auto"
    passes: bool = True

    def record(self) -> dict:
        """The entry as one flat dict of its manifest keys."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "question"}
        return {**d, **self.question.to_dict()}

    def key(self) -> str:
        """A digest of what determines the instance file (for resume): the entry and the
        contents of the network and of every file its specs name."""
        return fingerprint(self.record())


@dataclass(frozen=True)
class Manifest:
    name: str
    path: Path
    instances: tuple[Instance, ...]
    node_limit: int | None = None      # default budget of each solve (lipc bench --node-limit)
    rebuild: str | None = None         # the build command for the README (default: from path)
    origin: str = "manifest"           # what ``path`` is, for the README


def _err(path, msg) -> LipcError:
    return LipcError(f"bad manifest {path}: {msg}")


def _resolve_domain(spec: str, base: Path) -> str:
    """Make the .npy files named in a domain spec absolute (relative to the manifest)."""
    def fix(item: str) -> str:
        if item.lower().endswith(".npy") and not Path(item).is_absolute():
            return str((base / item).resolve())
        return item
    return ":".join(",".join(fix(i) for i in part.split(",")) for part in spec.split(":"))


def parse_random(spec: str) -> tuple[list[int], int]:
    """``random:SIZES:SEED`` -> (sizes, seed); LipcError when malformed."""
    parts = spec.split(":")
    try:
        if len(parts) != 3 or parts[0] != "random":
            raise ValueError
        sizes = [int(s) for s in re.split(r"[-,x]", parts[1])]
        seed = int(parts[2])
    except ValueError:
        raise LipcError(f"bad generator {spec!r}: expected random:SIZES:SEED, e.g. "
                        "random:3-6-6-2:1") from None
    if len(sizes) < 2 or min(sizes) < 1 or seed < 0:
        raise LipcError(f"bad generator {spec!r}: need at least two positive layer sizes and "
                        "a seed >= 0")
    return sizes, seed


def random_onnx_bytes(spec: str) -> bytes:
    """The ONNX file of ``random:SIZES:SEED`` (float64; deterministic bytes)."""

    sizes, seed = parse_random(spec)
    rng = np.random.default_rng(seed)
    Ws, bs = [], []
    for a, b in zip(sizes[:-1], sizes[1:]):
        s = 1 / np.sqrt(a)
        Ws.append(rng.uniform(-s, s, (b, a)))
        bs.append(rng.uniform(-s, s, b))
    return mlp_onnx_bytes(Ws, bs, producer="lipc.bench")


def random_file_name(spec: str) -> str:
    sizes, seed = parse_random(spec)
    return f"random_{'-'.join(map(str, sizes))}_s{seed}.onnx"


def parse_trained(spec: str) -> tuple[list[int], int, int, str, float]:
    """``trained:SIZES:SEED[:EPOCHS[:REGULARIZER[:STRENGTH]]]`` -> its parts; LipcError when
    malformed.  Defaults: 600 epochs, no regulariser, strength 0 (FGSM: the strength is eps)."""
    parts = spec.split(":")
    try:
        if not 3 <= len(parts) <= 6 or parts[0] != "trained":
            raise ValueError
        sizes, seed = parse_random(f"random:{parts[1]}:{parts[2]}")
        epochs = int(parts[3]) if len(parts) > 3 else 600
        reg = parts[4] if len(parts) > 4 else "none"
        strength = float(parts[5]) if len(parts) > 5 else (0.1 if reg == "fgsm" else 0.0)
    except (ValueError, LipcError):
        raise LipcError(f"bad generator {spec!r}: expected "
                        "trained:SIZES:SEED[:EPOCHS[:REGULARIZER[:STRENGTH]]], e.g. "
                        "trained:10-20-30-20-2:1:600:l2:0.001") from None
    if reg not in REGULARIZERS or epochs < 0 or not 0 <= strength < float("inf") or sizes[-1] < 2:
        raise LipcError(f"bad generator {spec!r}: regularizer one of {', '.join(REGULARIZERS)}, "
                        "epochs and strength >= 0, at least 2 outputs (classes)")
    return sizes, seed, epochs, reg, strength


def trained_onnx_bytes(spec: str) -> bytes:
    """A ReLU MLP trained (plain numpy, seeded: lipc.studies.training) on the synthetic cluster data
    set of the LipMIP paper's experiments, in [0,1]^d with the network's input size d."""
    sizes, seed, epochs, reg, strength = parse_trained(spec)
    X, y = synthetic_clusters(seed, dim=sizes[0])
    kw = dict(fgsm_eps=strength) if reg == "fgsm" else dict(strength=strength)
    Ws, bs = train_mlp(X, y, sizes, seed, epochs=epochs, regularizer=reg, **kw)
    return mlp_onnx_bytes(Ws, bs, producer="lipc.bench")


def trained_file_name(spec: str) -> str:
    sizes, seed, epochs, reg, strength = parse_trained(spec)
    tail = "" if reg == "none" else f"_{reg}{strength:g}"
    return f"trained_{'-'.join(map(str, sizes))}_s{seed}_e{epochs}{tail}.onnx"


# generator family -> (validate, ONNX bytes, file name), each taking the whole spec string
GENERATORS = {
    "random": (parse_random, random_onnx_bytes, random_file_name),
    "trained": (parse_trained, trained_onnx_bytes, trained_file_name),
}


def is_generated(network: str) -> bool:
    return network.split(":", 1)[0] in GENERATORS and ":" in network


def _family(spec: str):
    return GENERATORS[spec.split(":", 1)[0]]


def generated_onnx_bytes(spec: str) -> bytes:
    """The deterministic ONNX bytes of a generator spec such as ``random:3-6-6-2:1``."""
    return _family(spec)[1](spec)


def generated_file_name(spec: str) -> str:
    return _family(spec)[2](spec)


def read_toml(path: Path, what: str = "manifest") -> dict:
    """A TOML file's table; an unreadable or invalid file is a LipcError naming it (shared with
    lipc track's checkpoint manifests)."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as e:
        raise LipcError(f"cannot read {what} {path}: {e.strerror or e}") from e
    except tomllib.TOMLDecodeError as e:
        raise LipcError(f"bad {what} {path}: not valid TOML: {e}") from e


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest; every problem is a LipcError naming the file."""
    path = Path(path)
    data = read_toml(path)
    base = path.resolve().parent
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        raise _err(path, f"library name {name!r} must match {_NAME.pattern}")
    unknown = set(data) - {"name", "defaults", "instance", "node_limit"}
    if unknown:
        raise _err(path, f"unknown top-level keys {sorted(unknown)}")
    node_limit = data.get("node_limit")
    if node_limit is not None and (type(node_limit) is not int or node_limit < 1):
        raise _err(path, f"node_limit must be a positive integer, not {node_limit!r}")
    defaults = data.get("defaults", {})
    raw = data.get("instance", [])
    if not isinstance(defaults, dict) or not isinstance(raw, list) or not raw:
        raise _err(path, "expected a [defaults] table and at least one [[instance]]")
    if set(defaults) - (_KEYS - {"name"}):
        raise _err(path, f"unknown keys in [defaults]: {sorted(set(defaults) - _KEYS)}")
    out, seen = [], set()
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise _err(path, f"instance {i} is not a table")
        e = {**defaults, **entry}
        for mine, other in (("output", "output_norm"), ("output_norm", "output")):
            if mine in entry and other not in entry:    # the instance's choice beats a default
                e.pop(other, None)
        where = f"instance {i} ({e.get('name', '?')})"
        if set(e) - _KEYS:
            raise _err(path, f"{where}: unknown keys {sorted(set(e) - _KEYS)}")
        for key in ("name", "network", "domain"):
            if not isinstance(e.get(key), str) or not e[key]:
                raise _err(path, f"{where}: {key!r} (a string) is required")
        if not _NAME.match(e["name"]):
            raise _err(path, f"{where}: name must match {_NAME.pattern}")
        if e["name"] in seen:
            raise _err(path, f"duplicate instance name {e['name']!r}")
        seen.add(e["name"])
        if e.get("output") is not None and e.get("output_norm") is not None:
            raise _err(path, f"{where}: give output or output_norm, not both")
        for key in (*QUESTION_FIELDS, "formulation", "bounds"):
            if key in e and not isinstance(e[key], str):
                raise _err(path, f"{where}: {key!r} must be a string")
        if "passes" in e and not isinstance(e["passes"], bool):
            raise _err(path, f"{where}: 'passes' must be true or false")
        if e.get("formulation", "lipc") not in FORMULATIONS:
            raise _err(path, f"{where}: unknown formulation {e['formulation']!r}; "
                       f"choose from {', '.join(sorted(FORMULATIONS))}")
        if e.get("bounds", "auto") not in BOUND_METHODS:
            raise _err(path, f"{where}: unknown bounds {e['bounds']!r}; "
                       f"choose from {', '.join(sorted(BOUND_METHODS))}")
        net = e["network"]
        if is_generated(net):
            try:
                _family(net)[0](net)
            except LipcError as exc:
                raise _err(path, f"{where}: {exc}") from None
        else:
            p = (base / net).resolve()
            if not p.is_file():
                raise _err(path, f"{where}: network file {net!r} not found (relative to "
                           f"{base})")
            net = str(p)
        question = Question(**dict(question_fields(e),
                                   domain=_resolve_domain(e["domain"], base)))
        out.append(Instance(
            name=e["name"], network=net, question=question,
            formulation=e.get("formulation", "lipc"), bounds=e.get("bounds", "auto"),
            passes=e.get("passes", True)))
    return Manifest(name, path, tuple(out), node_limit)
