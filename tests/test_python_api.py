"""The Python API for models and questions held in memory (issue 17): every way of handing
lipc a network (weight arrays, an onnx.ModelProto, ONNX bytes, a gzip'd file, a torch module)
and a question (Domain objects, output as an int, a pair or an array) gives the same constant
as the file-and-string spelling, and that constant is the oracle's."""
import gzip
import re
import importlib.util

import numpy as np
import onnx
import pytest

import lipc
from lipc.emit import to_text
from lipc.frontends.onnx.writer import onnx_mlp
from oracle import lipschitz_many

RNG = np.random.default_rng(17)
# float64 weights that float32 cannot hold: an in-memory network must not round them
WS = [RNG.normal(size=(8, 3)), RNG.normal(size=(6, 8)), RNG.normal(size=(3, 6))]
BS = [RNG.normal(size=8) * 0.3, RNG.normal(size=6) * 0.3, RNG.normal(size=3)]
X0 = np.array([0.3, 0.5, 0.6])
C = np.array([1.0, -1.0, 0.0])           # f_0 - f_1


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    model = onnx_mlp(WS, BS, dtype=np.float64)
    path = folder / "net.onnx"
    onnx.save(model, str(path))
    (folder / "net.onnx.gz").write_bytes(gzip.compress(path.read_bytes()))
    np.save(folder / "x0.npy", X0)
    return folder, model


@pytest.fixture(scope="module")
def oracle_box():
    """f_0 - f_1 over the l_inf ball of radius 0.2 around X0 (inside [0, 1])."""
    return lipschitz_many(WS, BS, X0 - 0.2, X0 + 0.2, queries=[(C, "inf")])[0]


def _mip(net, domain, output=(0, 1)) -> str:
    """The compiled MIP as LP text: two spellings of one question must give the same file."""
    return to_text(lipc.compile(net, domain, output=output)[1].mip, "lp")


def _value(net, domain, output=(0, 1), norm="linf") -> float:
    res = lipc.solve(net, domain, output=output, input_norm=norm)
    assert res.status == "optimal", res.message
    return res.value


def test_every_model_form_gives_the_oracle_value(files, oracle_box):
    folder, model = files
    ref = _value(str(folder / "net.onnx"), f"linf:{folder / 'x0.npy'}:0.2", output="0-1")
    assert ref == pytest.approx(oracle_box, rel=1e-6)
    for net in (lipc.from_layers(list(zip(WS, BS))), model, model.SerializeToString(),
                folder / "net.onnx.gz", lipc.load(folder / "net.onnx.gz")):
        assert _value(net, lipc.LinfBall(X0, 0.2)) == ref, type(net)
    assert lipc.load(folder / "net.onnx.gz").name == lipc.load(folder / "net.onnx").name == "net"


def test_from_layers_keeps_float64_weights():
    net = lipc.from_layers(list(zip(WS, BS)))
    x = RNG.uniform(0, 1, (5, 3))
    h = x
    for W, b in zip(WS[:-1], BS[:-1]):
        h = np.maximum(h @ W.T + b, 0)
    want = h @ WS[-1].T + BS[-1]
    assert np.allclose(net.reference(x), want, rtol=1e-13, atol=1e-13)
    with pytest.raises(lipc.ShapeError, match="do not chain"):
        lipc.from_layers([(WS[0], BS[0]), (WS[0], BS[0])])


def test_output_forms_agree(files):
    folder, model = files
    net = lipc.load(model)
    for string, obj in (("0-1", (0, 1)), ("0-1", C), ("0-1", list(C)), ("2", 2),
                        ("1,-1,0", C)):
        assert _mip(net, "box:0:1", string) == _mip(net, lipc.Box(0, 1), obj), obj
    est = lipc.estimate(net, "box:0:1", output=(0, 1), method="naiveub")
    assert est.value == lipc.estimate(net, "box:0:1", output="0-1", method="naiveub").value
    for bad, err in (((0, 0), lipc.QueryError), ((0, 1, 2), lipc.QueryError),
                     (True, lipc.QueryError), (np.ones(2), lipc.ShapeError), (5, lipc.ShapeError)):
        with pytest.raises(err):
            lipc.compile(net, "box:0:1", output=bad)


