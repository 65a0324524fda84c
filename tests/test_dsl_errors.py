"""Errors in lipc programs point at the source: syntax errors with line, column, the line with a
caret and what was expected; name, shape and domain errors with the location of the expression."""
import numpy as np
import pytest

import lipc
from lipc.cli.main import main
from lipc.frontends.dsl import build
from lipc.errors import (DomainError, DSLError, DSLNameError, DSLShapeError, DSLSyntaxError,
                         LipcError, ShapeError)

HEAD = "input x[2] in box(-1, 1)\n"


def error_of(text: str, cls=LipcError, path="prog.lipc") -> LipcError:
    with pytest.raises(cls) as info:
        build(text, path)
    return info.value


@pytest.mark.parametrize("text, line, col, caret, expected", [
    (HEAD + "y = relu(x @ )\n", 2, 14, "             ^", ["'('", "a name", "a number"]),
    (HEAD + "y = x +* 2\n", 2, 8, "       ^", ["'('", "'-'", "a name"]),
    (HEAD + "y = 3 $ 4\n", 2, 7, "      ^", ["'+'", "'@'", "end of line"]),
    (HEAD + "lipschitz x[0] input\n", 2, 21, " " * 20 + "^", ["a norm (linf, l1, margin, ...)"]),
    ("input x[2.5]\n", 1, 10, "         ^^", ["','", "']'"]),
    (HEAD + "W = [[1, 2],\n     [3, 4]\n", 3, 12, "           ^", ["','", "']'"]),
    (HEAD + "lipschitz x[0] over\n", 2, 20, "                   ^", ["a name", "'('"]),
    (HEAD + "maximize x[0] input linf\n", 2, 15, "              ^^^^^", ["'over'", "end of line"]),
])
def test_syntax_errors(text, line, col, caret, expected):
    e = error_of(text, DSLSyntaxError)
    assert (e.line, e.column) == (line, col)
    lines = str(e).splitlines()
    assert lines[0].startswith(f"prog.lipc:{line}:{col}: syntax error: unexpected")
    assert lines[1].strip() == text.splitlines()[line - 1].strip()
    assert lines[2] == "    " + caret
    for want in expected:
        assert want in e.expected
    assert "expected" in lines[0]


def test_unexpected_token_names_the_token():
    e = error_of(HEAD + "y = relu(x @ )\n", DSLSyntaxError)
    assert "unexpected ')'" in str(e) and e.source_line == "y = relu(x @ )"


@pytest.mark.parametrize("body, cls, line, col, needle", [
    ("y = relu(z)", DSLNameError, 2, 10, "unknown name 'z'"),
    ("weight = 1\ny = relu(x) + wieght", DSLNameError, 3, 15, "did you mean 'weight'"),
    ("y = rel(x)", DSLNameError, 2, 5, "unknown function 'rel'"),
    ("y = x\ny = x", DSLNameError, 3, 1, "already defined (line 2)"),
    ("relu = 3", DSLNameError, 2, 1, "built-in function"),
    ("input z[2]", DSLError, 2, 1, "one input"),
    ("y = relu(x + [1, 2, 3])", DSLShapeError, 2, 10, "vector of size 2 and a vector of size 3"),
    ("y = [[1, 2, 3]] @ x", DSLShapeError, 2, 5, "shape mismatch in @"),
    ("y = x[5]", DSLShapeError, 2, 5, "index 5 is out of range for a vector of size 2"),
    ("y = x[0.5]", DSLShapeError, 2, 5, "must be an integer"),
    ("y = x * x", DSLError, 2, 5, "not piecewise linear"),
    ("y = [[1, 0], [0, 1]] * x", DSLShapeError, 2, 5, "use @"),
    ("y = x / 0", DSLError, 2, 5, "nonzero"),
    ("W = [[1, 2], [3]]", DSLShapeError, 2, 5, "same length"),
    ("lipschitz x", DSLShapeError, 2, 11, "give an output norm"),
    ("lipschitz x[0] input l2", LipcError, 2, 16, "no exact MIP encoding"),
    ("lipschitz x output margin:7", ShapeError, 2, 13, "out of range"),
    ("lipschitz x[0] input linf over box(0, 1) input l1", DSLError, 2, 42,
     "'input' is given twice"),
    ("maximize x", DSLShapeError, 2, 10, "needs a single number"),
    ("maximize x[0] over 3", DSLError, 2, 20, "expected a domain"),
    ("maximize x[0] over box(1, 0)", DomainError, 2, 20, "empty"),
    ("maximize x[0] over linf([0, 0, 0], 1)", ShapeError, 2, 20, "3 entries"),
    ("maximize x[0] over linf([0, 0], 1, top=2)", DSLError, 2, 20, "unexpected or repeated"),
    ("W = load(\"missing.npy\")", DSLError, 2, 5, "file not found: missing.npy"),
    ("f = onnx(\"nowhere.onnx\")", DSLError, 2, 5, "file not found"),
    ("y = max(x, x, x)", DSLError, 2, 5, "takes 1 to 2 arguments"),
    ("y = box(0, 1) + x", DSLError, 2, 5, "expected a number, vector or matrix"),
])
def test_located_errors(body, cls, line, col, needle):
    e = error_of(HEAD + body + "\n", cls)
    assert str(e).startswith(f"prog.lipc:{line}:{col}: "), str(e)
    assert needle in str(e) and "\n" not in str(e)


def test_error_attributes_and_classes():
    e = error_of(HEAD + "y = x + [1, 2, 3]\n", DSLShapeError)
    assert isinstance(e, ShapeError) and (e.path, e.line, e.column) == ("prog.lipc", 2, 5)
    e = error_of("input x[0]\n")
    assert "at least one entry" in str(e)
    e = error_of("lipschitz 1\n")
    assert "declares no input" in str(e)


def test_onnx_function_arity_and_size(examples, tmp_path):
    src = f'f = onnx("{examples / "toy_2_8_8_1.onnx"}")\ninput x[3]\ny = f(x)\n'
    e = error_of(src, DSLShapeError)
    assert str(e).startswith("prog.lipc:3:5") and "expects 2 inputs" in str(e)
    e = error_of(src.replace("f(x)", "f(x[0:2], x[2])"), DSLError)
    assert "takes one argument" in str(e)


def test_npz_needs_a_key(tmp_path):
    np.savez(tmp_path / "w.npz", A=np.eye(2), b=np.ones(2))
    (tmp_path / "p.lipc").write_text(HEAD + 'W = load("w.npz")\n')
    with pytest.raises(DSLError, match=r'p.lipc:2:5: .*holds the arrays A, b: name one'):
        lipc.frontends.dsl.load_program(tmp_path / "p.lipc")


def test_cli_multiline_syntax_error_and_one_line_others(tmp_path, capsys):
    p = tmp_path / "bad.lipc"
    p.write_text(HEAD + "h = relu(x\n")
    assert main(["show", str(p)]) == 2
    err = capsys.readouterr().err.rstrip("\n").splitlines()
    assert len(err) == 3 and err[0].startswith(f"lipc: error: {p}:2:11: syntax error")
    assert err[2].endswith("^") and "')'" in err[0]
    p.write_text(HEAD + "h = relu(y)\n")
    assert main(["show", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"lipc: error: {p}:2:10: unknown name 'y'"
    assert main(["show", str(tmp_path / "none.lipc")]) == 2
    assert "not found" in capsys.readouterr().err