def test_domain_objects_match_their_spellings(files):
    folder, model = files
    net = lipc.load(model)
    x0 = folder / "x0.npy"
    A = np.vstack([np.eye(3), -np.eye(3), [[1.0, 1.0, 1.0]]])
    b = np.concatenate([X0 + 0.3, 0.3 - X0, [1.4]])
    np.save(folder / "A.npy", A)
    np.save(folder / "b.npy", b)
    pairs = [("box:0.1:0.9", lipc.Box(0.1, 0.9)),
             (f"box:{x0}:0.9", lipc.Box(X0, 0.9)),
             (f"linf:{x0}:0.5:0:1", lipc.LinfBall(X0, 0.5)),
             (f"linf:{x0}:0.5", lipc.LinfBall(X0, 0.5, clip=None)),
             (f"l1:{x0}:0.4", lipc.L1Ball(X0, 0.4)),
             (f"l1:{x0}:0.4:0:1", lipc.L1Ball(X0, 0.4, clip=(0, 1))),
             (f"polytope:{folder / 'A.npy'},{folder / 'b.npy'}", lipc.Polytope(A, b))]
    for spec, dom in pairs:
        assert isinstance(dom, lipc.Domain)
        assert _mip(net, spec) == _mip(net, dom), spec
    with pytest.raises(lipc.ShapeError, match="2 coordinates"):
        lipc.solve(net, lipc.Box([0, 0], [1, 1]), output=0)
    with pytest.raises(lipc.DomainError):
        lipc.solve(net, object(), output=0)


def test_l1_ball_and_polytope_against_the_oracle(files):
    """An l1 ball is the polytope of its 2^d sign rows: the oracle checks both objects."""
    net = lipc.load(files[1])
    signs = np.array([[s0, s1, s2] for s0 in (1, -1) for s1 in (1, -1) for s2 in (1, -1)], float)
    want = lipschitz_many(WS, BS, np.zeros(3), np.ones(3), A=signs, b=0.4 + signs @ X0,
                          queries=[(C, "inf")])[0]
    assert _value(net, lipc.L1Ball(X0, 0.4, clip=(0, 1))) == pytest.approx(want, rel=1e-6)
    assert _value(net, lipc.Polytope(signs, 0.4 + signs @ X0, clip=(0, 1))) == \
        pytest.approx(want, rel=1e-6)


def test_keyword_only_after_the_domain(files):
    net = lipc.load(files[1])
    for fn in (lipc.solve, lipc.compile, lipc.estimate, lipc.compare):
        with pytest.raises(TypeError):
            fn(net, "box:0:1", "0-1")


def test_results_have_to_dict(files):

    net = lipc.load(files[1])
    small = lipc.LinfBall(X0, 0.05)
    results = [lipc.solve(net, small, output=C),
               lipc.estimate(net, small, output=C, method="naiveub"),
               lipc.compare(net, small, output=C, methods="naiveub,fastlip"),
               lipc.api.solve_range(net, small, output=C),
               lipc.certify(net, "linf:0.5:0.05")]
    for r in results:
        d = r.to_dict()
        assert isinstance(d, dict) and d
    assert "1.0, -1.0, 0.0" in results[0].to_dict()["output"]


def test_bad_models_are_lipc_errors(tmp_path):
    with pytest.raises(lipc.ModelError):
        lipc.load(b"not an onnx model")
    with pytest.raises(lipc.ModelError):
        lipc.load(3.5)
    (tmp_path / "bad.onnx.gz").write_bytes(b"not gzip")
    with pytest.raises(lipc.ModelError, match="decompress"):
        lipc.load(tmp_path / "bad.onnx.gz")


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="PyTorch is not installed: lipc.from_torch is optional")
def test_from_torch_matches_from_layers():
    import torch

    layers = []
    for W, b in zip(WS, BS):
        lin = torch.nn.Linear(W.shape[1], W.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.ReLU()]
    module = torch.nn.Sequential(*layers[:-1])
    net = lipc.from_torch(module, torch.zeros(1, 3, dtype=torch.float64))
    assert _mip(net, lipc.Box(0, 1)) == _mip(lipc.from_layers(list(zip(WS, BS))), lipc.Box(0, 1))


def test_from_torch_without_torch_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kw):
        if name == "torch":
            raise ImportError("no torch")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(lipc.LipcError, match="needs PyTorch"):
        lipc.from_torch(object(), None)


def test_domain_objects_pickle():
    """Batch runs send questions to worker processes: a domain object must pickle."""
    import pickle

    for dom in (lipc.Box(0, 1), lipc.LinfBall(0.5, 0.1), lipc.L1Ball(X0, 0.3, clip=(0, 1))):
        again = pickle.loads(pickle.dumps(dom))
        assert np.array_equal(again.fit(3).hi, dom.fit(3).hi)


def test_every_result_type_has_to_dict():
    """Each dataclass lipc returns as a result or report converts to plain data."""
    import dataclasses
    import importlib
    import pkgutil

    kinds = set()
    for info in pkgutil.walk_packages(lipc.__path__, "lipc."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (isinstance(obj, type) and dataclasses.is_dataclass(obj)
                    and obj.__module__ == info.name
                    and re.search(r"(Result|Report|Comparison)$", name)):
                kinds.add(obj)
                assert callable(getattr(obj, "to_dict", None)), f"{info.name}.{name}"
    assert len(kinds) >= 7, kinds
